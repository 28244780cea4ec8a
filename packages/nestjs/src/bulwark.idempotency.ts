import type { ServerResponse } from 'node:http';
import type { Bulwark, IdempotencyOptions } from '@bulwark/core';
import * as core from '@bulwark/core/adapter';
import * as nest from '@nestjs/common';
import { BULWARK } from './bulwark.constants.js';
import { admitted, toInbound } from './bulwark.middleware.js';

const OPTIONS = 'bulwark:idempotency';

/** Thrown so the exception filter writes a replay or a refusal as it is (a returned value gets the route's status). */
export class IdempotentAnswer {
  constructor(readonly answer: core.IdempotencyAnswer) {}
}

/** Asks core's guard (one per handler) about each request; the raw response of a handler that runs is captured. */
@nest.Injectable()
export class BulwarkIdempotencyInterceptor implements nest.NestInterceptor {
  private readonly guards = new WeakMap<object, core.IdempotencyGuard>();
  constructor(@nest.Inject(BULWARK) private readonly bulwark: Bulwark) {}

  /** Nest's interceptor hook. */
  async intercept(context: nest.ExecutionContext, next: nest.CallHandler) {
    const handler = context.getHandler();
    const guard =
      this.guards.get(handler) ?? this.bulwark.http.idempotencyGuard(Reflect.getMetadata(OPTIONS, handler));
    this.guards.set(handler, guard);
    const req = context.switchToHttp().getRequest<{ raw?: object; user?: unknown; body?: unknown }>();
    const res = context.switchToHttp().getResponse<{ raw?: ServerResponse }>();
    const raw = (req.raw ?? req) as Parameters<typeof toInbound>[0];
    const inbound = admitted(raw)?.inbound ?? toInbound(raw);
    const d = await guard.begin({ ...inbound, caller: core.subjectOf(req.user), body: req.body });
    if (d.action === 'answer') throw new IdempotentAnswer(d.answer);
    if (d.action === 'run')
      core.captureResponse(res.raw ?? (res as ServerResponse), d.maxBodyBytes, d.complete);
    return next.handle();
  }
}

/**
 * Idempotency keys (IETF draft) on a POST or PATCH handler: a retry replays the stored answer, 409
 * while the first runs, 422 for the key reused with another body; keys are scoped to `request.user`.
 * @example
 * @Post('orders') @Idempotent({ required: true }) create(@Body() order: Order) { ... }
 */
export function Idempotent(options?: IdempotencyOptions): MethodDecorator {
  core.validateIdempotencyOptions(options); // a bad option fails where the class is defined
  return nest.applyDecorators(
    nest.SetMetadata(OPTIONS, options),
    nest.UseInterceptors(BulwarkIdempotencyInterceptor),
  );
}
