// npm run bench:propagation — what automatic fetch propagation (the undici:request:create
// subscriber) costs per call: loopback fetches inside a request context, with and without
// enableFetchPropagation, sequential and 32 at a time. Rounds alternate the two cases (and their
// order) so drift on a shared machine hits both alike; medians per case, ratio with/without.
// Also the cost of building the headers alone. Target: ≤ 5% overhead on a loopback fetch.
// Last, with the OpenTelemetry SDK active (NodeTracerProvider, the undici and http
// instrumentations, spans exported to a counting no-op exporter): fetches inside an active span,
// OTel alone against OTel plus Bulwark (a request context and enableFetchPropagation), alternating
// rounds in the same run. Target: Bulwark adds ≤ 5% per outgoing request over OTel alone.
// Prints tables, writes bench/results/propagation.json. Run on the built package (npm run build first).

import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import { createRequire } from 'node:module';
import { enableFetchPropagation, outgoingHeaders, runWithContext } from '../packages/core/dist/index.js';
import { compare, median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
// Many short rounds rather than a few long ones: a loaded machine's drift then hits both cases alike.
const rounds = quick ? 5 : 25;
const sequential = quick ? 200 : 400;
const batches = quick ? 10 : 40;
const width = 32;

let propagated = 0;
let plain = 0;
let doubled = 0;
const server = http.createServer((req, res) => {
  if (req.headers['x-request-id'] === undefined) plain++;
  else propagated++;
  let traceparents = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === 'traceparent') traceparents++;
  }
  if (traceparents > 1) doubled++;
  res.setHeader('content-length', '2');
  res.end('ok');
});
server.keepAliveTimeout = 60_000;
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

const ctx = () => ({
  correlationId: 'bench-correlation-id',
  trace: {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    parentId: 'c'.repeat(16),
    flags: 1,
    tracestate: 'v=1',
  },
  criticality: 'default',
  degraded: [],
  // An hour: far enough that no measurement ever runs with a spent budget (that path builds an error).
  deadline: Date.now() + 3_600_000,
});

async function one() {
  const res = await fetch(url);
  await res.arrayBuffer();
}

/** ns per fetch for `n` sequential fetches inside one request context. */
function runSequential(n) {
  return runWithContext(ctx(), async () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await one();
    return Number(process.hrtime.bigint() - t0) / n;
  });
}

/** ns per fetch for `b` batches of `width` concurrent fetches, each batch in its own context. */
async function runConcurrent(b) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < b; i++) {
    await runWithContext(ctx(), () => Promise.all(Array.from({ length: width }, one)));
  }
  return Number(process.hrtime.bigint() - t0) / (b * width);
}

/** One measurement with or without the subscriber. */
async function measure(withPropagation, fn) {
  const handle = withPropagation ? enableFetchPropagation() : undefined;
  try {
    return await fn();
  } finally {
    handle?.dispose();
  }
}

async function scenario(name, fn, labels = ['without', 'with']) {
  // Warm up both paths (JIT, keep-alive sockets).
  await measure(false, () => fn(true, false));
  await measure(true, () => fn(true, true));
  const off = [];
  const on = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which case goes first in each round.
    if (r % 2 === 0) {
      off.push(await measure(false, () => fn(false, false)));
      on.push(await measure(true, () => fn(false, true)));
    } else {
      on.push(await measure(true, () => fn(false, true)));
      off.push(await measure(false, () => fn(false, false)));
    }
  }
  const offMed = median(off);
  const onMed = median(on);
  // Ratio per round too: each pair ran back to back, so it is the least noisy estimate.
  const ratios = on.map((v, i) => v / off[i]);
  return {
    scenario: name,
    [`${labels[0]} (µs/fetch)`]: (offMed / 1000).toFixed(1),
    [`${labels[1]} (µs/fetch)`]: (onMed / 1000).toFixed(1),
    'ratio of medians': (onMed / offMed).toFixed(3),
    'median paired ratio': median(ratios).toFixed(3),
    'overhead %': ((median(ratios) - 1) * 100).toFixed(1),
  };
}

const rows = [
  await scenario('sequential', (warm) => runSequential(warm ? 1_000 : sequential)),
  await scenario(`concurrent x${width}`, (warm) => runConcurrent(warm ? 40 : batches)),
];
table(`fetch over loopback, ${rounds} alternating rounds (median)`, rows);

// The header work alone, per call.
const c = ctx();
const [headers] = await compare(
  [{ name: 'outgoingHeaders()', fn: () => runWithContext(c, () => outgoingHeaders()) }],
  {
    iterations: quick ? 20_000 : 200_000,
    rounds: quick ? 3 : 7,
    warmup: 20_000,
  },
);
// The CPU the subscriber adds to one fetch, measured without the network: publish a request
// shaped like undici's on the channel, with and without the subscriber. Noise-free, unlike the
// loopback ratio, so it bounds the real overhead: added ns / ns per fetch.
const channel = diagnostics.channel('undici:request:create');
const undiciHeaders = [
  'accept',
  '*/*',
  'accept-language',
  '*',
  'sec-fetch-mode',
  'cors',
  'user-agent',
  'node',
];
const fakeRequest = () => {
  const h = undiciHeaders.slice();
  return {
    origin: 'http://127.0.0.1:1',
    path: '/',
    method: 'GET',
    headers: h,
    addHeader: (k, v) => h.push(k, v),
  };
};
const publish = () => runWithContext(c, () => channel.publish({ request: fakeRequest() }));
const subscribed = enableFetchPropagation();
const [withSub] = await compare([{ name: 'publish, subscribed', fn: publish }], {
  iterations: 100_000,
  rounds: 5,
});
subscribed.dispose();
const [withoutSub] = await compare([{ name: 'publish, none', fn: publish }], {
  iterations: 100_000,
  rounds: 5,
});
const addedNs = withSub.nsPerCall - withoutSub.nsPerCall;
const fetchNs = Number(rows[0]['without (µs/fetch)']) * 1000;
table('building the headers, and the CPU the subscriber adds per fetch', [
  { case: headers.name, 'ns/call': headers.nsPerCall.toFixed(0), 'share of a sequential fetch': '' },
  {
    case: 'undici:request:create subscriber',
    'ns/call': addedNs.toFixed(0),
    'share of a sequential fetch': `${((addedNs / fetchNs) * 100).toFixed(2)} %`,
  },
]);
console.log(`\nsanity: ${propagated} requests carried the headers, ${plain} did not`);

// --- With the OpenTelemetry SDK active. Enabled last: the instrumentations patch node:http and
// subscribe to undici's channels for the rest of the process.
const api = await import('@opentelemetry/api');
const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
let exportedSpans = 0;
const discard = {
  export(spans, done) {
    exportedSpans += spans.length;
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(discard)] });
provider.register();
const instrumentations = [new UndiciInstrumentation(), new HttpInstrumentation()];
for (const i of instrumentations) {
  i.setTracerProvider(provider);
  i.enable();
}
createRequire(import.meta.url)('node:http'); // the http instrumentation patches on require
const tracer = api.trace.getTracer('bench');
const propagatedBefore = propagated;
doubled = 0;

/** `run` inside an active span (the request's server span), and with Bulwark's context when `bulwark`. */
const inSpan = (bulwark, run) =>
  tracer.startActiveSpan('request', async (span) => {
    try {
      return bulwark ? await runWithContext(ctx(), run) : await run();
    } finally {
      span.end();
    }
  });

const otelSequential = (n, bulwark) =>
  inSpan(bulwark, async () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await one();
    return Number(process.hrtime.bigint() - t0) / n;
  });

async function otelConcurrent(b, bulwark) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < b; i++) await inSpan(bulwark, () => Promise.all(Array.from({ length: width }, one)));
  return Number(process.hrtime.bigint() - t0) / (b * width);
}

const labels = ['OTel alone', 'OTel + Bulwark'];
const otelRows = [
  await scenario('sequential, OTel SDK', (warm, b) => otelSequential(warm ? 1_000 : sequential, b), labels),
  await scenario(
    `concurrent x${width}, OTel SDK`,
    (warm, b) => otelConcurrent(warm ? 40 : batches, b),
    labels,
  ),
];
table(
  `fetch over loopback with the OpenTelemetry SDK (undici + http instrumentations), ${rounds} alternating rounds (median); target overhead ≤ 5 %`,
  otelRows,
);
// The CPU Bulwark adds to one fetch with OTel active, without the network: publish an
// undici-shaped request inside an active span, the undici instrumentation and Bulwark's subscriber
// subscribed in both cases; Bulwark's request context only in one (outside it, the subscriber
// returns after one AsyncLocalStorage read). compare() alternates the two cases in every round.
// The instrumentation's spans for these fake requests are never ended, so never exported.
const otelPublish = (bulwark) => () =>
  tracer.startActiveSpan('publish', (span) => {
    if (bulwark) runWithContext(c, () => channel.publish({ request: fakeRequest() }));
    else channel.publish({ request: fakeRequest() });
    span.end();
  });
const otelSub = enableFetchPropagation();
const [otelWithout, otelWith] = await compare(
  [
    { name: 'OTel alone', fn: otelPublish(false) },
    { name: 'OTel + Bulwark', fn: otelPublish(true) },
  ],
  { iterations: quick ? 5_000 : 20_000, rounds: quick ? 5 : 9, warmup: 5_000 },
);
otelSub.dispose();
const otelAddedNs = otelWith.nsPerCall - otelWithout.nsPerCall;
const otelFetchNs = Number(otelRows[0]['OTel alone (µs/fetch)']) * 1000;
table('the CPU Bulwark adds per fetch with OTel active (request context + subscriber), without the network', [
  {
    case: 'OTel alone: span + undici instrumentation',
    'ns/call': otelWithout.nsPerCall.toFixed(0),
    'share of a sequential OTel fetch': '',
  },
  {
    case: 'added by Bulwark',
    'ns/call': otelAddedNs.toFixed(0),
    'share of a sequential OTel fetch': `${((otelAddedNs / otelFetchNs) * 100).toFixed(2)} %`,
  },
]);
console.log(
  `sanity: ${propagated - propagatedBefore} requests carried Bulwark's headers, ${doubled} carried two traceparents, ${exportedSpans} spans exported`,
);
for (const i of instrumentations) i.disable();
await provider.shutdown();

server.closeAllConnections();
server.close();
save('propagation', {
  rounds,
  sequential,
  batches,
  width,
  fetch: rows,
  otel: otelRows,
  otelDoubledTraceparents: doubled,
  otelAddedNsPerFetch: otelAddedNs,
  headersNsPerCall: headers.nsPerCall,
  propagated,
  plain,
});
