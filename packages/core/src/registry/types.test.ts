// Type tests: type-checked by the root `tsc` over tests (npm run typecheck), and run by vitest.
import { describe, expectTypeOf, it } from 'vitest';
import { pipeline } from '../pipeline.js';
import { fallback } from '../policies/fallback.js';
import { retry } from '../policies/retry.js';
import { timeout } from '../policies/timeout.js';
import type { Policy } from '../types.js';
import type { Duration } from '../util/duration.js';
import { type Bulwark, createBulwark } from './bulwark.js';
import type { BulwarkConfig } from './config.js';

const none = { env: false, file: false } as const;

describe('types', () => {
  it('a fallback resolves to T | R', () => {
    const fb = fallback({ fallback: { value: ['cached'] } });
    expectTypeOf(fb.execute(async () => 42)).toEqualTypeOf<Promise<number | string[]>>();
    const fromFn = fallback({ fallback: async () => null });
    expectTypeOf(fromFn.execute(async () => 'live')).toEqualTypeOf<Promise<string | null>>();
  });

  it('a pipeline carries its fallback value; one without a fallback resolves to T', () => {
    const withFallback = pipeline(fallback({ fallback: () => 0 }), timeout('1s'), retry());
    expectTypeOf(withFallback.execute(async () => 'x')).toEqualTypeOf<Promise<string | number>>();
    const plain = pipeline(timeout('1s'), retry());
    expectTypeOf(plain.execute(async () => 'x')).toEqualTypeOf<Promise<string>>();
    expectTypeOf(plain).toEqualTypeOf<Policy>();
  });

  it("run() includes a named policy's fallback value where the config's type names it", async () => {
    const b = createBulwark(
      {
        defaults: { fallback: { value: 'default' as const } },
        policies: {
          catalog: { fallback: { value: [] as string[] }, timeout: '2s' },
          profile: { fallback: async () => undefined },
          inherits: { timeout: '1s' },
          strict: { fallback: false, retry: {} },
        },
      },
      none,
    );
    expectTypeOf(b.run('catalog', async () => ['a'])).toEqualTypeOf<Promise<string[]>>();
    expectTypeOf(b.run('catalog', async () => 1)).toEqualTypeOf<Promise<number | string[]>>();
    expectTypeOf(b.run('profile', async () => 1)).toEqualTypeOf<Promise<number | undefined>>();
    expectTypeOf(b.run('inherits', async () => 1)).toEqualTypeOf<Promise<number | 'default'>>();
    expectTypeOf(b.run('strict', async () => 1)).toEqualTypeOf<Promise<number>>();
    await b.close();
  });

  it('a config whose names are unknown at compile time resolves run() to T', () => {
    const config: BulwarkConfig = { policies: { api: { fallback: { value: 1 } } } };
    const b = createBulwark(config, none);
    expectTypeOf(b).toEqualTypeOf<Bulwark>();
    expectTypeOf(b.run('api', async () => 'x')).toEqualTypeOf<Promise<string>>();
    void b.close();
  });

  it('catches typos in code config and durations that are not durations', () => {
    // @ts-expect-error: 'polices' is not a config key
    expectTypeOf(() => createBulwark({ polices: {} }, none)).toBeFunction();
    // @ts-expect-error: '2 seconds' is not a Duration
    const bad: Duration = '2 seconds';
    const good: Duration[] = [250, '250ms', '2s', '1.5m', '1h'];
    expectTypeOf(good).items.toEqualTypeOf<Duration>();
    void bad;
  });
});
