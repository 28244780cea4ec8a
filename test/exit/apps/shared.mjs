/** What the three drain-test apps share: config, the slow work, and the lines the test reads. */
/** Settings from the test, as JSON in the first argument. */
const {
  delayMs: DELAY_MS = 300,
  slowMs: SLOW_MS = 1500,
  expect: EXPECT = 50,
} = JSON.parse(process.argv[2] ?? '{}');

/** Nest handles the signal itself (enableShutdownHooks); the others let Bulwark do it. */
const nest = process.argv[1]?.endsWith('nest.mjs');
export const config = {
  lifecycle: { handleSignals: nest ? false : ['SIGTERM'], delay: DELAY_MS, drainTimeout: '5s' },
};

let arrived = 0;
/** The slow handler: counts arrivals (the test waits for all of them before SIGTERM). */
export async function slow(id) {
  if (++arrived === EXPECT) console.log(JSON.stringify({ arrived }));
  await new Promise((r) => setTimeout(r, SLOW_MS));
  return { id: String(id) };
}

const line = (o) => console.log(JSON.stringify(o));
export const report = {
  listening(server) {
    line({ port: server.address().port });
  },
  events(core) {
    core.events.on('lifecycle.refusing', (e) => line({ event: e.type, inFlight: e.inFlight }));
    core.events.on('lifecycle.cut', (e) => line({ event: e.type, count: e.count }));
    core.events.on('lifecycle.stopped', (e) => line({ event: e.type, report: e.report }));
  },
};
