import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { runWithContext } from '../context/context.js';
import { testContext } from '../propagation/testing.test-helper.js';
import { logContext, pinoMixin } from './log-context.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

describe('logContext', () => {
  it('is empty outside a request and carries the ids inside one', () => {
    expect(logContext()).toEqual({});
    expect(runWithContext(testContext(), () => logContext())).toEqual({
      correlationId: 'corr-123',
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
    });
  });
});

describe('pinoMixin', () => {
  it('adds the ids to every line logged inside a request, across awaits, and nothing outside', async () => {
    const { stream, lines } = capture();
    const logger = pino({ mixin: pinoMixin(), base: undefined, timestamp: false }, stream);
    await runWithContext(testContext(), async () => {
      logger.info('before');
      await new Promise((r) => setImmediate(r));
      logger.child({ module: 'orders' }).warn({ orderId: 7 }, 'after');
    });
    logger.info('outside');
    const [before, after, outside] = lines();
    expect(before).toMatchObject({
      msg: 'before',
      correlationId: 'corr-123',
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
    });
    expect(after).toMatchObject({ msg: 'after', module: 'orders', orderId: 7, correlationId: 'corr-123' });
    expect(outside).toEqual({ level: 30, msg: 'outside' });
  });

  it('renames the fields on request, and validates the names', () => {
    const { stream, lines } = capture();
    const logger = pino(
      { mixin: pinoMixin({ traceId: 'trace_id', spanId: 'span_id' }), base: undefined },
      stream,
    );
    runWithContext(testContext(), () => logger.info('x'));
    expect(lines()[0]).toMatchObject({
      correlationId: 'corr-123',
      trace_id: 'a'.repeat(32),
      span_id: 'b'.repeat(16),
    });
    expect(() => pinoMixin({ spanId: '' })).toThrow(/keys.spanId/);
  });
});
