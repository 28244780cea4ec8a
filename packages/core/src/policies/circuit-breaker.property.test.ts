import fc from 'fast-check';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { CancelledError, isCircuitOpenError } from '../errors/bulwark-error.js';
import { EventStream } from '../telemetry/events.js';
import { type CircuitState, circuitBreaker } from './circuit-breaker.js';

type Step =
  | { kind: 'success' }
  | { kind: 'failure' }
  | { kind: 'advance'; ms: number }
  | { kind: 'forceOpen' }
  | { kind: 'reset' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Step>({ kind: 'success' }) },
  { weight: 4, arbitrary: fc.constant<Step>({ kind: 'failure' }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 1500 }).map((ms): Step => ({ kind: 'advance', ms })) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'forceOpen' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'reset' }) },
);

/** Transitions each step may cause (besides staying put). */
const LEGAL: Record<Step['kind'], ReadonlyArray<`${CircuitState}>${CircuitState}`>> = {
  success: ['half-open>closed'],
  failure: ['closed>open', 'half-open>open'],
  advance: ['open>half-open'],
  forceOpen: ['closed>open', 'half-open>open'],
  reset: ['open>closed', 'half-open>closed'],
};
/** Legal successive event types (forced ones included). */
const NEXT: Record<string, readonly string[]> = {
  'breaker.closed': ['breaker.opened'],
  'breaker.opened': ['breaker.half-open', 'breaker.closed'],
  'breaker.half-open': ['breaker.closed', 'breaker.opened'],
};

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

it('only makes legal transitions and never admits a call while open', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(step, { maxLength: 80 }),
      fc.integer({ min: 1, max: 3 }),
      async (steps, probes) => {
        const events = new EventStream();
        const transitions: string[] = [];
        events.onAny((e) => {
          if (e.type !== 'breaker.rejected') transitions.push(e.type);
        });
        const b = circuitBreaker({
          volumeThreshold: 3,
          failureThreshold: 4,
          errorThresholdPercentage: 50,
          resetTimeout: 1000,
          window: 2000,
          buckets: 4,
          halfOpenProbes: probes,
          events,
        });
        try {
          for (const s of steps) {
            const before = b.state();
            let called = false;
            const fn = () => {
              called = true;
              if (s.kind === 'failure') throw new Error('x');
              return 1;
            };
            if (s.kind === 'success' || s.kind === 'failure') {
              const err = await b.execute(fn).then(
                () => undefined,
                (e: unknown) => e,
              );
              if (before === 'open') {
                expect(called).toBe(false);
                expect(isCircuitOpenError(err)).toBe(true);
              } else expect(called).toBe(true);
            } else if (s.kind === 'advance') vi.advanceTimersByTime(s.ms);
            else if (s.kind === 'forceOpen') b.forceOpen();
            else b.reset();
            const after = b.state();
            if (after !== before) expect(LEGAL[s.kind]).toContain(`${before}>${after}`);
          }
          let prev = 'breaker.closed';
          for (const t of transitions) {
            expect(NEXT[prev]).toContain(t);
            prev = t;
          }
        } finally {
          b.close();
        }
      },
    ),
    { numRuns: 200 },
  );
});

type Outcome = 'success' | 'failure';
const thresholds = fc.oneof(
  fc.record({ failureThreshold: fc.integer({ min: 1, max: 6 }) }),
  fc.record({
    errorThresholdPercentage: fc.integer({ min: 0, max: 100 }),
    volumeThreshold: fc.integer({ min: 0, max: 8 }),
  }),
  fc.record({
    failureThreshold: fc.integer({ min: 1, max: 6 }),
    errorThresholdPercentage: fc.integer({ min: 1, max: 100 }),
    volumeThreshold: fc.integer({ min: 1, max: 8 }),
  }),
);

it('opens exactly when a threshold is crossed (against a reference model)', async () => {
  await fc.assert(
    fc.asyncProperty(
      thresholds,
      fc.array(fc.constantFrom<Outcome>('success', 'failure'), { minLength: 1, maxLength: 40 }),
      async (t, outcomes) => {
        const b = circuitBreaker({ ...t, window: 60_000, resetTimeout: 60_000, events: new EventStream() });
        const f = 'failureThreshold' in t ? t.failureThreshold : undefined;
        const pct = 'errorThresholdPercentage' in t ? t.errorThresholdPercentage : undefined;
        const volume = 'volumeThreshold' in t ? t.volumeThreshold : 10;
        let calls = 0;
        let failures = 0;
        let consecutive = 0;
        let open = false;
        try {
          for (const o of outcomes) {
            const r = await b
              .execute(() => {
                if (o === 'failure') throw new Error('x');
                return 1;
              })
              .then(
                () => 'ran',
                (e: unknown) => (isCircuitOpenError(e) ? 'rejected' : 'ran'),
              );
            expect(r).toBe(open ? 'rejected' : 'ran');
            if (!open) {
              calls++;
              if (o === 'failure') {
                failures++;
                consecutive++;
                open =
                  (f !== undefined && consecutive >= f) ||
                  (pct !== undefined && calls >= volume && failures * 100 >= pct * calls);
              } else consecutive = 0;
            }
            expect(b.state()).toBe(open ? 'open' : 'closed');
          }
        } finally {
          b.close();
        }
      },
    ),
    { numRuns: 300 },
  );
});

it('closes after successThreshold successful probes, whatever the probe settings', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.boolean(), { maxLength: 3 }),
      async (probes, successes, failuresToOpen, cancelFirst) => {
        const b = circuitBreaker({
          failureThreshold: failuresToOpen,
          resetTimeout: 500,
          halfOpenProbes: probes,
          successThreshold: successes,
          events: new EventStream(),
        });
        try {
          for (let i = 0; i < failuresToOpen; i++)
            await b.execute(() => Promise.reject(new Error('x'))).catch(() => {});
          expect(b.state()).toBe('open');
          vi.advanceTimersByTime(500);
          expect(b.state()).toBe('half-open');
          for (const c of cancelFirst) {
            if (!c) continue;
            await b.execute(() => Promise.reject(new CancelledError())).catch(() => {});
            expect(b.state()).toBe('half-open');
          }
          for (let i = 0; i < successes; i++) {
            expect(b.state()).toBe('half-open');
            await expect(b.execute(() => 'up')).resolves.toBe('up');
          }
          expect(b.state()).toBe('closed');
        } finally {
          b.close();
        }
      },
    ),
    { numRuns: 200 },
  );
});
