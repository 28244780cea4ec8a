import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { BulwarkError, isCircuitOpenError, isRetryExhaustedError } from '../errors/bulwark-error.js';
import { createBulwark } from '../registry/bulwark.js';
import type { BulwarkConfig } from '../registry/config.js';
import { memoryRecords } from '../stores/records.js';
import type { BulwarkEvent } from '../telemetry/events.js';
import { deadLetterIdOf, isDeadLettered } from './dead-letter-errors.js';

const fail =
  (message = 'down') =>
  () => {
    throw new Error(message);
  };
const closers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c.close()));
});

function make(config: BulwarkConfig, env: Record<string, string> = {}) {
  const b = createBulwark({ records: memoryRecords(), ...config }, { env, file: false });
  closers.push(b);
  return b;
}

describe("a policy's deadLetter option", () => {
  it('queues a call that still fails after its retries, with its payload; the error carries the id', async () => {
    const b = make({
      policies: {
        'orders-api': {
          deadLetter: 'orders.sync',
          retry: { maxAttempts: 2, initialDelay: 1, jitter: 'none' },
        },
      },
    });
    let calls = 0;
    const err = await b
      .run(
        'orders-api',
        () => {
          calls++;
          throw new Error('ECONNRESET');
        },
        { payload: { orderId: 'o-1' }, key: 'tenant-a' },
      )
      .catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(isRetryExhaustedError(err)).toBe(true);
    const id = deadLetterIdOf(err) as string;
    expect(id).toMatch(/^dl-/);
    expect((err as BulwarkError).deadLetterId).toBe(id);
    expect(JSON.parse(JSON.stringify({ ...(err as object) })).deadLetterId).toBe(id);
    expect(await b.deadLetters.get(id)).toMatchObject({
      type: 'orders.sync',
      status: 'pending',
      payload: { orderId: 'o-1' },
      context: { policy: 'orders-api', key: 'tenant-a' },
      error: { code: 'RETRY_EXHAUSTED', category: 'transient', cause: 'ECONNRESET' },
    });
  });

  it('queues a bulwark.fetch that still fails, with the payload given in its init (never sent)', async () => {
    const b = make({ policies: { hooks: { deadLetter: 'hooks.deliver' } } });
    const payload = { url: 'http://127.0.0.1:1/hook', body: { event: 'paid' } };
    const err = await b.fetch('hooks', payload.url, { method: 'POST', payload }).catch((e: unknown) => e);
    const entry = await b.deadLetters.get(deadLetterIdOf(err) as string);
    expect(entry).toMatchObject({ type: 'hooks.deliver', payload, context: { policy: 'hooks' } });
  });

  it('queues nothing when the fallback answered, or when the caller cancelled', async () => {
    const b = make({
      policies: { p: { deadLetter: 'x', fallback: { value: 'stale' } }, q: { deadLetter: 'x' } },
    });
    expect(await b.run('p', fail(), { payload: 1 })).toBe('stale');
    const ac = new AbortController();
    const r = b.run(
      'q',
      () => {
        ac.abort();
        throw new DOMException('aborted', 'AbortError');
      },
      { signal: ac.signal },
    );
    await expect(r).rejects.toThrow();
    expect((await b.deadLetters.stats()).currentSize).toBe(0);
  });

  it("queues Bulwark's own refusals (an open breaker) unless refusals is false", async () => {
    const breaker = { failureThreshold: 1, volumeThreshold: 1 };
    const b = make({
      policies: {
        a: { deadLetter: 'a', circuitBreaker: breaker },
        b: { deadLetter: { type: 'b', refusals: false, maxAttempts: 9 }, circuitBreaker: breaker },
      },
    });
    for (const name of ['a', 'b']) b.breaker(name).forceOpen();
    const ea = await b.run('a', () => 1, { payload: 'A' }).catch((e: unknown) => e);
    const eb = await b.run('b', () => 1, { payload: 'B' }).catch((e: unknown) => e);
    expect(isCircuitOpenError(ea) && isDeadLettered(ea)).toBe(true);
    expect(isCircuitOpenError(eb) && isDeadLettered(eb)).toBe(false);
    expect(await b.deadLetters.list()).toEqual([
      expect.objectContaining({
        type: 'a',
        payload: 'A',
        error: expect.objectContaining({ code: 'CIRCUIT_OPEN' }),
      }),
    ]);
    b.breaker('b').forceClose();
    const e2 = await b.run('b', fail(), { payload: 'B' }).catch((e: unknown) => e);
    expect((await b.deadLetters.get(deadLetterIdOf(e2) as string))?.maxAttempts).toBe(9);
  });

  it('a full queue leaves the caller its own error and tells the operator', async () => {
    const b = make({ policies: { p: { deadLetter: 'x' } }, recovery: { deadLetters: { maxSize: 1 } } });
    const seen: BulwarkEvent[] = [];
    b.events.on('dead-letter.refused', (e) => seen.push(e));
    const first = await b.run('p', fail('one')).catch((e: unknown) => e);
    const second = await b.run('p', fail('two')).catch((e: unknown) => e);
    expect(isDeadLettered(first)).toBe(true);
    expect((second as Error).message).toBe('two');
    expect(isDeadLettered(second)).toBe(false);
    expect(seen).toEqual([
      expect.objectContaining({ reason: 'full', deadLetterType: 'x', policy: 'dead-letters' }),
    ]);
  });

  it('replays through the same policy: the handler runs the operation again with the payload', async () => {
    const b = make({ policies: { 'orders-api': { deadLetter: 'orders.sync' } } });
    const synced: string[] = [];
    let up = false;
    const sync = (orderId: string) => {
      if (!up) throw new Error('orders service down');
      synced.push(orderId);
    };
    b.deadLetters.handle<{ orderId: string }>('orders.sync', (p, { signal }) =>
      b.run('orders-api', () => sync(p.orderId), { signal }),
    );
    const err = await b.run('orders-api', () => sync('o-7'), { payload: { orderId: 'o-7' } }).catch((e) => e);
    up = true;
    const report = await b.deadLetters.replay(deadLetterIdOf(err) as string);
    expect(report.recovered).toHaveLength(1);
    expect(synced).toEqual(['o-7']);
    // The handler's own run succeeded, so nothing new was queued.
    expect((await b.deadLetters.stats()).byStatus).toMatchObject({ recovered: 1, pending: 0 });
  });

  it('types the payload option and the id on Bulwark errors', () => {
    const b = make({ policies: { p: {} } });
    expectTypeOf(b.run).parameter(2).toMatchTypeOf<{ payload?: unknown } | undefined>();
    expectTypeOf<BulwarkError['deadLetterId']>().toEqualTypeOf<string | undefined>();
  });
});

describe('config', () => {
  it('validates deadLetter and recovery.deadLetters, naming the key, the value and the fix', () => {
    expect(() => make({ policies: { p: { deadLetter: 'bad type!' } } })).toThrow(
      /policies\.p\.deadLetter: expected a dead-letter type/,
    );
    expect(() => make({ policies: { p: { deadLetter: { maxAttempts: 2 } as never } } })).toThrow(
      /policies\.p\.deadLetter\.type: expected .*\(required\)/,
    );
    expect(() => make({ recovery: { deadLetters: { maxSize: -1 } } })).toThrow(
      /recovery\.deadLetters\.maxSize: expected a positive integer, got -1/,
    );
    expect(() => make({ recovery: { deadLetter: {} } as never })).toThrow(
      /recovery\.deadLetter: .*did you mean 'deadLetters'/,
    );
    expect(() => make({ recovery: { deadLetters: { records: memoryRecords() } as never } })).toThrow(
      /recovery\.deadLetters\.records.*createBulwark\(\{ records \}\)/,
    );
  });

  it("puts the facade's failed saga undos into bulwark.deadLetters", async () => {
    const b = make({});
    const signup = b.saga(
      'signup',
      [
        { name: 'account', do: () => 'acc-1', undo: fail('undo refused') },
        { name: 'mail', do: fail('SMTP refused') },
      ],
      { retry: false },
    );
    const r = await signup.run(undefined, { id: 'signup-1' });
    const [entry] = await b.deadLetters.list({ type: 'saga.compensation' });
    expect(entry).toMatchObject({
      payload: { sagaId: 'signup-1', step: 'account' },
      error: { message: 'undo refused' },
    });
    expect(JSON.stringify(r)).toContain(entry?.id);
  });

  it('reads recovery.deadLetters from env vars', async () => {
    const b = make({}, { BULWARK_RECOVERY__DEAD_LETTERS__MAX_SIZE: '7' });
    expect((await b.deadLetters.stats()).maxSize).toBe(7);
  });

  it('creates bulwark.deadLetters once, on bulwark.records, and closes it with close()', async () => {
    const records = memoryRecords();
    const b = createBulwark({ records }, { env: false, file: false });
    expect(b.deadLetters).toBe(b.deadLetters);
    const id = await b.deadLetters.add({ type: 't', error: 'x' });
    expect(await records.records('dead-letters').get(id)).toBeDefined();
    const q = b.deadLetters;
    await b.close();
    await expect(q.add({ type: 't', error: 'x' })).rejects.toThrow(/closed/);
    const fresh = createBulwark({ records }, { env: false, file: false });
    await fresh.close();
    expect(() => fresh.deadLetters).toThrow(/closed/);
  });
});
