import { runWithContext } from '@bulwark/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BulwarkLogger } from './bulwark.logger.js';

const ctx = {
  correlationId: 'corr-nest',
  trace: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), flags: 1 },
  criticality: 'default' as const,
  degraded: [],
};

afterEach(() => vi.restoreAllMocks());

function captured(): string[] {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  return out;
}

describe('BulwarkLogger', () => {
  it('adds the request ids to JSON lines inside a request only', () => {
    const out = captured();
    const logger = new BulwarkLogger('Orders', { json: true });
    runWithContext(ctx, () => logger.log('placed'));
    logger.log('outside');
    const [inside, outside] = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(inside).toMatchObject({
      message: 'placed',
      context: 'Orders',
      params: { correlationId: 'corr-nest', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) },
    });
    expect(outside).not.toHaveProperty('params');
  });

  it('appends them in text mode', () => {
    const out = captured();
    runWithContext(ctx, () => new BulwarkLogger('Orders', { colors: false }).warn('slow'));
    expect(out.join('')).toMatch(/slow .*correlationId: 'corr-nest'/);
  });
});
