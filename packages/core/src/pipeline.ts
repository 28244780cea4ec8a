/**
 * Composition of policies into one executable unit: a tiny fold, outermost first.
 */
import type { ExecuteOptions, Operation, POLICY_ANSWERS, Policy, PolicyAnswer } from './types.js';
import { NEVER_ABORTED_SIGNAL } from './util/time.js';

/** A policy that only runs the operation (with the caller's signal and attempt). */
export const noopPolicy: Policy = {
  name: 'noop',
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return fn(options?.signal ?? NEVER_ABORTED_SIGNAL, options?.attempt ?? 1);
  },
};

/**
 * Policies composed in order, outermost first. Build it with {@link pipeline}. `R` is what its
 * layers may answer with instead of the operation's result (a fallback's value).
 */
export class Pipeline<R = never> implements Policy<R> {
  /** The layer names joined with ' > ', outermost first. */
  readonly name: string;

  constructor(
    /** The layers, outermost first. */
    readonly policies: readonly Policy<unknown>[],
  ) {
    this.name = policies.map((p) => p.name).join(' > ');
  }

  /** Type only (never set): what the layers may answer with. */
  declare readonly [POLICY_ANSWERS]?: () => R;

  /** Runs `fn` through every layer, outermost first. */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | R> {
    return run(this.policies, 0, fn, options) as Promise<T | R>;
  }
}

/**
 * Calls layer `i` with a callback that enters layer `i + 1` with the signal and attempt this layer
 * handed it; key, deadline and idempotent travel on unchanged. The last layer gets `fn` itself.
 * Per layer and call this allocates one small closure and one fixed-shape options object.
 */
function run<T>(
  policies: readonly Policy<unknown>[],
  i: number,
  fn: Operation<T>,
  options: ExecuteOptions | undefined,
): Promise<T> {
  // Typed as plain policies: what a fallback layer answers with is tracked by Pipeline's `R`.
  const p = policies[i] as Policy;
  if (i === policies.length - 1) return p.execute(fn, options);
  const next = i + 1;
  return p.execute<T>((signal, attempt) => run(policies, next, fn, inner(options, signal, attempt)), options);
}

/** The options for the next layer: the caller's, with this layer's signal and attempt. */
function inner(options: ExecuteOptions | undefined, signal: AbortSignal, attempt: number): ExecuteOptions {
  if (options === undefined) return { signal, attempt };
  const o: ExecuteOptions = { ...options };
  o.signal = signal;
  o.attempt = attempt;
  return o;
}

/**
 * Composes policies into one, outermost first; each layer runs the next with the signal it was
 * handed (so an outer timeout or the caller's abort reaches the operation) and retry's attempt
 * number reaches every layer inside it as `options.attempt`.
 *
 * Order matters:
 * - `pipeline(timeout(t), retry())`: the timeout bounds all attempts and backoff waits together
 *   (a total timeout); when it fires the backoff wait ends at once and no attempt follows.
 * - `pipeline(retry(), timeout(t))`: each attempt gets its own `t`; a timed-out attempt is retried.
 * - `fallback` outermost sees only the final outcome (e.g. `RetryExhaustedError`).
 *
 * The recommended order for an outgoing call is fallback → total timeout → retry → circuit
 * breaker → attempt timeout → bulkhead → the call.
 * @example
 * const policy = pipeline(fallback({ fallback: { value: [] } }), timeout('5s'), retry(), timeout('1s'));
 * await policy.execute((signal) => fetch(url, { signal }), { key: 'catalog' });
 */
export function pipeline<const P extends readonly Policy<unknown>[]>(
  ...policies: P
): Policy<PolicyAnswer<P[number]>> {
  policies.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.execute !== 'function') {
      throw new TypeError(
        `Expected policy #${i} of pipeline() to be a Policy with execute(), got ${String(p)}.`,
      );
    }
  });
  if (policies.length === 0) return noopPolicy;
  return new Pipeline<PolicyAnswer<P[number]>>([...policies]);
}
