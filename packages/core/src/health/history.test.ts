import { describe, expect, it } from 'vitest';
import { CheckHistory } from './history.js';

const at = (minute: number, second = 0) => minute * 60_000 + second * 1000;

describe('CheckHistory', () => {
  it('keeps the last N results, oldest first', () => {
    const h = new CheckHistory(3);
    for (let i = 0; i < 5; i++) h.add({ status: i % 2 ? 'down' : 'up', at: at(10, i), durationMs: i });
    expect(h.list().map((r) => r.durationMs)).toEqual([2, 3, 4]);
    expect(h.last()?.durationMs).toBe(4);
    expect(h.latency()).toEqual({ last: 4, mean: 3, max: 4 });
  });

  it('computes availability over 5 minutes and an hour from bounded minute buckets', () => {
    const h = new CheckHistory(10);
    expect(h.availability(at(100))).toEqual({ '5m': null, '1h': null });
    h.add({ status: 'down', at: at(40), durationMs: 1 }); // an hour ago and more: forgotten
    h.add({ status: 'down', at: at(50), durationMs: 1 }); // within the hour, not within 5 minutes
    h.add({ status: 'up', at: at(98), durationMs: 1 });
    h.add({ status: 'up', at: at(99), durationMs: 1 });
    h.add({ status: 'down', at: at(100), durationMs: 1 });
    h.add({ status: 'up', at: at(100, 30), durationMs: 1 });
    expect(h.availability(at(100, 40))).toEqual({ '5m': 3 / 4, '1h': 3 / 5 });
    // A bucket reused 60 minutes later starts from zero.
    h.add({ status: 'up', at: at(110), durationMs: 1 });
    expect(h.availability(at(110))['5m']).toBe(1);
  });
});
