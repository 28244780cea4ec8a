/**
 * tenant-sync: creates ten tenants at a (fake, in-process) tenant API, as seed 000's CLI does.
 *
 *   node sync.mjs [--continue-on-error] [--rollback] [--crash-after N]   a fresh sync
 *   node sync.mjs --resume [--continue-on-error]                          finish the last one
 *   node sync.mjs dead-letters                                            list the dead letters
 *   node sync.mjs replay                                                  the API is back: replay them
 *   node sync.mjs update --tenant-id ID                                   adopt an existing tenant
 *
 * Each tenant is a saga (create the tenant, then configure its SSO; a failed SSO deletes the
 * tenant again), run by a checkpointed batch under the `tenant-sync` policy, whose `deadLetter`
 * keeps every failed tenant in the dead-letter queue. Progress, saga logs and dead letters live in
 * one durable file, `.data/bulwark.db`; `--crash-after N` kills the process (SIGKILL) in the middle
 * of the next tenant, and `--resume` finishes the run. A run without `--resume` starts from
 * scratch: it resets `.data/` and the fake API's seed data.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { batchReportJson, createBulwark, durableRecords, renderBatchText } from '@bulwark/core';
import { tenantApi } from './tenant-api.mjs';

export const TENANTS = [
  'acme-corp',
  'globex',
  'umbrella',
  'stark',
  'wayne',
  'initech',
  'hooli',
  'cyberdyne',
  'wonka',
  'tyrell',
].map((id) => ({ id, plan: id === 'wonka' ? 'trial' : 'business' }));

const { values: flags, positionals } = parseArgs({
  options: {
    'continue-on-error': { type: 'boolean', default: false },
    rollback: { type: 'boolean', default: false },
    resume: { type: 'boolean', default: false },
    'crash-after': { type: 'string' },
    json: { type: 'boolean', default: false },
    data: { type: 'string' },
    'tenant-id': { type: 'string' },
  },
  allowPositionals: true,
});
const command = positionals[0] ?? 'sync';
const dir = flags.data ?? join(import.meta.dirname, '.data');
const fresh = command === 'sync' && !flags.resume;
if (fresh) rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const api = tenantApi(dir, { reset: fresh });
// Each invocation runs new sagas (a finished saga's id answers its old result); the tenant API's
// idempotency key, not the saga id, is what makes a create after a crash safe.
const invocation = (() => {
  const file = join(dir, 'invocations');
  let n = 0;
  try {
    n = Number(readFileSync(file, 'utf8')) || 0;
  } catch {}
  writeFileSync(file, String(n + 1));
  return n + 1;
})();

const bulwark = createBulwark({
  policies: {
    // Every call to the tenant API: retried on 5xx and network errors, never on a 4xx.
    'tenants-api': { timeout: '2s', retry: { maxAttempts: 3, initialDelay: '10ms' } },
    // Each tenant of the batch: a tenant that still fails lands in the dead-letter queue.
    'tenant-sync': { deadLetter: 'tenants.sync' },
  },
  records: durableRecords({ path: join(dir, 'bulwark.db') }),
});

const crashAfter = flags['crash-after'] === undefined ? undefined : Number(flags['crash-after']);
let finished = 0;
const pad = (s) => s.padEnd(10);

/** One tenant as a saga: each step is logged durably, so a crash mid-tenant resumes it. */
const provision = bulwark.saga('tenant.provision', [
  {
    name: 'create-tenant',
    // Safe to run again after a crash: the API dedupes by the idempotency key.
    idempotent: true,
    do: async (ctx, signal) => {
      const t = ctx.input;
      const created = await bulwark.run(
        'tenants-api',
        () => api.createTenant(t, { idempotencyKey: `sync:${t.id}` }),
        { signal },
      );
      if (crashAfter !== undefined && finished === crashAfter) {
        console.log(`  💥 ${pad(t.id)} created at the tenant API, then SIGKILL before the sync recorded it`);
        process.kill(process.pid, 'SIGKILL');
      }
      return created;
    },
    undo: (ctx) => api.deleteTenant(ctx.input.id),
  },
  {
    name: 'configure-sso',
    do: (ctx, signal) => bulwark.run('tenants-api', () => api.configureSso(ctx.input), { signal }),
  },
]);

async function syncTenant(tenant, sagaId) {
  const result = await provision.run(tenant, { id: sagaId });
  if (!result.ok) {
    const undone = result.compensated.length > 0 ? ` (saga undid: ${result.compensated.join(', ')})` : '';
    console.log(`  ✗ ${pad(tenant.id)} ${result.error?.code ?? 'failed'}${undone}`);
    throw result.error;
  }
  const how = result.results['create-tenant']?.replayed
    ? 'already created by this sync: the create was replayed, not duplicated'
    : 'created';
  console.log(`  ✓ ${pad(tenant.id)} ${how}`);
  return { tenantId: tenant.id };
}

if (command === 'sync') {
  const mode = flags.resume ? 'resuming' : 'fresh run';
  console.log(`tenant-sync: ${TENANTS.length} tenants (${mode})`);
  const report = await bulwark.batch(
    'tenant-sync',
    TENANTS,
    (t) => syncTenant(t, `provision.${t.id}.${invocation}`),
    {
      id: 'tenants.sync',
      key: (t) => t.id,
      criticality: (t) => (t.plan === 'trial' ? 'optional' : 'core'),
      continueOnError: flags['continue-on-error'],
      resume: flags.resume,
      checkpoint: { every: 1 },
      rollback: flags.rollback,
      undo: async (t) => {
        await api.deleteTenant(t.id);
        console.log(`  ↺ ${pad(t.id)} deleted (rollback)`);
      },
      describe: (id) => `Failed to create tenant '${id}'`,
      onOutcome: (o) => {
        if (o.status !== 'skipped') finished++;
      },
    },
  );
  if (report.resumed > 0) console.log(`  ↷ ${report.resumed} tenants done by the earlier run, skipped`);
  console.log('');
  console.log(flags.json ? JSON.stringify(batchReportJson(report), null, 2) : renderBatchText(report));
  console.log(`\ntenants at the API: ${api.tenants().join(', ')}`);
  const dead = (await bulwark.deadLetters.stats()).currentSize;
  if (dead > 0) console.log(`dead letters: ${dead} (node sync.mjs dead-letters)`);
  process.exitCode = report.ok ? 0 : 1;
} else if (command === 'dead-letters') {
  for (const e of await bulwark.deadLetters.list())
    console.log(`${e.status.padEnd(9)} ${pad(e.payload.id)} ${e.error.code}: ${e.error.message}`);
} else if (command === 'replay') {
  api.heal();
  console.log('the tenant API is back; replaying the dead letters');
  // A replay is a new saga run (the first one finished: it was undone).
  bulwark.deadLetters.handle('tenants.sync', (tenant, run) =>
    syncTenant(tenant, `provision.${tenant.id}.replay-${run.entry.id}-${run.attempt}`),
  );
  const r = await bulwark.deadLetters.replay({ type: 'tenants.sync', status: ['pending', 'retrying'] });
  console.log(`recovered ${r.recovered.length}, failed again ${r.failed.length}`);
} else if (command === 'update' && flags['tenant-id']) {
  api.adopt(flags['tenant-id'], `sync:${flags['tenant-id']}`);
  console.log(`tenant ${flags['tenant-id']} updated: this sync manages it now (resume to finish it)`);
} else {
  console.error(
    `unknown command '${command}': use sync (default), dead-letters, replay or update --tenant-id ID`,
  );
  process.exitCode = 2;
}
await bulwark.close();
