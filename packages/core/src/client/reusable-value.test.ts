import { describe, expect, it } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import { reusableValue } from './reusable-value.js';

describe('reusableValue', () => {
  it('clones a Response or Request per use, returns anything else as is', async () => {
    const cached = Response.json({ items: [1] });
    const a = reusableValue(cached);
    const b = reusableValue(cached);
    expect(await a.json()).toEqual({ items: [1] });
    expect(await b.json()).toEqual({ items: [1] });
    const req = new Request('http://127.0.0.1/', { method: 'POST', body: 'x' });
    expect(await reusableValue(req).text()).toBe('x');
    const o = { a: 1 };
    expect(reusableValue(o)).toBe(o);
  });

  it('lets fallback: { value: Response.json(cached) } answer every call (issue 8 item 10)', async () => {
    const bw = createBulwark({
      policies: { inventory: { retry: false, fallback: { value: Response.json({ items: [] }) } } },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = (await bw.run('inventory', () => Promise.reject(new Error('down')))) as Response;
        expect(await res.json()).toEqual({ items: [] });
      }
    } finally {
      await bw.close();
    }
  });
});
