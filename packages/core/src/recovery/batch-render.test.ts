import { describe, expect, it } from 'vitest';
import { BulwarkError } from '../errors/bulwark-error.js';
import { defineError } from '../errors/define-error.js';
import { runBatch } from './batch.js';
import { batchReportJson, batchResponse, renderBatchText } from './batch-render.js';

const Exists = defineError({
  code: 'RENDER_TEST_TENANT_EXISTS',
  status: 409,
  title: 'Tenant exists',
  suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
  command: 'tenant update --tenant-id <id>',
});

const ms = (s: string) => s.replace(/in \d+ ms/g, 'in N ms');

async function report(
  failing: Record<string, unknown>,
  extra: Parameters<typeof runBatch<string, void>>[2] = {},
) {
  return runBatch(
    ['acme-corp', 'globex', 'initech', 'metrics'],
    async (t) => {
      if (t in failing) throw failing[t];
    },
    {
      name: 'tenants.sync',
      checkpoint: false,
      continueOnError: true,
      criticality: (t) => (t === 'metrics' ? 'optional' : 'core'),
      describe: (t) => `Failed to sync tenant '${t}'`,
      ...extra,
    },
  );
}

describe('renderBatchText', () => {
  it('prints Error / Reason / Suggestion / Command per failure, Warning for optional items, then the counts', async () => {
    const r = await report({
      'acme-corp': Exists.create({
        message: "Tenant ID 'acme-corp' already exists in project",
        command: 'tenant update --tenant-id acme-corp',
      }),
      globex: new BulwarkError('RETRY_EXHAUSTED', {
        message: 'Retries exhausted after 3 attempts',
        cause: new Error('connect ECONNREFUSED 127.0.0.1:9'),
      }),
      metrics: new Error('metrics endpoint down'),
    });
    expect(ms(renderBatchText(r)).split('\n')).toEqual([
      "Error: Failed to sync tenant 'acme-corp' (RENDER_TEST_TENANT_EXISTS, in N ms)",
      "Reason: Tenant ID 'acme-corp' already exists in project",
      "Suggestion: Use 'tenant update' instead, or delete the existing tenant first.",
      'Command: tenant update --tenant-id acme-corp',
      '',
      "Error: Failed to sync tenant 'globex' (RETRY_EXHAUSTED, in N ms)",
      'Reason: Retries exhausted after 3 attempts: connect ECONNREFUSED 127.0.0.1:9',
      'Suggestion: Every attempt failed with a retryable error. Check the dependency named in the detail; the cause holds the last failure.',
      '',
      "Warning: Failed to sync tenant 'metrics' (INTERNAL_ERROR, optional, in N ms)",
      'Reason: metrics endpoint down',
      'Suggestion: An unexpected error occurred. Report the correlation ID to the service owners so they can find it in the logs.',
      '',
      'tenants.sync: partial — 1 succeeded, 3 failed, 0 skipped of 4 in N ms',
      '  core: 1 succeeded, 2 failed, 0 skipped',
      '  optional: 0 succeeded, 1 failed, 0 skipped',
    ]);
  });

  it('shows the items not run, the rollback, the levels, and caps the failures shown', async () => {
    const r = await runBatch(
      ['a', 'b', 'c', 'd'],
      async (t) => {
        if (t === 'b' || t === 'c') throw new Error(`${t} broke`);
      },
      {
        checkpoint: false,
        rollback: true,
        undo: () => undefined,
        level: (t) => (t === 'd' ? 1 : 0),
        continueOnError: true,
      },
    );
    const text = ms(renderBatchText(r, { maxFailures: 1 }));
    expect(text).toContain("Error: Item 'b' failed (INTERNAL_ERROR, in N ms)");
    expect(text).not.toContain("Item 'c' failed");
    expect(text).toContain('… and 1 more failures');
    expect(text).toContain('batch: rolled-back — 1 succeeded, 2 failed, 1 skipped of 4 in N ms');
    expect(text).toContain('  level 0: 1 succeeded, 2 failed, 0 skipped in N ms');
    expect(text).toContain('  level 1: 0 succeeded, 0 failed, 1 skipped in N ms');
    expect(text).toContain('  not run: d');
    expect(text).toContain('  rolled back: 1 (a)');
  });

  it('says how many items an earlier run finished', async () => {
    const { memoryRecords } = await import('../stores/records.js');
    const store = memoryRecords();
    await runBatch(['a', 'b'], async () => undefined, { records: store, id: 'x' });
    const r = await runBatch(['a', 'b', 'c'], async () => undefined, {
      records: store,
      id: 'x',
      resume: true,
    });
    expect(ms(renderBatchText(r))).toContain(
      'batch: complete — 1 succeeded, 0 failed, 2 skipped of 3, 2 done by an earlier run in N ms',
    );
    expect(renderBatchText(r)).toMatch(/checkpoint: x \(\d+ writes\)/);
    await store.close();
  });
});

describe('batchReportJson', () => {
  it('is plain JSON without raw errors; in production an unknown error says only its title', async () => {
    const r = await report({ globex: new Error('password=hunter2 rejected') });
    const dev = batchReportJson(r);
    expect(JSON.parse(JSON.stringify(dev))).toEqual(dev);
    expect(dev.outcomes.every((o) => !('error' in o))).toBe(true);
    expect(dev.failures[0]?.reason).toBe('password=hunter2 rejected');
    const prod = batchReportJson(r, { production: true });
    expect(JSON.stringify(prod)).not.toContain('hunter2');
    expect(prod.failures[0]?.reason).toBe('Internal Server Error');
  });
});

describe('batchResponse', () => {
  it('200 with the JSON report when every core item succeeded (optional failures are warnings)', async () => {
    const r = await report({ metrics: new Error('down') });
    const res = batchResponse(r, { production: true });
    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toBe('application/json');
    expect(res.body).toMatchObject({ ok: true, warnings: 1, status: 'partial' });
  });

  it('502 problem+json listing the failed items when core items failed on their own work', async () => {
    const r = await report({
      'acme-corp': Exists.create({ message: 'acme-corp exists' }),
      metrics: new Error('secret detail'),
    });
    const res = batchResponse(r, { production: true, instance: '/sync', correlationId: 'c-1' });
    expect(res.status).toBe(502);
    expect(res.headers).toMatchObject({
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
    });
    expect(res.body).toEqual({
      type: 'tag:bulwark,2026:problems/batch-failed',
      title: 'Batch incomplete',
      status: 502,
      code: 'BATCH_FAILED',
      detail: "Batch 'tenants.sync': 2 of 4 items failed.",
      instance: '/sync',
      correlationId: 'c-1',
      suggestion: expect.stringContaining('run the batch again with resume'),
      batch: { name: 'tenants.sync', status: 'partial', total: 4, succeeded: 2, failed: 2, skipped: 0 },
      failed: [
        {
          key: 'acme-corp',
          criticality: 'core',
          code: 'RENDER_TEST_TENANT_EXISTS',
          status: 409,
          title: 'Tenant exists',
          detail: 'acme-corp exists',
          suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
          command: 'tenant update --tenant-id <id>',
        },
        {
          key: 'metrics',
          criticality: 'optional',
          code: 'INTERNAL_ERROR',
          status: 500,
          title: 'Internal Server Error',
          suggestion: expect.any(String),
        },
      ],
    });
    expect(JSON.stringify(res.body)).not.toContain('secret detail');
  });

  it('500 when a core item failed with an unknown error (a bug here); messages shown outside production', async () => {
    const r = await report({ globex: new TypeError('undefined is not a function') });
    expect(batchResponse(r, { production: true }).status).toBe(500);
    const dev = batchResponse(r, { production: false, maxItems: 0 });
    expect(dev.body).toMatchObject({ failed: [], failedOmitted: 1 });
    const full = batchResponse(r, { production: false });
    expect((full.body as unknown as { failed: { detail?: string }[] }).failed[0]?.detail).toBe(
      'undefined is not a function',
    );
  });

  it('names the items not run and rolled back in the detail', async () => {
    const r = await runBatch(
      ['a', 'b', 'c'],
      async (t) => {
        if (t === 'b') throw Exists.create();
      },
      { checkpoint: false, rollback: true, undo: () => undefined },
    );
    expect((batchResponse(r, { production: true }).body as { detail?: string }).detail).toBe(
      "Batch 'batch': 1 of 3 items failed; 1 not run; 1 rolled back.",
    );
  });
});
