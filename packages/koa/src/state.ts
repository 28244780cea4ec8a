import type { RequestView } from '@bulwark/core/adapter';

/** Request-scoped Bulwark data on `ctx.state.bulwark` once the middleware admitted the request (core's {@link RequestView}). */
export type BulwarkState = RequestView;

declare module 'koa' {
  interface DefaultState {
    /** Set by `bulwark().middleware` once the request is admitted; absent before it ran (or without it). */
    bulwark?: BulwarkState;
  }
}
