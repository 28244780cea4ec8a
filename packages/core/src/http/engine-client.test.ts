import { describe, expect, it } from 'vitest';
import { AdapterRequest } from './adapter-request.js';
import { createHttpEngine } from './engine.js';
import type { Admission, InboundRequest } from './types.js';

/** An adapter-style request that counts how often its (lazy) signal is read. */
class Counting extends AdapterRequest {
  readonly method = 'GET';
  readonly path = '/x';
  readonly routeKey = undefined;
  readonly headers: InboundRequest['headers'] = {};
  readonly remoteAddress = undefined;
  reads = 0;
  setHeader(): void {}
  override get signal(): AbortSignal {
    this.reads++;
    return super.signal;
  }
}

describe('the client signal of an adapter request', () => {
  it('is not created on the fast path (a free bulkhead slot), only when the request must queue', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '10s' } });
    const first = new Counting();
    const a = e.admit(first) as Admission;
    first.admission = a;
    expect(first.reads).toBe(0);

    const second = new Counting();
    const queued = e.admit(second);
    expect(queued).toBeInstanceOf(Promise);
    expect(second.reads).toBe(1);
    second.closed(false); // the client leaves while queued: its place is given up at once
    expect((await queued).rejection?.status).toBe(499);
    first.closed(true);
  });

  it('hands a client that already left an aborted signal, and frees its slot on close', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    const gone = new Counting();
    gone.closed(false);
    const a = await e.admit(gone);
    gone.admission = a;
    expect(a.signal.aborted).toBe(true);
    a.release(); // what the adapter does at once when it sees `gone` after admission
    const next = new Counting();
    expect((e.admit(next) as Admission).rejection).toBeUndefined();
  });
});
