// OpenTelemetry interop with the real SDK: a NodeTracerProvider with an in-memory exporter and the
// http and undici instrumentations, two loopback services (an edge running Bulwark's engine, a
// downstream), real fetch and node:http calls. The SDK's global registration and the
// instrumentations' patches are undone in afterAll (and vitest runs each file in its own worker),
// so nothing leaks into other test files.
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { context, propagation, type Span, trace } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getContext } from '../context/context.js';
import { runWithCorrelation } from '../context/job.js';
import { otelSpanEvents } from '../context/otel.js';
import { parseTraceparent } from '../context/trace.js';
import { createHttpEngine, type HttpEngine } from '../http/engine.js';
import type { Admission } from '../http/types.js';
import { logContext, pinoMixin } from '../logging/log-context.js';
import { createBulwark } from '../registry/bulwark.js';
import { enableFetchPropagation } from './fetch.js';
import { outgoingHeaders } from './headers.js';
import { propagatingAgent, withPropagation } from './http.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const httpInstrumentation = new HttpInstrumentation();
const undiciInstrumentation = new UndiciInstrumentation();
const tracer = () => trace.getTracer('bulwark-otel-test');

interface Seen {
  traceparents: string[];
  headers: http.IncomingHttpHeaders;
}

/** A loopback server; `handler` runs in the request's OTel context (the http instrumentation's server span). */
async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 50;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let downstream: Awaited<ReturnType<typeof serve>>;
let seen: Seen[] = [];
let failNext = 0;

beforeAll(async () => {
  provider.register();
  httpInstrumentation.setTracerProvider(provider);
  undiciInstrumentation.setTracerProvider(provider);
  httpInstrumentation.enable();
  undiciInstrumentation.enable();
  // The http instrumentation patches node:http when it is required after enable() (ESM imports do
  // not go through require): require it once so the patch applies to the shared module object.
  createRequire(import.meta.url)('node:http');
  downstream = await serve((req, res) => {
    const traceparents: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]?.toLowerCase() === 'traceparent')
        traceparents.push(req.rawHeaders[i + 1] as string);
    }
    seen.push({ traceparents, headers: req.headers });
    req.resume();
    if (failNext > 0) {
      failNext--;
      res.statusCode = 503;
    }
    res.end('ok');
  });
});

afterAll(async () => {
  await downstream.close();
  httpInstrumentation.disable();
  undiciInstrumentation.disable();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

beforeEach(() => {
  seen = [];
  failNext = 0;
  exporter.reset();
});

/** Serves one request through Bulwark's engine on a fresh edge server; returns what `work` returned. */
async function throughEdge<T>(
  work: (admission: Admission) => Promise<T>,
  options: { engine?: HttpEngine; headers?: Record<string, string> } = {},
): Promise<{ result: T; responseHeaders: http.IncomingHttpHeaders; serverSpan: ReadableSpan }> {
  const engine = options.engine ?? createHttpEngine();
  let result: T | undefined;
  const edge = await serve((req, res) => {
    const admission = engine.admit({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
    });
    const a = admission instanceof Promise ? undefined : admission;
    if (a === undefined) throw new Error('expected an immediate admission');
    for (let i = 0; i < a.headers.length; i += 2)
      res.setHeader(a.headers[i] as string, a.headers[i + 1] as string);
    engine.run(a, async () => {
      result = await work(a);
      res.end('done');
      a.release();
    });
  });
  // The test's own request is made with tracing suppressed, so the http instrumentation neither
  // starts a client span nor injects a traceparent: the edge is an edge (or gets only ours).
  const res = await context.with(
    suppressTracing(context.active()),
    () =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${edge.url}/orders`, { headers: options.headers ?? {} }, resolve).on('error', reject);
      }),
  );
  res.resume();
  await new Promise((r) => res.on('end', r));
  await edge.close();
  const serverSpan = exporter
    .getFinishedSpans()
    .find((s) => s.kind === 1 && s.attributes['url.path'] === '/orders') as ReadableSpan;
  expect(serverSpan, 'the edge server span').toBeDefined();
  return { result: result as T, responseHeaders: res.headers, serverSpan };
}

/** The downstream's server spans. */
const downstreamSpans = () =>
  exporter.getFinishedSpans().filter((s) => s.kind === 1 && s.attributes['url.path'] !== '/orders');

describe('OpenTelemetry active: its span is the trace', () => {
  it('at an edge without an incoming traceparent, Bulwark’s trace and span ids are OTel’s', async () => {
    const { result, serverSpan } = await throughEdge(async (a) => ({
      ...a.context.trace,
      log: logContext(),
    }));
    expect(result.traceId).toBe(serverSpan.spanContext().traceId);
    expect(result.spanId).toBe(serverSpan.spanContext().spanId);
    expect(result.log).toMatchObject({ traceId: result.traceId, spanId: result.spanId });
  });

  it('continues an incoming traceparent the way OTel does, and traceresponse carries OTel’s ids', async () => {
    const incoming = `00-${'4b'.repeat(16)}-${'00f067aa0ba902b7'}-01`;
    const engine = createHttpEngine({ traceResponse: true });
    const { result, responseHeaders, serverSpan } = await throughEdge(async (a) => a.context.trace, {
      engine,
      headers: { traceparent: incoming },
    });
    expect(serverSpan.spanContext().traceId).toBe('4b'.repeat(16));
    expect(result).toMatchObject({
      traceId: '4b'.repeat(16),
      spanId: serverSpan.spanContext().spanId,
      parentId: '00f067aa0ba902b7',
      flags: 1,
    });
    expect(responseHeaders.traceresponse).toBe(`00-${'4b'.repeat(16)}-${serverSpan.spanContext().spanId}-01`);
  });

  it('bulwark.fetch: exactly one traceparent, and the downstream continues the caller’s trace', async () => {
    const bw = createBulwark({ policies: { inventory: { timeout: '2s' } } });
    const { serverSpan } = await throughEdge(async () => {
      const res = await bw.fetch('inventory', `${downstream.url}/items/1`);
      await res.text();
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.traceparents).toHaveLength(1);
    expect(seen[0]?.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const sent = parseTraceparent(seen[0]?.traceparents[0]);
    expect(sent?.traceId).toBe(serverSpan.spanContext().traceId);
    const [down] = downstreamSpans();
    expect(down?.spanContext().traceId).toBe(serverSpan.spanContext().traceId);
    // The parent the downstream sees is the undici client span, a child of the edge's server span.
    const client = exporter.getFinishedSpans().find((s) => s.spanContext().spanId === sent?.parentId);
    expect(client?.kind).toBe(2);
    expect(client?.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);
  });

  it('enableFetchPropagation after the SDK started: one traceparent, Bulwark’s other headers', async () => {
    const sub = enableFetchPropagation();
    try {
      await throughEdge(async () => (await fetch(`${downstream.url}/a`)).text());
    } finally {
      sub.dispose();
    }
    expect(seen[0]?.traceparents).toHaveLength(1);
    expect(seen[0]?.headers['x-request-id']).toBeDefined();
    expect(downstreamSpans()[0]?.spanContext().traceId).toBe(
      parseTraceparent(seen[0]?.traceparents[0])?.traceId,
    );
  });

  it('enableFetchPropagation before the SDK started: still one traceparent, the instrumentation’s', async () => {
    undiciInstrumentation.disable();
    const sub = enableFetchPropagation();
    undiciInstrumentation.enable(); // subscribes after Bulwark's subscriber now
    try {
      await throughEdge(async () => (await fetch(`${downstream.url}/b`)).text());
    } finally {
      sub.dispose();
    }
    expect(seen[0]?.traceparents).toHaveLength(1);
    const sent = parseTraceparent(seen[0]?.traceparents[0]);
    const client = exporter.getFinishedSpans().find((s) => s.spanContext().spanId === sent?.parentId);
    expect(client?.kind).toBe(2); // the undici instrumentation's client span, not a Bulwark id
  });

  it('without the undici instrumentation, enableFetchPropagation injects through propagation.inject', async () => {
    undiciInstrumentation.disable();
    const sub = enableFetchPropagation();
    try {
      const { serverSpan } = await throughEdge(async () => (await fetch(`${downstream.url}/c`)).text());
      expect(seen[0]?.traceparents).toHaveLength(1);
      const sent = parseTraceparent(seen[0]?.traceparents[0]);
      expect(sent).toMatchObject({
        traceId: serverSpan.spanContext().traceId,
        parentId: serverSpan.spanContext().spanId,
      });
      expect(downstreamSpans()[0]?.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);
    } finally {
      sub.dispose();
      undiciInstrumentation.enable();
    }
  });

  it('outgoingHeaders leaves traceparent to OTel; a manual fetch with it carries one', async () => {
    const { result } = await throughEdge(async () => {
      const h = outgoingHeaders();
      await (await fetch(`${downstream.url}/d`, { headers: h })).text();
      return h;
    });
    expect(result.traceparent).toBeUndefined();
    expect(result['x-request-id']).toBeDefined();
    expect(seen[0]?.traceparents).toHaveLength(1);
  });

  it('node:http (withPropagation, propagatingAgent): one traceparent each', async () => {
    const agent = propagatingAgent();
    const get = (options: http.RequestOptions) =>
      new Promise<void>((resolve, reject) => {
        http.get(options, (r) => r.resume().on('end', resolve)).on('error', reject);
      });
    const port = Number(new URL(downstream.url).port);
    await throughEdge(async () => {
      await get(withPropagation({ host: '127.0.0.1', port, path: '/e' }));
      await get({ host: '127.0.0.1', port, path: '/f', agent });
    });
    agent.destroy();
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s.traceparents).toHaveLength(1);
      expect(s.headers['x-request-id']).toBeDefined();
    }
  });
});

describe('OpenTelemetry SDK registered, no active span (a job, an ignored request)', () => {
  it('enableFetchPropagation and bulwark.fetch still send exactly one traceparent', async () => {
    const bw = createBulwark({ policies: { inventory: { timeout: '2s' } } });
    const sub = enableFetchPropagation();
    try {
      await runWithCorrelation('job-7', async () => {
        expect(trace.getActiveSpan()).toBeUndefined();
        await (await fetch(`${downstream.url}/j1`)).text();
        await (await bw.fetch('inventory', `${downstream.url}/j2`)).text();
      });
      sub.dispose();
      await runWithCorrelation('job-8', async () => {
        await (await bw.fetch('inventory', `${downstream.url}/j3`)).text();
      });
    } finally {
      sub.dispose();
    }
    expect(seen).toHaveLength(3);
    for (const s of seen) {
      expect(s.traceparents).toHaveLength(1);
      expect(s.headers['x-request-id']).toMatch(/^job-[78]$/);
    }
  });

  it('node:http: one traceparent, Bulwark’s own when no instrumentation injects one', async () => {
    httpInstrumentation.disable();
    try {
      const port = Number(new URL(downstream.url).port);
      const trace0 = await runWithCorrelation('job-9', async (ctx) => {
        await new Promise<void>((resolve, reject) => {
          http
            .get(withPropagation({ host: '127.0.0.1', port, path: '/j4' }), (r) =>
              r.resume().on('end', resolve),
            )
            .on('error', reject);
        });
        return ctx.trace.traceId;
      });
      expect(seen[0]?.traceparents).toHaveLength(1);
      expect(parseTraceparent(seen[0]?.traceparents[0])?.traceId).toBe(trace0);
    } finally {
      httpInstrumentation.enable();
    }
  });
});

describe('OpenTelemetry active: policies’ events become span events', () => {
  const eventsOf = (span: ReadableSpan) => span.events.map((e) => e.name);

  it('retry scheduled on the request’s span, through bulwark.fetch', async () => {
    const bw = createBulwark({
      policies: { flaky: { retry: { maxAttempts: 3, initialDelay: 1, jitter: 'none' } } },
    });
    failNext = 1;
    const { serverSpan } = await throughEdge(async () =>
      (await bw.fetch('flaky', `${downstream.url}/g`)).text(),
    );
    const event = serverSpan.events.find((e) => e.name === 'bulwark.retry.scheduled');
    expect(event?.attributes).toMatchObject({
      'bulwark.policy': 'flaky',
      'bulwark.attempt': 2,
      'bulwark.delay_ms': 1,
    });
    expect(event?.attributes?.['error.type']).toBe('DOWNSTREAM_ERROR');
    // Never the key or the correlation ID.
    expect(Object.keys(event?.attributes ?? {})).not.toContain('bulwark.key');
    expect(Object.keys(event?.attributes ?? {})).not.toContain('bulwark.correlationId');
  });

  it('breaker rejected, timeout and fallback used, on the active span', async () => {
    expect(otelSpanEvents(true)).toBe(true);
    const bw = createBulwark({
      policies: {
        slow: { timeout: '5ms' },
        fragile: { circuitBreaker: { failureThreshold: 1 } },
        safe: { fallback: { value: 'cached' } },
      },
    });
    const span = await tracer().startActiveSpan('job', async (s: Span) => {
      await bw
        .run(
          'slow',
          (signal) => new Promise((_r, j) => signal.addEventListener('abort', () => j(signal.reason))),
        )
        .catch(() => {});
      await bw.run('fragile', () => Promise.reject(new Error('down'))).catch(() => {});
      await bw.run('fragile', () => Promise.resolve(1)).catch(() => {});
      expect(await bw.run('safe', () => Promise.reject(new Error('down')))).toBe('cached');
      s.end();
      return s;
    });
    const done = exporter
      .getFinishedSpans()
      .find((s) => s.spanContext().spanId === span.spanContext().spanId);
    expect(eventsOf(done as ReadableSpan)).toEqual(
      expect.arrayContaining(['bulwark.timeout', 'bulwark.breaker.rejected', 'bulwark.fallback.used']),
    );
    const timeoutEvent = done?.events.find((e) => e.name === 'bulwark.timeout');
    expect(timeoutEvent?.attributes).toMatchObject({
      'bulwark.policy': 'slow',
      'bulwark.timeout_ms': 5,
      'bulwark.kind': 'total',
    });
  });

  it('records nothing once turned off', async () => {
    otelSpanEvents(false);
    const bw = createBulwark({ policies: { safe: { fallback: { value: 1 } } } });
    const span = await tracer().startActiveSpan('off', async (s: Span) => {
      await bw.run('safe', () => Promise.reject(new Error('x')));
      s.end();
      return s;
    });
    const done = exporter
      .getFinishedSpans()
      .find((s) => s.spanContext().spanId === span.spanContext().spanId);
    expect(done?.events).toEqual([]);
    otelSpanEvents(true);
  });
});

describe('OpenTelemetry active: logs', () => {
  // What OTel's log correlation (instrumentation-pino) writes on each line: the ids of the span
  // active when the line is written. It combines its mixin with the app's, the app's last.
  const otelLogFields = () => {
    const sc = trace.getActiveSpan()?.spanContext();
    return sc
      ? { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: `0${sc.traceFlags.toString(16)}` }
      : {};
  };

  it('pinoMixin with OTel’s key names does not overwrite OTel’s own log fields', async () => {
    const lines: Record<string, string>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const ours = pinoMixin({ traceId: 'trace_id', spanId: 'span_id' });
    const logger = pino({ mixin: () => ({ ...otelLogFields(), ...ours() }) }, sink);
    await throughEdge(async () => {
      logger.info('in the request');
      await tracer().startActiveSpan('db query', async (child: Span) => {
        logger.info('in a child span');
        child.end();
      });
    });
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    const child = exporter.getFinishedSpans().find((s) => s.name === 'db query') as ReadableSpan;
    expect(lines[1]).toMatchObject({
      trace_id: child.spanContext().traceId,
      span_id: child.spanContext().spanId,
    });
    expect(lines[0]?.span_id).toBe(child.parentSpanContext?.spanId);
  });
});

describe('OpenTelemetry SDK registered: jobs', () => {
  it('a job outside any span keeps Bulwark’s own ids; outgoingHeaders leaves traceparent to OTel', () => {
    const h = runWithCorrelation('job-1', () => {
      expect(trace.getActiveSpan()).toBeUndefined();
      return { out: outgoingHeaders(), trace: getContext()?.trace, log: logContext() };
    });
    expect(h.trace?.flags).toBe(0x02);
    expect(h.log).toMatchObject({ correlationId: 'job-1', traceId: h.trace?.traceId });
    expect(h.out).toEqual({ 'x-request-id': 'job-1' });
  });

  it('a job inside a span takes the span’s trace', async () => {
    await tracer().startActiveSpan('cron', async (s: Span) => {
      const t = runWithCorrelation('cron-1', (c) => c.trace);
      expect(t.traceId).toBe(s.spanContext().traceId);
      expect(t.spanId).toBe(s.spanContext().spanId);
      s.end();
    });
  });
});
