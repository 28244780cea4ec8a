import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { BulwarkError, isInvalidConfigError } from '../errors/bulwark-error.js';
import { defineError } from '../errors/define-error.js';
import { retry } from '../policies/retry.js';
import { memoryRecords, type RecordStore } from '../stores/records.js';
import { EventStream } from '../telemetry/events.js';
import { runBatch } from './batch.js';
import { CHECKPOINT_KIND } from './batch-checkpoint.js';
import type { BatchReport } from './batch-report.js';

const TenantExists = defineError({
  code: 'BATCH_TEST_TENANT_EXISTS',
  status: 409,
  title: 'Tenant exists',
  suggestion: "Use 'tenant update' instead.",
  command: 'tenant update --tenant-id <id>',
});

const tenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

/** A fake remote API: creates tenants, fails the ones listed. */
function api(failing: Record<string, () => unknown> = {}) {
  const created: string[] = [];
  const calls: string[] = [];
  return {
    created,
    calls,
    async create(t: string) {
      calls.push(t);
      await Promise.resolve();
      const fail = failing[t];
      if (fail) throw fail();
      created.push(t);
      return { id: `t-${t}` };
    },
    async remove(t: string) {
      created.splice(created.indexOf(t), 1);
    },
  };
}

function statuses(r: BatchReport) {
  return r.outcomes.map((o) => `${o.key}:${o.status}${o.reason ? `:${o.reason}` : ''}`);
}

let store: RecordStore;
afterEach(async () => {
  vi.useRealTimers();
  await store?.close();
});

describe('runBatch', () => {
  it('stops at the first failure by default; the report names the failure with its suggestion and command', async () => {
    store = memoryRecords();
    const a = api({ initech: () => TenantExists.create({ message: "Tenant 'initech' already exists" }) });
    const r = await runBatch(tenants, (t) => a.create(t), { name: 'tenants.sync', records: store });
    expect(a.calls).toEqual(['acme', 'globex', 'initech']);
    expect(statuses(r)).toEqual([
      'acme:succeeded',
      'globex:succeeded',
      'initech:failed',
      'umbrella:skipped:stopped',
      'hooli:skipped:stopped',
    ]);
    expect(r).toMatchObject({
      status: 'partial',
      ok: false,
      succeeded: 2,
      failed: 1,
      skipped: 2,
      resumed: 0,
    });
    expect(r.notRun).toEqual(['umbrella', 'hooli']);
    expect(r.failures).toEqual([
      expect.objectContaining({
        key: 'initech',
        error: "Item 'initech' failed",
        code: 'BATCH_TEST_TENANT_EXISTS',
        status: 409,
        category: 'client',
        reason: "Tenant 'initech' already exists",
        suggestion: "Use 'tenant update' instead.",
        command: 'tenant update --tenant-id <id>',
      }),
    ]);
  });

  it('an error that only carries a known code (rebuilt from a log) is reported with that code', async () => {
    const rebuilt = Object.assign(new Error("Tenant 'acme' already exists"), {
      code: 'BATCH_TEST_TENANT_EXISTS',
    });
    const native = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const r = await runBatch(
      ['a', 'b'],
      async (t) => {
        throw t === 'a' ? rebuilt : native;
      },
      { checkpoint: false, continueOnError: true },
    );
    expect(r.failures.map((f) => [f.code, f.status, f.command])).toEqual([
      ['BATCH_TEST_TENANT_EXISTS', 409, 'tenant update --tenant-id <id>'],
      ['INTERNAL_ERROR', 500, undefined],
    ]);
  });

  it('continueOnError finishes the batch and reports every failure', async () => {
    store = memoryRecords();
    const a = api({ globex: () => new Error('socket hang up'), hooli: () => 'a thrown string' });
    const r = await runBatch(tenants, (t) => a.create(t), { records: store, continueOnError: true });
    expect(a.created).toEqual(['acme', 'initech', 'umbrella']);
    expect(r).toMatchObject({ status: 'partial', succeeded: 3, failed: 2, skipped: 0 });
    expect(r.failures.map((f) => [f.key, f.code, f.reason])).toEqual([
      ['globex', 'INTERNAL_ERROR', 'socket hang up'],
      ['hooli', 'INTERNAL_ERROR', 'a thrown string'],
    ]);
  });

  it('checkpoints; a rerun with resume skips the items done and runs the rest', async () => {
    store = memoryRecords();
    const first = api({ umbrella: () => new Error('down') });
    const r1 = await runBatch(tenants, (t) => first.create(t), {
      id: 'sync-1',
      records: store,
      checkpoint: { every: 1 },
    });
    expect(r1.succeeded).toBe(3);
    const second = api();
    const r2 = await runBatch(tenants, (t) => second.create(t), {
      id: 'sync-1',
      records: store,
      resume: true,
    });
    expect(second.calls).toEqual(['umbrella', 'hooli']);
    expect(r2).toMatchObject({
      status: 'complete',
      ok: true,
      succeeded: 2,
      skipped: 3,
      resumed: 3,
      failed: 0,
    });
    expect(statuses(r2).slice(0, 3)).toEqual([
      'acme:skipped:done',
      'globex:skipped:done',
      'initech:skipped:done',
    ]);
    // A third resume finds everything done.
    const third = api();
    const r3 = await runBatch(tenants, (t) => third.create(t), {
      id: 'sync-1',
      records: store,
      resume: true,
    });
    expect(third.calls).toEqual([]);
    expect(r3).toMatchObject({ status: 'complete', resumed: 5 });
    // Without resume, a run starts afresh.
    const fresh = api();
    await runBatch(tenants, (t) => fresh.create(t), { id: 'sync-1', records: store });
    expect(fresh.calls).toEqual(tenants);
  });

  it('writes a segment every N items, one head at the start and at the end (O(items) written)', async () => {
    store = memoryRecords();
    const items = Array.from({ length: 25 }, (_, i) => `k${i}`);
    const r = await runBatch(items, async () => 1, { id: 'seg', records: store, checkpoint: { every: 10 } });
    const cp = store.records(CHECKPOINT_KIND);
    const all = await cp.list();
    expect(all.map((x) => x.id)).toEqual(['seg', 'seg#0000000001', 'seg#0000000002', 'seg#0000000003']);
    expect(all.slice(1).map((x) => (x.value as { done: string[] }).done.length)).toEqual([10, 10, 5]);
    expect(all[0]?.value).toMatchObject({ status: 'finished', done: 25, segments: 3, name: 'batch' });
    expect(r.checkpoint).toEqual({ id: 'seg', writes: 5 });
  });

  it('writes what finished within `interval` even while a slow item still runs', async () => {
    vi.useFakeTimers();
    store = memoryRecords();
    let release!: () => void;
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const done = runBatch(['fast', 'slow'], (t) => (t === 'slow' ? slow : undefined), {
      id: 'iv',
      records: store,
      concurrency: 2,
      checkpoint: { every: 100, interval: '500ms' },
    });
    await vi.advanceTimersByTimeAsync(499);
    const cp = store.records(CHECKPOINT_KIND);
    expect(await cp.count()).toBe(1); // the head only
    await vi.advanceTimersByTimeAsync(1);
    expect((await cp.get('iv#0000000001')) as unknown).toEqual({ done: ['fast'] });
    release();
    await done;
    expect((await cp.get('iv')) as unknown).toMatchObject({ status: 'finished', done: 2 });
  });

  it('a list of keys done survives resume across different segments and ignores keys no longer in the batch', async () => {
    store = memoryRecords();
    const cp = store.records(CHECKPOINT_KIND);
    await cp.put('old', {
      name: 'batch',
      status: 'running',
      startedAt: 1,
      updatedAt: 1,
      done: 3,
      segments: 2,
    });
    await cp.put('old#0000000001', { done: ['acme', 'gone'] });
    await cp.put('old#0000000002', { done: ['globex'] });
    await cp.put('old-other#0000000001', { done: ['initech'] });
    const a = api();
    const r = await runBatch(tenants, (t) => a.create(t), { id: 'old', records: store, resume: true });
    expect(a.calls).toEqual(['initech', 'umbrella', 'hooli']);
    expect(r.resumed).toBe(2);
    expect(await cp.get('old#0000000003')).toEqual({ done: ['initech', 'umbrella', 'hooli'] });
  });

  it('rollback undoes the items done, last first, with their results, and clears the progress', async () => {
    store = memoryRecords();
    const a = api({ umbrella: () => new Error('quota exceeded') });
    const undone: string[] = [];
    const r = await runBatch(tenants, (t) => a.create(t), {
      id: 'rb',
      records: store,
      rollback: true,
      undo: async (t, result) => {
        undone.push(`${t}=${result?.id}`);
        await a.remove(t);
      },
    });
    expect(undone).toEqual(['initech=t-initech', 'globex=t-globex', 'acme=t-acme']);
    expect(a.created).toEqual([]);
    expect(r).toMatchObject({
      status: 'rolled-back',
      rollback: { undone: ['initech', 'globex', 'acme'], failed: [] },
    });
    const cp = store.records(CHECKPOINT_KIND);
    expect(await cp.get('rb')).toMatchObject({ status: 'rolled-back', done: 0 });
    expect(await cp.count()).toBe(1);
  });

  it('rollback after a resume undoes the earlier run too, with the results it checkpointed', async () => {
    store = memoryRecords();
    const undo = vi.fn();
    await runBatch(['a', 'b'], async (t) => ({ id: t.toUpperCase() }), {
      id: 'rb2',
      records: store,
      rollback: true,
      undo,
    });
    const r = await runBatch(
      ['a', 'b', 'c'],
      async () => {
        throw new Error('no');
      },
      { id: 'rb2', records: store, resume: true, rollback: true, undo },
    );
    expect(undo.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['b', { id: 'B' }],
      ['a', { id: 'A' }],
    ]);
    expect(r.rollback?.undone).toEqual(['b', 'a']);
  });

  it('a failing undo is reported, the others still run', async () => {
    store = memoryRecords();
    const r = await runBatch(
      ['a', 'b', 'c'],
      async (t) => {
        if (t === 'c') throw new Error('c failed');
      },
      {
        records: store,
        rollback: true,
        undo: (t) => {
          if (t === 'b') throw new BulwarkError('TIMEOUT', { message: 'undo timed out' });
        },
      },
    );
    expect(r.rollback).toEqual({
      undone: ['a'],
      failed: [{ key: 'b', code: 'TIMEOUT', reason: 'undo timed out' }],
    });
  });

  it('optional items fail as warnings; levels run in order; a core failure skips the later levels', async () => {
    store = memoryRecords();
    const items = [
      { id: 'db', level: 0 },
      { id: 'metrics', level: 0, optional: true },
      { id: 'api', level: 1 },
      { id: 'web', level: 2 },
    ];
    const order: string[] = [];
    const r = await runBatch(
      items,
      async (s) => {
        order.push(s.id);
        if (s.id === 'metrics' || s.id === 'api') throw new Error(`${s.id} down`);
      },
      {
        records: store,
        level: (s) => s.level,
        criticality: (s) => (s.optional ? 'optional' : 'core'),
        continueOnError: true,
      },
    );
    expect(order).toEqual(['db', 'metrics', 'api']);
    expect(r).toMatchObject({ ok: false, warnings: 1, succeeded: 1, failed: 2, skipped: 1, notRun: ['web'] });
    expect(r.byCriticality.optional).toEqual({ total: 1, succeeded: 0, failed: 1, skipped: 0 });
    expect(r.levels.map((l) => l.failed)).toEqual([1, 1, 0]);
  });

  it('runs each item under the policy, with the attempt signal', async () => {
    const calls: string[] = [];
    const r = await runBatch(
      ['a', 'b'],
      async (t, signal) => {
        expect(signal).toBeInstanceOf(AbortSignal);
        calls.push(t);
        if (calls.filter((c) => c === t).length < 2) throw new Error('flaky');
        return t;
      },
      { policy: retry({ maxAttempts: 3, initialDelay: 0 }), checkpoint: false },
    );
    expect(calls).toEqual(['a', 'a', 'b', 'b']);
    expect(r.status).toBe('complete');
  });

  it('an aborted signal stops the batch and keeps the progress for a resume', async () => {
    store = memoryRecords();
    const ac = new AbortController();
    const r = await runBatch(
      tenants,
      async (t) => {
        if (t === 'globex') ac.abort();
      },
      { id: 'ab', records: store, signal: ac.signal, checkpoint: { every: 1 } },
    );
    expect(r).toMatchObject({ status: 'aborted', succeeded: 2, skipped: 3 });
    expect(await store.records(CHECKPOINT_KIND).get('ab')).toMatchObject({ status: 'stopped', done: 2 });
  });

  it('emits batch.item-failed and batch.finished', async () => {
    const events = new EventStream();
    const seen: string[] = [];
    events.onAny((e) => seen.push(`${e.type}:${e.key ?? ''}`));
    await runBatch(
      ['a', 'b'],
      async (t) => {
        if (t === 'a') throw new Error('x');
      },
      { name: 'ev', checkpoint: false, continueOnError: true, events },
    );
    expect(seen).toEqual(['batch.item-failed:a', 'batch.finished:']);
  });

  it('rejects when a checkpoint cannot be written (progress it did not save is not claimed)', async () => {
    store = memoryRecords();
    const broken = {
      records: () => {
        const r = store.records(CHECKPOINT_KIND);
        return {
          ...r,
          get: r.get.bind(r),
          list: r.list.bind(r),
          delete: r.delete.bind(r),
          put: async () => {
            throw new Error('disk full');
          },
        };
      },
    };
    await expect(runBatch(['a'], async () => 1, { records: broken as never })).rejects.toThrow('disk full');
  });

  it('refuses bad options and items, naming each', async () => {
    const e1 = await runBatch(['a'], async () => 1, {
      concurrency: 0,
      rollback: true,
      checkpoint: { every: -1 },
      continueOnFailure: true,
    } as never).catch((e: unknown) => e);
    expect(isInvalidConfigError(e1)).toBe(true);
    const m1 = (e1 as Error).message;
    expect(m1).toContain('concurrency: expected a positive integer or Infinity, got 0');
    expect(m1).toContain('checkpoint.every: expected a positive integer, got -1');
    expect(m1).toContain(
      'continueOnFailure: expected a known key, got unknown key "continueOnFailure" (fix: did you mean \'continueOnError\'?)',
    );
    expect(m1).toContain('undo: expected a function (item, result, signal, key) (required by rollback)');
    const e2 = await runBatch(['a'], async () => 1).catch((e: unknown) => e);
    expect((e2 as Error).message).toContain(
      'records: expected a RecordStore (checkpoints and resume need one)',
    );
    const e3 = await runBatch(['a', 'a'], async () => 1, { checkpoint: false }).catch((e: unknown) => e);
    expect((e3 as Error).message).toContain('expected a key unique across all levels, got "a"');
    const e4 = await runBatch([{ x: 1 }], async () => 1, { checkpoint: false }).catch((e: unknown) => e);
    expect((e4 as Error).message).toContain('Cannot tell the key of item 0');
    const e5 = await runBatch(['a'], async () => 1, { checkpoint: false, level: () => -1 }).catch(
      (e: unknown) => e,
    );
    expect((e5 as Error).message).toContain('items[0] level: expected a non-negative integer, got -1');
  });

  it('types: fn gets the item type; undo gets the result type', () => {
    const items = [{ id: 'a', n: 1 }];
    expectTypeOf(runBatch(items, async (item) => item.n, { checkpoint: false })).toEqualTypeOf<
      Promise<BatchReport>
    >();
    runBatch(items, async (item) => ({ doubled: item.n * 2 }), {
      checkpoint: false,
      rollback: true,
      undo: (item, result) => {
        expectTypeOf(item).toEqualTypeOf<{ id: string; n: number }>();
        expectTypeOf(result).toEqualTypeOf<{ doubled: number } | undefined>();
      },
    });
  });
});
