import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isInvalidConfigError } from '../errors/bulwark-error.js';
import { createBulwark } from '../registry/bulwark.js';
import type { BulwarkEvent } from '../telemetry/events.js';
import { switchableCheck as switchable } from './health.test-helper.js';

/** A check that never settles and ignores its signal. */
const hanging = () => new Promise<void>(() => {});

describe('bulwark.health', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs no check inline: a dependency is unknown until its first background check', async () => {
    const b = createBulwark();
    const db = switchable();
    b.health.register('db', { criticality: 'core', check: db.check });
    expect(db.check).not.toHaveBeenCalled();
    expect(b.health.status('db')).toBe('unknown');
    expect(b.health.readiness()).toEqual({
      ready: false,
      reasons: ["core dependency 'db' has not been checked yet"],
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(db.check).toHaveBeenCalledTimes(1);
    expect(b.health.status('db')).toBe('up');
    expect(b.health.readiness()).toEqual({ ready: true, reasons: [] });
    await b.close();
  });

  it('holds one unref’d timer for all dependencies, none before the first registration or after close', async () => {
    const b = createBulwark();
    expect(b.health.names()).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    for (let i = 0; i < 20; i++) b.health.register(`dep-${i}`, { check: switchable().check });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1); // the next round, one timer for the 20
    await b.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('checks every interval (default 30 s) and counts a check past its timeout (default 10 s) as down, aborting its signal', async () => {
    const b = createBulwark();
    const db = switchable();
    b.health.register('db', { check: db.check });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(db.check).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(db.check).toHaveBeenCalledTimes(2);

    let seen: AbortSignal | undefined;
    b.health.register('slow', {
      check: (signal) => {
        seen = signal;
        return hanging();
      },
    });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(b.health.status('slow')).toBe('unknown');
    await vi.advanceTimersByTimeAsync(1);
    expect(b.health.status('slow')).toBe('down');
    expect(seen?.aborted).toBe(true);
    const slow = b.health.report().dependencies.find((d) => d.name === 'slow');
    expect(slow).toMatchObject({
      status: 'down',
      reason: 'timeout',
      code: 'TIMEOUT',
      detail: 'its check took longer than 10000 ms',
    });
    await b.close();
  });

  it('takes timeout and interval defaults from the health section and per registration', async () => {
    const b = createBulwark({ health: { interval: '3s', timeout: '1s' } });
    const a = switchable();
    const c = switchable();
    b.health.register('a', { check: a.check });
    b.health.register('c', { check: c.check, interval: '10s', timeout: 500 });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(a.check).toHaveBeenCalledTimes(4);
    expect(c.check).toHaveBeenCalledTimes(1);
    await b.close();
  });

  it('aggregates: down when a core dependency is down, degraded when only an optional or stretch one is', async () => {
    const b = createBulwark();
    const db = switchable();
    const cache = switchable();
    const recs = switchable();
    b.health.register('db', { criticality: 'core', check: db.check, interval: '1s' });
    b.health.register('cache', { criticality: 'optional', check: cache.check, interval: '1s' });
    b.health.register('recs', { criticality: 'stretch', check: recs.check, interval: '1s' });
    await vi.advanceTimersByTimeAsync(0);
    expect(b.health.status()).toBe('up');
    recs.state.ok = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.health.status()).toBe('degraded');
    expect(b.health.readiness().ready).toBe(true);
    db.state.ok = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.health.status()).toBe('down');
    expect(b.health.readiness()).toEqual({
      ready: false,
      reasons: ["core dependency 'db' is down: its check failed (ECONNREFUSED)"],
    });
    db.state.ok = true;
    recs.state.ok = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.health.status()).toBe('up');
    await b.close();
  });

  it('cascades: a failing base marks its dependants down with the reason, and they come back with it', async () => {
    const events: BulwarkEvent[] = [];
    const b = createBulwark();
    b.events.on('health.changed', (e) => events.push(e));
    const db = switchable();
    const orders = switchable();
    b.health.register('db', { check: db.check, interval: '1s' });
    b.health.register('orders', { check: orders.check, interval: '1s', dependsOn: ['db'] });
    await vi.advanceTimersByTimeAsync(0);
    expect(b.health.status('orders')).toBe('up');
    db.state.ok = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.health.status('orders')).toBe('down');
    const report = b.health.report().dependencies.find((d) => d.name === 'orders');
    expect(report).toMatchObject({
      reason: 'dependency-down',
      detail: "depends on 'db', which is down",
      code: 'DEPENDENCY_DOWN',
    });
    expect(events.map((e) => e.type === 'health.changed' && `${e.dependency}:${e.from}->${e.to}`)).toContain(
      'orders:up->down',
    );
    db.state.ok = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.health.status('orders')).toBe('up');
    await b.close();
  });

  it('validates the graph: an unknown base (with a did-you-mean), itself, a name twice, timeout past interval', () => {
    const b = createBulwark();
    const check = switchable().check;
    b.health.register('postgres', { check });
    const problem = (fn: () => void): string => {
      try {
        fn();
      } catch (e) {
        expect(isInvalidConfigError(e)).toBe(true);
        return (e as Error).message;
      }
      throw new Error('expected an InvalidConfigError');
    };
    expect(problem(() => b.health.register('orders', { check, dependsOn: ['postgress'] }))).toContain(
      `health.register('orders').dependsOn[0]: expected a registered dependency, got "postgress" (fix: did you mean 'postgres'?)`,
    );
    expect(problem(() => b.health.register('loop', { check, dependsOn: ['loop'] }))).toContain(
      'a dependency cannot depend on itself',
    );
    expect(problem(() => b.health.register('later', { check, dependsOn: ['queue'] }))).toContain(
      "register 'queue' first: bases are registered before the dependencies that need them (this also rules out cycles)",
    );
    expect(problem(() => b.health.register('postgres', { check }))).toContain('a name not registered yet');
    expect(problem(() => b.health.register('x', { check, timeout: '40s' }))).toContain(
      'health.register(\'x\').timeout: expected at most the interval (30000 ms), got "40s"',
    );
    expect(problem(() => b.health.register('y', { check, criticality: 'important' as 'core' }))).toContain(
      "health.register('y').criticality: expected one of 'core', 'optional', 'stretch'",
    );
    expect(problem(() => b.health.register('z', {} as never))).toContain("health.register('z').check");
    expect(problem(() => b.health.register('bad name', { check }))).toContain('bad name');
    expect(b.health.names()).toEqual(['postgres']);
  });

  it('refuses a bad health section at createBulwark, naming the key', () => {
    expect(() => createBulwark({ health: { interval: '30 parsecs' as '30s' } })).toThrow(/health\.interval/);
    expect(() => createBulwark({ health: { histroy: 5 } as never })).toThrow(
      /health\.histroy: expected a known key/,
    );
  });

  it('follows the breakers of its policies: down at once when one opens, up again when it closes', async () => {
    const b = createBulwark({ policies: { payments: { circuitBreaker: true }, plain: {} } });
    const pay = switchable();
    expect(() => b.health.register('pay', { check: pay.check, policies: ['paymants'] })).toThrow(
      /did you mean 'payments'/,
    );
    expect(() => b.health.register('pay', { check: pay.check, policies: ['plain'] })).toThrow(
      /add `circuitBreaker: true` under policies\.plain/,
    );
    b.health.register('pay', { check: pay.check, policies: ['payments'] });
    await vi.advanceTimersByTimeAsync(0);
    expect(b.health.status('pay')).toBe('up');
    b.breaker('payments').forceOpen();
    expect(b.health.status('pay')).toBe('down');
    expect(b.health.report().dependencies[0]).toMatchObject({
      reason: 'breaker-open',
      code: 'CIRCUIT_OPEN',
      detail: "the circuit breaker of policy 'payments' is open",
    });
    expect(pay.check).toHaveBeenCalledTimes(1); // no check was needed to know
    b.breaker('payments').reset();
    expect(b.health.status('pay')).toBe('up');
    await b.close();
  });

  it('starts down when a breaker is already open at registration', async () => {
    const b = createBulwark({ policies: { payments: { circuitBreaker: true } } });
    b.breaker('payments').forceOpen();
    b.health.register('pay', { check: switchable().check, policies: ['payments'] });
    expect(b.health.status('pay')).toBe('down');
    await b.close();
  });

  it('an override wins until it is cleared or its time passes, with events', async () => {
    const events: string[] = [];
    const b = createBulwark();
    b.events.on('health.changed', (e) => events.push(`${e.from}->${e.to}: ${e.reason ?? ''}`));
    b.health.register('cache', { criticality: 'optional', check: switchable().check });
    await vi.advanceTimersByTimeAsync(0);
    b.health.override('cache', { status: 'down', reason: 'chaos: partition', forMs: '5s' });
    expect(b.health.status('cache')).toBe('down');
    expect(b.health.report().dependencies[0]?.override).toMatchObject({
      status: 'down',
      reason: 'chaos: partition',
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(b.health.status('cache')).toBe('up');
    b.health.override('cache', { status: 'down', reason: 'maintenance' });
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(b.health.status('cache')).toBe('down');
    b.health.override('cache', undefined);
    expect(b.health.status('cache')).toBe('up');
    expect(events).toEqual([
      'unknown->up: ',
      'up->down: overridden: chaos: partition',
      'down->up: ',
      'up->down: overridden: maintenance',
      'down->up: ',
    ]);
    expect(() => b.health.override('cache', { status: 'sideways' as 'up', reason: 'x' })).toThrow(
      /'up' or 'down'/,
    );
    expect(() => b.health.override('cache', { status: 'down', reason: '' })).toThrow(/reason/);
    await b.close();
  });

  it('readiness ANDs core dependencies, draining and start-up', async () => {
    const b = createBulwark();
    expect(b.health.readiness()).toEqual({ ready: true, reasons: [] });
    b.health.markStarting();
    expect(b.health.readiness()).toEqual({ ready: false, reasons: ['start-up has not finished'] });
    b.health.markStarted();
    b.health.register('cache', { criticality: 'optional', check: hanging });
    expect(b.health.readiness().ready).toBe(true); // an unchecked optional dependency does not hold readiness
    b.health.markDraining();
    expect(b.health.readiness()).toEqual({
      ready: false,
      reasons: ['the service is draining (shutting down)'],
    });
    await b.close();
  });

  it('checkNow runs the check at once, or joins the one in flight', async () => {
    const b = createBulwark();
    let release: () => void = () => {};
    const check = vi.fn(() => new Promise<void>((r) => (release = r)));
    b.health.register('db', { check });
    await vi.advanceTimersByTimeAsync(0);
    const joined = b.health.checkNow('db');
    expect(check).toHaveBeenCalledTimes(1);
    release();
    await expect(joined).resolves.toMatchObject({ status: 'up' });
    const fresh = b.health.checkNow('db');
    expect(check).toHaveBeenCalledTimes(2);
    release();
    await expect(fresh).resolves.toMatchObject({ status: 'up' });
    expect(() => b.health.checkNow('dbb')).toThrow(`Unknown dependency "dbb". Did you mean 'db'?`);
    await b.close();
  });

  it('keeps the last N results, latency and availability, and no raw message unless asked', async () => {
    const b = createBulwark({ health: { history: 3 } });
    const db = switchable();
    b.health.register('db', { check: db.check, interval: '1s', timeout: '1s' });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(3000);
    db.state.ok = false;
    await vi.advanceTimersByTimeAsync(1000);
    const r = b.health.report().dependencies[0];
    expect(r?.history).toHaveLength(3);
    expect(r?.history.map((h) => h.status)).toEqual(['up', 'up', 'down']);
    expect(r?.availability['5m']).toBeCloseTo(4 / 5);
    expect(r?.latencyMs).toMatchObject({
      last: expect.any(Number),
      mean: expect.any(Number),
      max: expect.any(Number),
    });
    expect(r).toMatchObject({
      status: 'down',
      cause: 'ECONNREFUSED',
      code: 'DEPENDENCY_DOWN',
      suggestion: expect.stringContaining('reachable'),
    });
    expect(JSON.stringify(b.health.report())).not.toContain('hunter2');
    expect(b.health.report({ messages: true }).dependencies[0]?.message).toContain('ECONNREFUSED');
    await b.close();
  });

  it('a check resolving false is down; a throwing non-error is down', async () => {
    const b = createBulwark();
    b.health.register('f', { check: () => false });
    b.health.register('s', {
      check: () => {
        throw 'nope';
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(b.health.report().dependencies.map((d) => [d.status, d.cause])).toEqual([
      ['down', 'returned false'],
      ['down', undefined],
    ]);
    await b.close();
  });

  it('close aborts the checks in flight and ignores their outcome', async () => {
    const b = createBulwark();
    let seen: AbortSignal | undefined;
    b.health.register('db', {
      check: (signal) => {
        seen = signal;
        return hanging();
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    await b.close();
    expect(seen?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(() => b.health.register('x', { check: hanging })).toThrow(/closed/);
  });
});
