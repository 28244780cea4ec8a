// npm run bench:propagation — what automatic fetch propagation (the undici:request:create
// subscriber) costs per call: loopback fetches inside a request context, with and without
// enableFetchPropagation, sequential and 32 at a time. Rounds alternate the two cases (and their
// order) so drift on a shared machine hits both alike; medians per case, ratio with/without.
// Also the cost of building the headers alone. Target: ≤ 5% overhead on a loopback fetch.
// Prints tables, writes bench/results/propagation.json. Run on the built package (npm run build first).

import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import { enableFetchPropagation, outgoingHeaders, runWithContext } from '../packages/core/dist/index.js';
import { compare, median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
// Many short rounds rather than a few long ones: a loaded machine's drift then hits both cases alike.
const rounds = quick ? 5 : 25;
const sequential = quick ? 200 : 400;
const batches = quick ? 10 : 40;
const width = 32;

let propagated = 0;
let plain = 0;
const server = http.createServer((req, res) => {
  if (req.headers['x-request-id'] === undefined) plain++;
  else propagated++;
  res.setHeader('content-length', '2');
  res.end('ok');
});
server.keepAliveTimeout = 60_000;
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

const ctx = () => ({
  correlationId: 'bench-correlation-id',
  trace: {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    parentId: 'c'.repeat(16),
    flags: 1,
    tracestate: 'v=1',
  },
  criticality: 'default',
  degraded: [],
  deadline: Date.now() + 60_000,
});

async function one() {
  const res = await fetch(url);
  await res.arrayBuffer();
}

/** ns per fetch for `n` sequential fetches inside one request context. */
function runSequential(n) {
  return runWithContext(ctx(), async () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await one();
    return Number(process.hrtime.bigint() - t0) / n;
  });
}

/** ns per fetch for `b` batches of `width` concurrent fetches, each batch in its own context. */
async function runConcurrent(b) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < b; i++) {
    await runWithContext(ctx(), () => Promise.all(Array.from({ length: width }, one)));
  }
  return Number(process.hrtime.bigint() - t0) / (b * width);
}

/** One measurement with or without the subscriber. */
async function measure(withPropagation, fn) {
  const handle = withPropagation ? enableFetchPropagation() : undefined;
  try {
    return await fn();
  } finally {
    handle?.dispose();
  }
}

async function scenario(name, fn) {
  // Warm up both paths (JIT, keep-alive sockets).
  await measure(false, () => fn(true));
  await measure(true, () => fn(true));
  const off = [];
  const on = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which case goes first in each round.
    if (r % 2 === 0) {
      off.push(await measure(false, () => fn(false)));
      on.push(await measure(true, () => fn(false)));
    } else {
      on.push(await measure(true, () => fn(false)));
      off.push(await measure(false, () => fn(false)));
    }
  }
  const offMed = median(off);
  const onMed = median(on);
  // Ratio per round too: each pair ran back to back, so it is the least noisy estimate.
  const ratios = on.map((v, i) => v / off[i]);
  return {
    scenario: name,
    'without (µs/fetch)': (offMed / 1000).toFixed(1),
    'with (µs/fetch)': (onMed / 1000).toFixed(1),
    'ratio of medians': (onMed / offMed).toFixed(3),
    'median paired ratio': median(ratios).toFixed(3),
    'overhead %': ((median(ratios) - 1) * 100).toFixed(1),
  };
}

const rows = [
  await scenario('sequential', (warm) => runSequential(warm ? 1_000 : sequential)),
  await scenario(`concurrent x${width}`, (warm) => runConcurrent(warm ? 40 : batches)),
];
table(`fetch over loopback, ${rounds} alternating rounds (median)`, rows);

// The header work alone, per call.
const c = ctx();
const [headers] = await compare(
  [{ name: 'outgoingHeaders()', fn: () => runWithContext(c, () => outgoingHeaders()) }],
  {
    iterations: quick ? 20_000 : 200_000,
    rounds: quick ? 3 : 7,
    warmup: 20_000,
  },
);
// The CPU the subscriber adds to one fetch, measured without the network: publish a request
// shaped like undici's on the channel, with and without the subscriber. Noise-free, unlike the
// loopback ratio, so it bounds the real overhead: added ns / ns per fetch.
const channel = diagnostics.channel('undici:request:create');
const undiciHeaders = [
  'accept',
  '*/*',
  'accept-language',
  '*',
  'sec-fetch-mode',
  'cors',
  'user-agent',
  'node',
];
const fakeRequest = () => {
  const h = undiciHeaders.slice();
  return {
    origin: 'http://127.0.0.1:1',
    path: '/',
    method: 'GET',
    headers: h,
    addHeader: (k, v) => h.push(k, v),
  };
};
const publish = () => runWithContext(c, () => channel.publish({ request: fakeRequest() }));
const subscribed = enableFetchPropagation();
const [withSub] = await compare([{ name: 'publish, subscribed', fn: publish }], {
  iterations: 100_000,
  rounds: 5,
});
subscribed.dispose();
const [withoutSub] = await compare([{ name: 'publish, none', fn: publish }], {
  iterations: 100_000,
  rounds: 5,
});
const addedNs = withSub.nsPerCall - withoutSub.nsPerCall;
const fetchNs = Number(rows[0]['without (µs/fetch)']) * 1000;
table('building the headers, and the CPU the subscriber adds per fetch', [
  { case: headers.name, 'ns/call': headers.nsPerCall.toFixed(0), 'share of a sequential fetch': '' },
  {
    case: 'undici:request:create subscriber',
    'ns/call': addedNs.toFixed(0),
    'share of a sequential fetch': `${((addedNs / fetchNs) * 100).toFixed(2)} %`,
  },
]);
console.log(`\nsanity: ${propagated} requests carried the headers, ${plain} did not`);

server.closeAllConnections();
server.close();
save('propagation', {
  rounds,
  sequential,
  batches,
  width,
  fetch: rows,
  headersNsPerCall: headers.nsPerCall,
  propagated,
  plain,
});
