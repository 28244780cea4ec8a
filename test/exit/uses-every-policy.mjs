// Uses every policy, the registry and the HTTP engine, and never calls close(): the process must
// still exit by itself once the work is done (no timer or listener may keep it alive).
import {
  bulkhead,
  circuitBreaker,
  createBulwark,
  fallback,
  memoryStore,
  pipeline,
  rateLimit,
  retry,
  timeout,
} from '../../packages/core/dist/index.js';

const flaky = (() => {
  let n = 0;
  return async () => {
    n++;
    if (n % 2) throw Object.assign(new Error('flaky'), { code: 'ECONNRESET' });
    return n;
  };
})();

const r = retry({ maxAttempts: 3, initialDelay: 5 });
await r.execute(flaky);

const cb = circuitBreaker({ volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: '1h' });
await cb.execute(() => Promise.reject(new Error('x')), { key: 'a' }).catch(() => {});
await cb.execute(() => 1, { key: 'a' }).catch(() => {}); // now open: a reset timer is pending for 1h
await cb.execute(() => 1, { key: 'b' });

await timeout({ timeout: '1h' }).execute(async () => 1);
await timeout(10)
  .execute((signal) => new Promise((_, rej) => signal.addEventListener('abort', () => rej(signal.reason))))
  .catch(() => {});

const bh = bulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeout: '1h' });
await Promise.all([bh.execute(async () => 1), bh.execute(async () => 2)]);

await fallback({ fallback: { value: 0 }, staleIfError: '1h' }).execute(() => Promise.reject(new Error('y')));
await rateLimit({ limit: 5, interval: '1h' }).execute(async () => 1);

const store = memoryStore();
await store.set('k', 'v', 3_600_000);
await store.increment('n', 1, 3_600_000);
await store.subscribe('ch', () => {});
await store.publish('ch', 'hello');

const core = createBulwark({
  policies: {
    api: {
      fallback: { value: 'f' },
      timeout: '1h',
      retry: { maxAttempts: 2, initialDelay: 1 },
      circuitBreaker: true,
      attemptTimeout: '2s',
      bulkhead: { maxConcurrent: 2 },
    },
  },
  http: {
    rateLimit: { limit: 100, interval: '1h' },
    bulkhead: { maxConcurrent: 2, maxQueue: 2, queueTimeout: '1h' },
    deadline: { default: '1h' },
  },
});
await core.run('api', flaky);
const admission = await core.http.admit({
  method: 'GET',
  path: '/x',
  headers: { 'x-deadline-ms': '3600000' },
});
void admission.signal; // arms the deadline timer
await core.http.protect(admission, core.http.route({ timeout: '1h' }), async () => 1);
admission.release();
await pipeline(timeout('1h'), retry({ maxAttempts: 2 }), bulkhead()).execute(async () => 1);

// Health: one background timer for the checks, a hanging check with its timeout, a breaker link.
core.health.register('db', { check: async () => {}, interval: '1h' });
core.health.register('slow', { check: () => new Promise(() => {}), timeout: '1h', interval: '1h' });
core.health.register('api', { criticality: 'optional', check: async () => {}, policies: ['api'] });
core.features.define('search', { dependsOn: ['api'] });
await core.health.checkNow('db');

console.log('done');
