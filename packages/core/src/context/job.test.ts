import { describe, expect, it } from 'vitest';
import { outgoingHeaders } from '../propagation/headers.js';
import { getContext } from './context.js';
import { runWithCorrelation } from './job.js';
import { parseTraceparent } from './trace.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('runWithCorrelation', () => {
  it('runs a job under the given ID, visible across async hops and in outgoing headers', async () => {
    const seen = await runWithCorrelation('job-42', async (ctx) => {
      await new Promise((r) => setTimeout(r, 1));
      return { fromArg: ctx.correlationId, fromStore: getContext()?.correlationId, out: outgoingHeaders() };
    });
    expect(seen.fromArg).toBe('job-42');
    expect(seen.fromStore).toBe('job-42');
    expect(seen.out['x-request-id']).toBe('job-42');
    expect(parseTraceparent(seen.out.traceparent)?.flags).toBe(0x02);
    expect(getContext()).toBeUndefined();
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['CRLF injection', 'a\r\nset-cookie: x=1'],
    ['a space', 'a b'],
    ['not a string', 42],
  ])('replaces a %s ID with a fresh one, validated like an incoming ID', (_name, id) => {
    expect(runWithCorrelation(id, (ctx) => ctx.correlationId)).toMatch(UUID);
  });

  it('uses `generate` for a fresh ID, and still validates what it makes', () => {
    expect(runWithCorrelation(undefined, (c) => c.correlationId, { generate: () => 'cron-nightly-1' })).toBe(
      'cron-nightly-1',
    );
    expect(runWithCorrelation(undefined, (c) => c.correlationId, { generate: () => 'bad id' })).toMatch(UUID);
    const throwing = () => {
      throw new Error('x');
    };
    expect(runWithCorrelation(undefined, (c) => c.correlationId, { generate: throwing })).toMatch(UUID);
  });

  it('continues a trace that came with the job, and keeps concurrent jobs apart', async () => {
    const tp = `00-${'4'.repeat(32)}-${'5'.repeat(16)}-01`;
    const t = runWithCorrelation('m-1', (c) => c.trace, { traceparent: tp, tracestate: 'a=1' });
    expect(t).toMatchObject({
      traceId: '4'.repeat(32),
      parentId: '5'.repeat(16),
      flags: 1,
      tracestate: 'a=1',
    });
    const one = (id: string, ms: number) =>
      runWithCorrelation(id, async () => {
        await new Promise((r) => setTimeout(r, ms));
        return getContext()?.correlationId;
      });
    expect(await Promise.all([one('a', 5), one('b', 1)])).toEqual(['a', 'b']);
  });

  it('rejects a missing function', () => {
    expect(() => runWithCorrelation('x', undefined as never)).toThrow(/`fn`/);
  });
});
