/** The example's controller, the service calling the flaky downstream, and the module wiring Bulwark. */
import { timingSafeEqual } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { type Bulwark, type BulwarkConfig, getContext } from '@bulwark/core';
import { Bulkhead, BulwarkModule, currentSignal, Fallback, Timeout, UsePolicy } from '@bulwark/nestjs';
import {
  BadRequestException,
  Controller,
  type DynamicModule,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  Inject,
  Injectable,
  Module,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { DOWNSTREAM, type Downstream } from './downstream.js';

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch((e: unknown) => {
    throw signal?.aborted ? signal.reason : e;
  });

/** The demo's API keys. A real app takes the tenant from its authentication, never from a free header. */
const API_KEYS = new Map([
  ['key-acme', 'acme'],
  ['key-globex', 'globex'],
  ['key-demo', 'demo'],
  ['key-reports', 'reports'],
]);

/** The tenant of a known API key, else undefined. */
export function tenantOf(apiKey: unknown): string | undefined {
  return typeof apiKey === 'string' ? API_KEYS.get(apiKey) : undefined;
}

/** Longest outage the chaos switch accepts (1 minute). */
export const MAX_OUTAGE_MS = 60_000;
/** Injection token of the chaos switch's token (undefined: the switch is off). */
export const CHAOS_TOKEN = Symbol('CHAOS_TOKEN');

/** Whether `authorization` carries `Bearer <token>` (compared in constant time). */
function authorized(authorization: unknown, token: string | undefined): boolean {
  if (!token || typeof authorization !== 'string') return false;
  const given = Buffer.from(authorization);
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The Bulwark config: named policies for outgoing calls, and the inbound HTTP engine's limits. */
export const config: BulwarkConfig = {
  policies: {
    // Calls to the flaky inventory service: retry transient failures, trip a breaker when most fail.
    inventory: {
      timeout: '2s', // total, across attempts and backoff
      retry: { maxAttempts: 3, initialDelay: '100ms', maxDelay: '400ms' },
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 4, window: '10s', resetTimeout: '2s' },
      attemptTimeout: '300ms',
    },
  },
  http: {
    // Per-tenant quota: 10 requests per 10 s per tenant, the tenant taken from a known API key (a
    // header the client could set freely, such as x-tenant-id, would let it rotate past any limit);
    // without a known key, per client address.
    rateLimit: {
      limit: 10,
      interval: '10s',
      key: (req) => {
        const tenant = tenantOf(req.headers['x-api-key']);
        return tenant ? `tenant:${tenant}` : `ip:${req.remoteAddress}`;
      },
    },
    deadline: { max: '30s' }, // callers may send `x-deadline-ms`; never more than 30 s
  },
};

/** Calls to the flaky inventory service; the decorators work on service methods too. */
@Injectable()
export class InventoryClient {
  constructor(@Inject(DOWNSTREAM) private readonly downstream: Downstream) {}

  /** Breaker + retry: the named `inventory` policy from the config. */
  @UsePolicy('inventory')
  stock(sku: string) {
    return this.downstream.call(() => ({ sku, inStock: 7 }), currentSignal());
  }

  /** Fallback: when the call fails (or takes over 300 ms), `popular()` answers, marked degraded. */
  @Fallback('popular')
  @Timeout('300ms')
  recommendations() {
    return this.downstream.call(
      () => ({ items: ['for-you-1', 'for-you-2', 'for-you-3'], source: 'live' }),
      currentSignal(),
    );
  }

  popular() {
    return { items: ['bestseller-1', 'bestseller-2'], source: 'fallback' };
  }
}

@Controller()
export class ShopController {
  constructor(
    @Inject(InventoryClient) private readonly inventory: InventoryClient,
    @Inject(DOWNSTREAM) private readonly downstream: Downstream,
    @Inject(CHAOS_TOKEN) private readonly chaosToken: string | undefined,
  ) {}

  /** Correlation: the ID (the caller's `x-request-id`, or a fresh one) is in the context everywhere. */
  @Get('hello')
  hello(@Headers('x-api-key') apiKey?: string) {
    const ctx = getContext();
    return {
      hello: tenantOf(apiKey) ?? 'anonymous',
      correlationId: ctx?.correlationId,
      traceId: ctx?.trace.traceId,
      deadline: ctx?.deadline === undefined ? null : new Date(ctx.deadline).toISOString(),
    };
  }

  /** Bulkhead: a slow report, 2 running and 1 queued at most; the rest get 503 at once. */
  @Get('report')
  @Bulkhead({ maxConcurrent: 2, maxQueue: 1, queueTimeout: '1s' })
  async report() {
    await sleep(800, currentSignal());
    return { report: 'quarterly', rows: 42 };
  }

  /** Timeout: the export takes 2 s, the handler allows 500 ms → 504, and the work is aborted. */
  @Get('export')
  @Timeout('500ms')
  async export() {
    await sleep(2000, currentSignal());
    return { export: 'done' };
  }

  @Get('inventory')
  stock(@Query('sku') sku?: string) {
    return this.inventory.stock(sku ?? 'widget');
  }

  @Get('recommendations')
  recommendations() {
    return this.inventory.recommendations();
  }

  /** A problem+json error of the app's own: Nest's HttpExceptions keep their status and message. */
  @Get('orders/:id')
  order(@Param('id') id: string) {
    if (id !== '42') throw new NotFoundException(`Order ${id} does not exist.`);
    return { id: '42', status: 'shipped' };
  }

  /**
   * Chaos switch for trying it by hand: `POST /chaos/outage?ms=5000` with `Authorization: Bearer
   * <CHAOS_TOKEN>` makes the downstream fail for 5 s (at most a minute). Without a token configured
   * the route answers 404; a wrong token is a 403.
   */
  @Post('chaos/outage')
  @HttpCode(200)
  outage(@Headers('authorization') authorization?: string, @Query('ms') ms?: string) {
    if (!this.chaosToken) throw new NotFoundException('Cannot POST /chaos/outage');
    if (!authorized(authorization, this.chaosToken))
      throw new ForbiddenException('The chaos switch needs its token.');
    const duration = Number(ms ?? 5000);
    if (!Number.isInteger(duration) || duration < 0 || duration > MAX_OUTAGE_MS) {
      throw new BadRequestException(`ms must be a whole number from 0 to ${MAX_OUTAGE_MS}.`);
    }
    this.downstream.outage(duration);
    return { downstream: this.downstream.name, outageMs: duration };
  }
}

/** The root module for a given Bulwark core and downstream (so tests and scripts can hold both). */
@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest module class with a dynamic-module factory is the idiom
export class AppModule {
  static with(core: Bulwark | BulwarkConfig, downstream: Downstream, chaosToken?: string): DynamicModule {
    return {
      module: AppModule,
      imports: [BulwarkModule.forRoot(core)],
      controllers: [ShopController],
      providers: [
        InventoryClient,
        { provide: DOWNSTREAM, useValue: downstream },
        { provide: CHAOS_TOKEN, useValue: chaosToken },
      ],
    };
  }
}
