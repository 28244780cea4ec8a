import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import type { BulwarkEvent } from '../telemetry/events.js';
import { switchableCheck as switchable } from './health.test-helper.js';

describe('bulwark.features and bulwark.degraded()', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function setup() {
    const b = createBulwark();
    const events: BulwarkEvent[] = [];
    b.events.onAny((e) => {
      if (e.type === 'feature.changed' || e.type === 'degraded.changed') events.push(e);
    });
    const db = switchable();
    const recs = switchable();
    b.health.register('db', { criticality: 'core', check: db.check, interval: '1s' });
    b.health.register('recs', { criticality: 'stretch', check: recs.check, interval: '1s' });
    b.features.define('recommendations', { dependsOn: ['recs'] });
    b.features.define('beta-search', { enabled: false });
    await vi.advanceTimersByTimeAsync(0);
    return { b, events, db, recs };
  }

  it('a feature is off while its dependency is down, and on again when it is back, with events', async () => {
    const { b, events, recs } = await setup();
    expect(b.features.isEnabled('recommendations')).toBe(true);
    expect(b.degraded()).toEqual({
      active: false,
      reasons: [],
      features: [{ name: 'beta-search', reason: 'its toggle is off' }],
      dependencies: [],
    });
    recs.state.ok = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.features.isEnabled('recommendations')).toBe(false);
    expect(b.degraded()).toEqual({
      active: true,
      reasons: ["stretch dependency 'recs' is down: its check failed (ECONNREFUSED)"],
      features: [
        { name: 'recommendations', reason: "its dependency 'recs' is down" },
        { name: 'beta-search', reason: 'its toggle is off' },
      ],
      dependencies: [{ name: 'recs', criticality: 'stretch', detail: 'its check failed (ECONNREFUSED)' }],
    });
    recs.state.ok = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.features.isEnabled('recommendations')).toBe(true);
    expect(b.degraded().active).toBe(false);
    expect(
      events.map((e) =>
        e.type === 'feature.changed'
          ? `${e.feature}:${e.enabled}`
          : `degraded:${(e as { active: boolean }).active}`,
      ),
    ).toEqual(['recommendations:false', 'degraded:true', 'recommendations:true', 'degraded:false']);
    await b.close();
  });

  it('toggles switch at run time, each change an event; an unknown name throws with a did-you-mean', async () => {
    const { b, events } = await setup();
    b.features.set('beta-search', true);
    expect(b.features.isEnabled('beta-search')).toBe(true);
    b.features.set('beta-search', true); // no change, no event
    b.features.set('recommendations', false);
    expect(b.features.isEnabled('recommendations')).toBe(false);
    expect(b.features.list()).toEqual([
      {
        name: 'recommendations',
        enabled: false,
        toggle: false,
        reason: 'its toggle is off',
        dependsOn: ['recs'],
      },
      { name: 'beta-search', enabled: true, toggle: true, dependsOn: [] },
    ]);
    expect(events).toMatchObject([
      { type: 'feature.changed', feature: 'beta-search', enabled: true },
      { type: 'feature.changed', feature: 'recommendations', enabled: false, reason: 'its toggle is off' },
    ]);
    expect(b.degraded().active).toBe(false); // a toggle alone is a product decision, not a degradation
    expect(() => b.features.isEnabled('recomendations')).toThrow(
      `Unknown feature "recomendations". Did you mean 'recommendations'?`,
    );
    expect(() => b.features.set('beta-search', 'yes' as unknown as boolean)).toThrow(/true or false/);
    expect(() => b.features.define('recommendations')).toThrow(/already defined/);
    expect(() => b.features.define('other', { dependsOn: ['rec'] })).toThrow(/did you mean 'recs'/);
    await b.close();
  });

  it('an operator forces degraded mode and lifts it', async () => {
    const { b, events } = await setup();
    b.features.forceDegraded('failover drill');
    expect(b.degraded()).toMatchObject({
      active: true,
      forced: 'failover drill',
      reasons: ['forced by an operator: failover drill'],
    });
    b.features.forceDegraded(undefined);
    expect(b.degraded().active).toBe(false);
    expect(events).toMatchObject([
      { type: 'degraded.changed', active: true, reasons: ['forced by an operator: failover drill'] },
      { type: 'degraded.changed', active: false, reasons: [] },
    ]);
    expect(() => b.features.forceDegraded('')).toThrow(/non-empty reason/);
    await b.close();
  });

  it('a core dependency down degrades too (and the service is down)', async () => {
    const { b, db } = await setup();
    db.state.ok = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.health.status()).toBe('down');
    expect(b.degraded()).toMatchObject({ active: true, dependencies: [{ name: 'db', criticality: 'core' }] });
    await b.close();
  });
});
