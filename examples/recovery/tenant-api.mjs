/**
 * A fake tenant API, in process, standing in for a remote identity provider. Its state is a JSON
 * file in the data folder, written synchronously on every change: like a real remote API, what it
 * did survives our process being killed.
 *
 * Seeded behaviour, so the sync has something to recover from:
 * - `initech` already exists in the project (created by someone else): 409 TENANT_EXISTS;
 * - `hooli`'s SSO settings are rejected: 422 SSO_REJECTED (the saga then deletes the new tenant);
 * - `cyberdyne` is behind an outage: every call answers 503 until `heal()`.
 *
 * `createTenant` is idempotent per `idempotencyKey`: the same key answers the tenant it created
 * before (`replayed: true`) instead of a conflict, so a sync resumed after a crash is safe.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineError } from '@bulwark/core';

export const TenantExists = defineError({
  code: 'TENANT_EXISTS',
  status: 409,
  title: 'Tenant exists',
  suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
});
export const SsoRejected = defineError({
  code: 'SSO_REJECTED',
  status: 422,
  title: 'SSO settings rejected',
  suggestion: "Fix the tenant's SSO metadata URL in the tenant list, then resume the sync.",
});

const SEED = { tenants: { initech: { by: 'someone-else', sso: false } }, outage: ['cyberdyne'] };

/** Opens (or, with `reset`, re-seeds) the fake API's state in `dir`. */
export function tenantApi(dir, { reset = false } = {}) {
  const file = join(dir, 'tenant-api.json');
  let state;
  try {
    state = reset ? structuredClone(SEED) : JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    state = structuredClone(SEED);
  }
  const save = () => writeFileSync(file, JSON.stringify(state));
  save();
  const unavailable = (id) => {
    if (state.outage.includes(id))
      throw Object.assign(new Error(`tenant API answered 503 for '${id}'`), { status: 503 });
  };
  return {
    async createTenant(tenant, { idempotencyKey }) {
      await new Promise((r) => setTimeout(r, 5));
      unavailable(tenant.id);
      const existing = state.tenants[tenant.id];
      if (existing && existing.by === idempotencyKey) return { id: tenant.id, replayed: true };
      if (existing)
        throw TenantExists.create({
          message: `Tenant ID '${tenant.id}' already exists in project`,
          command: `node sync.mjs update --tenant-id ${tenant.id}`,
        });
      state.tenants[tenant.id] = { by: idempotencyKey, sso: false };
      save();
      return { id: tenant.id, replayed: false };
    },
    async configureSso(tenant) {
      unavailable(tenant.id);
      if (tenant.id === 'hooli')
        throw SsoRejected.create({ message: `The SSO metadata URL of '${tenant.id}' does not answer` });
      state.tenants[tenant.id].sso = true;
      save();
    },
    async deleteTenant(id) {
      delete state.tenants[id];
      save();
    },
    /** Hands an existing tenant to `idempotencyKey` (the CLI's `update`): creating it again is then a replay. */
    adopt(id, idempotencyKey) {
      if (state.tenants[id]) state.tenants[id].by = idempotencyKey;
      save();
    },
    heal() {
      state.outage = [];
      save();
    },
    tenants: () => Object.keys(state.tenants).sort(),
  };
}
