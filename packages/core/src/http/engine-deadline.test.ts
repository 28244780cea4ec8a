import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHttpEngine } from './engine.js';
import type { InboundRequest } from './types.js';

const req = (headers: InboundRequest['headers'] = {}): InboundRequest => ({
  method: 'GET',
  path: '/x',
  headers,
});

describe('admit: the inbound deadline is bounded by the service', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it('caps a client deadline at the default when no max is set (a client may only shorten it)', async () => {
    const e = createHttpEngine({ deadline: { default: '30s' } });
    expect((await e.admit(req({ 'x-deadline-ms': '999999999999' }))).context.deadline).toBe(
      1_000_000 + 30_000,
    );
    expect((await e.admit(req({ 'x-deadline-ms': '500' }))).context.deadline).toBe(1_000_000 + 500);
    expect((await e.admit(req())).context.deadline).toBe(1_000_000 + 30_000);
  });

  it('uses max as the cap when both are set', async () => {
    const e = createHttpEngine({ deadline: { default: '5s', max: '60s' } });
    expect((await e.admit(req({ 'x-deadline-ms': '45000' }))).context.deadline).toBe(1_000_000 + 45_000);
    expect((await e.admit(req({ 'x-deadline-ms': '90000' }))).context.deadline).toBe(1_000_000 + 60_000);
  });

  it('keeps an uncapped client deadline when the service sets neither', async () => {
    const e = createHttpEngine();
    expect((await e.admit(req({ 'x-deadline-ms': '90000' }))).context.deadline).toBe(1_000_000 + 90_000);
  });
});
