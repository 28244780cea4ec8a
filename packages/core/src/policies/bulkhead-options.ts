/**
 * The bulkhead's options and the limits of one compartment computed from them once (per key class):
 * slots and queue places per criticality, and per caller when fairness is on.
 */
import type { Criticality } from '../context/context.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { CommonPolicyOptions } from '../types.js';
import {
  type Check,
  commonFields,
  duration,
  Issues,
  isPlainObject,
  nonNegInt,
  positiveInt,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';

/** The limit of one key class (see {@link BulkheadOptions.limits}). */
export interface BulkheadLimit {
  /** Calls run at once per key of this class. */
  maxConcurrent: number;
  /** Calls waiting per key of this class. Default: the bulkhead's `maxQueue`. */
  maxQueue?: number;
}

/** Share of a compartment's slots (and queue) that calls of each criticality may fill; critical ones may fill all. */
export interface BulkheadShares {
  /** Default 0.5: sheddable calls are refused first, once half the slots are taken. */
  sheddable?: number;
  /** Default 1. Below 1 keeps the rest of the slots for critical calls. */
  default?: number;
}

/** Bulkhead options. */
export interface BulkheadOptions extends CommonPolicyOptions {
  /** Calls run at once per key. Default 10. */
  maxConcurrent?: number;
  /** Calls waiting per key. Default 0. */
  maxQueue?: number;
  /** Longest wait in the queue (at most the timer maximum). Default 1s. */
  queueTimeout?: Duration;
  /** Keyed bulkheads kept at most (LRU; a busy one is never evicted). Default 1000. */
  maxKeys?: number;
  /**
   * Criticality-aware shedding: the share of the slots and of the queue that calls of each
   * criticality (the request context's, e.g. from `http.criticality`) may fill. A critical call may
   * take any slot, waits ahead of the others and pushes the newest sheddable (then default) call out
   * of a full queue. Default `{ sheddable: 0.5, default: 1 }`.
   */
  criticality?: BulkheadShares;
  /**
   * Fairness inside a shared compartment: one caller (`ExecuteOptions.caller`, else the request
   * context's caller: the client IP, or `http.caller`) may hold at most this share of a key's slots
   * and of its queue (at least one slot). Default 1: no cap.
   */
  maxSharePerCaller?: number;
  /**
   * Limits per key class, e.g. `{ 'tier:free': 5, 'tier:pro': 20, 'tier:enterprise': 50 }`: a key
   * equal to a name, or starting with it and `:` (`tier:pro:acme`), gets that limit (the longest
   * name wins); other keys get `maxConcurrent` / `maxQueue`.
   */
  limits?: Record<string, number | BulkheadLimit>;
}

/** The limits one compartment enforces. Index by criticality: 0 sheddable, 1 default, 2 critical. */
export interface CompartmentLimits {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  /** Slots calls of each criticality may fill. */
  readonly slots: readonly [number, number, number];
  /** Queue places calls of each criticality may fill. */
  readonly queue: readonly [number, number, number];
  /** Below this many running calls any call takes a slot at once (the fast path). */
  readonly open: number;
  /** Slots one caller may hold (Infinity: no cap). */
  readonly perCaller: number;
  /** Queue places one caller may hold. */
  readonly perCallerQueue: number;
}

/** Bulkhead options after {@link resolveBulkheadOptions}. */
export interface ResolvedBulkheadOptions {
  readonly name: string;
  readonly events: EventStream;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly maxKeys: number;
  /** True when a caller cap applies (the fast path must count callers). */
  readonly fair: boolean;
  /** Limits of keys in no class. */
  readonly base: CompartmentLimits;
  /** Key classes, longest name first. */
  readonly classes: readonly (readonly [string, CompartmentLimits])[];
}

/** The index of a criticality in {@link CompartmentLimits} arrays. */
export function criticalityIndex(c: Criticality | undefined): 0 | 1 | 2 {
  return c === 'critical' ? 2 : c === 'sheddable' ? 0 : 1;
}

const share: Check = (v, p, out) => {
  if (!(typeof v === 'number' && v > 0 && v <= 1))
    out.add(p, 'a share greater than 0 and at most 1', v, 'use a fraction such as 0.5 (half)');
};

const limitEntry: Check = (v, p, out) => {
  if (typeof v === 'number') return positiveInt(v, p, out);
  if (!isPlainObject(v)) return out.add(p, 'a positive integer or { maxConcurrent, maxQueue }', v);
  limitShape(v, p, out);
};
const limitShape = shape(
  { maxConcurrent: positiveInt, maxQueue: nonNegInt },
  { required: ['maxConcurrent'] },
);

const limitsCheck: Check = (v, p, out) => {
  if (!isPlainObject(v)) return out.add(p, "an object of key classes, e.g. { 'tier:free': 5 }", v);
  const names = Object.keys(v);
  if (names.length > 64) out.add(p, 'at most 64 key classes', `${names.length} classes`);
  for (const name of names) {
    if (name === '' || name.length > 256) out.add(`${p}.${name}`, 'a key class of 1–256 characters', name);
    limitEntry(v[name], `${p}.${name}`, out);
  }
};

const bulkheadShape = shape(
  {
    maxConcurrent: positiveInt,
    maxQueue: nonNegInt,
    queueTimeout: duration(),
    maxKeys: positiveInt,
    criticality: shape({ sheddable: share, default: share }, { expected: '{ sheddable, default } shares' }),
    maxSharePerCaller: share,
    limits: limitsCheck,
    ...commonFields,
  },
  {
    aliases: {
      concurrency: 'maxConcurrent',
      limit: 'maxConcurrent',
      queue: 'maxQueue',
      queueSize: 'maxQueue',
      maxSharePerKey: 'maxSharePerCaller',
      maxShare: 'maxSharePerCaller',
      tiers: 'limits',
    },
  },
);

/** Checks bulkhead options at `path`, collecting every problem in `issues`. */
export function checkBulkheadOptions(input: unknown, path: string, issues: Issues): void {
  bulkheadShape(input, path, issues);
}

function limitsOf(
  maxConcurrent: number,
  maxQueue: number,
  shares: Required<BulkheadShares>,
  perCallerShare: number,
): CompartmentLimits {
  const slotsOf = (s: number) => Math.max(1, Math.floor(maxConcurrent * s));
  const slots = [slotsOf(shares.sheddable), slotsOf(shares.default), maxConcurrent] as const;
  return Object.freeze({
    maxConcurrent,
    maxQueue,
    slots,
    queue: [
      Math.floor(maxQueue * shares.sheddable),
      Math.floor(maxQueue * shares.default),
      maxQueue,
    ] as const,
    open: Math.min(slots[0], slots[1]),
    perCaller: perCallerShare >= 1 ? Number.POSITIVE_INFINITY : slotsOf(perCallerShare),
    perCallerQueue: perCallerShare >= 1 ? maxQueue : Math.floor(maxQueue * perCallerShare),
  });
}

/** Validates and defaults bulkhead options once; throws one InvalidConfigError listing every problem. */
export function resolveBulkheadOptions(input: BulkheadOptions = {}): ResolvedBulkheadOptions {
  const issues = new Issues();
  checkBulkheadOptions(input, 'bulkhead', issues);
  throwIfIssues(issues);
  const maxConcurrent = input.maxConcurrent ?? 10;
  const maxQueue = input.maxQueue ?? 0;
  const shares = { sheddable: 0.5, default: 1, ...input.criticality };
  const perCaller = input.maxSharePerCaller ?? 1;
  const classes = Object.entries(input.limits ?? {})
    .map(([name, l]): [string, CompartmentLimits] => {
      const max = typeof l === 'number' ? l : l.maxConcurrent;
      const queue = typeof l === 'number' ? maxQueue : (l.maxQueue ?? maxQueue);
      return [name, limitsOf(max, queue, shares, perCaller)];
    })
    .sort((a, b) => b[0].length - a[0].length);
  return Object.freeze({
    name: input.name ?? 'bulkhead',
    events: input.events ?? defaultEvents,
    maxConcurrent,
    maxQueue,
    queueTimeoutMs: input.queueTimeout === undefined ? 1000 : (parseDuration(input.queueTimeout) as number),
    maxKeys: input.maxKeys ?? 1000,
    fair: perCaller < 1,
    base: limitsOf(maxConcurrent, maxQueue, shares, perCaller),
    classes,
  });
}

/** The limits of `key`: its class's (exact name, or the name then `:`; longest first), else the base. */
export function limitsFor(o: ResolvedBulkheadOptions, key: string): CompartmentLimits {
  for (const [name, limits] of o.classes) {
    if (key === name || (key.startsWith(name) && key.charCodeAt(name.length) === 58)) return limits;
  }
  return o.base;
}
