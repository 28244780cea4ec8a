/**
 * What changes on every run in an example's output (ids, timestamps, timings) becomes a
 * placeholder before shown output is compared with real output. Everything else must match.
 */
const RULES: [RegExp, string][] = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>'],
  [/\b[0-9a-f]{32}\b/g, '<trace-id>'],
  [/\b[0-9a-f]{16}\b/g, '<span-id>'],
  [/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<time>'],
  [/"(pid|timestamp|time|ms|inboundDeadlineMs)":\d+/g, '"$1":<n>'],
  [/\bin \d+ ms\b/g, 'in <n> ms'],
  [/-?\d+ ms left/g, '<n> ms left'],
  // Seconds until the limiter allows the next request: rounds differently as the clock moves.
  [/(;r=\d+;)t=\d+/g, '$1t=<n>'],
  [/^(content-length|date|keep-alive|connection|etag):.*$/gi, '$1: <…>'],
];

/** One line with its run-specific parts replaced. */
export function normalize(line: string): string {
  let out = line.trimEnd();
  for (const [re, to] of RULES) out = out.replace(re, to);
  return out;
}
