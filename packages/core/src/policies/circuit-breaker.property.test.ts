import fc from 'fast-check';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { isCircuitOpenError } from '../errors/bulwark-error.js';
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
