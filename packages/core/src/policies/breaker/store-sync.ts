/**
 * Best-effort sharing of breaker overrides and state transitions across replicas through a
 * Store's publish/subscribe. Overrides received from other replicas are applied; transitions are
 * published for observers only (each replica keeps its own rolling window).
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../../stores/store.js';
import type { Disposable } from '../../types.js';
import type { BreakerOverride } from './options.js';

/** A message on a breaker's channel. */
export type BreakerMessage =
  | { origin: string; kind: 'override'; key: string | undefined; override: BreakerOverride }
  | { origin: string; kind: 'state'; key: string; state: 'open' | 'half-open' | 'closed' };

const OVERRIDES: ReadonlySet<string> = new Set([
  'none',
  'force-open',
  'force-closed',
  'disabled',
  'metrics-only',
]);

/** Publishes and receives breaker messages for one policy. */
export class BreakerSync {
  private readonly origin = randomUUID();
  private readonly channel: string;
  private sub: Disposable | undefined;
  private closed = false;

  constructor(
    private readonly store: Store,
    policy: string,
    onOverride: (key: string | undefined, override: BreakerOverride) => void,
  ) {
    this.channel = `bulwark:breaker:${policy}`;
    store
      .subscribe(this.channel, (raw) => {
        const m = parse(raw);
        if (m && m.origin !== this.origin && m.kind === 'override') onOverride(m.key, m.override);
      })
      .then(
        (sub) => {
          if (this.closed) sub.dispose();
          else this.sub = sub;
        },
        () => undefined,
      );
  }

  /** Publishes an override change (fire and forget). */
  publishOverride(key: string | undefined, override: BreakerOverride): void {
    this.send({ origin: this.origin, kind: 'override', key, override });
  }

  /** Publishes a state transition (fire and forget). */
  publishState(key: string, state: 'open' | 'half-open' | 'closed'): void {
    this.send({ origin: this.origin, kind: 'state', key, state });
  }

  /** Stops listening. */
  close(): void {
    this.closed = true;
    this.sub?.dispose();
    this.sub = undefined;
  }

  private send(m: BreakerMessage): void {
    if (this.closed) return;
    this.store.publish(this.channel, JSON.stringify(m)).catch(() => undefined);
  }
}

function parse(raw: string): BreakerMessage | undefined {
  try {
    const m = JSON.parse(raw) as Partial<BreakerMessage> & { override?: unknown };
    if (typeof m?.origin !== 'string') return undefined;
    if (m.kind === 'override' && typeof m.override === 'string' && OVERRIDES.has(m.override)) {
      const key = typeof m.key === 'string' ? m.key : undefined;
      return { origin: m.origin, kind: 'override', key, override: m.override as BreakerOverride };
    }
    return undefined;
  } catch {
    return undefined;
  }
}
