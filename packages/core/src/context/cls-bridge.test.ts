import { createNamespace, destroyNamespace } from 'cls-hooked';
import { afterEach, describe, expect, it } from 'vitest';
import { testContext } from '../propagation/testing.test-helper.js';
import { bridgeClsHooked } from './cls-bridge.js';
import { runWithContext } from './context.js';

const NS = 'bulwark-test';
afterEach(() => destroyNamespace(NS));

describe('bridgeClsHooked', () => {
  it('writes the correlation ID and context into a real namespace, visible across async hops', async () => {
    const ns = createNamespace(NS);
    const bridge = bridgeClsHooked(ns);
    const ctx = testContext();
    const seen = await runWithContext(ctx, () =>
      bridge.run(async () => {
        await new Promise((r) => setTimeout(r, 1));
        return [ns.get('correlationId'), ns.get('bulwark')];
      }),
    );
    expect(seen).toEqual(['corr-123', ctx]);
    expect(ns.get('correlationId')).toBeUndefined();
  });

  it('keeps concurrent requests apart', async () => {
    const ns = createNamespace(NS);
    const bridge = bridgeClsHooked(ns, { key: 'reqId' });
    const one = (id: string, delay: number) =>
      runWithContext(testContext({ correlationId: id }), () =>
        bridge.run(async () => {
          await new Promise((r) => setTimeout(r, delay));
          return ns.get('reqId');
        }),
      );
    expect(await Promise.all([one('a', 5), one('b', 1)])).toEqual(['a', 'b']);
  });

  it('works as Express- and Koa-style middleware, and is a no-op outside a request', async () => {
    const ns = createNamespace(NS);
    const bridge = bridgeClsHooked(ns);
    let got: unknown;
    runWithContext(testContext(), () =>
      bridge.middleware()({}, {}, () => {
        got = ns.get('correlationId');
      }),
    );
    expect(got).toBe('corr-123');
    const koa = await runWithContext(testContext({ correlationId: 'k' }), () =>
      bridge.koa()({}, async () => ns.get('correlationId')),
    );
    expect(koa).toBe('k');
    expect(bridge.run(() => ns.active)).toBeNull();
  });

  it('rejects something that is not a namespace', () => {
    expect(() => bridgeClsHooked({} as never)).toThrow(/cls-hooked Namespace/);
    expect(() => bridgeClsHooked(createNamespace(NS), { key: '' })).toThrow(/key/);
  });
});
