/**
 * The client's rate-limit key from its address. IPv6 clients usually get a whole prefix (a /64
 * per home, a /56 or /48 per site), so one client can rotate through billions of addresses:
 * keying by the full address would give it a fresh bucket per request. The key is therefore the
 * address's network prefix (/56 by default, as express-rate-limit does); IPv4 and IPv4-mapped
 * IPv6 addresses are keyed by the full IPv4 address.
 */

/** Default IPv6 prefix length grouped into one key. */
export const DEFAULT_IPV6_SUBNET = 56;

/** Key of requests without a usable address (they share one bucket). */
export const UNKNOWN_CLIENT = 'ip:unknown';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The key for a client address: `ip:<IPv4>` or `ip:<IPv6 prefix>/<subnet>` (the address masked to
 * `subnet` bits; `false` keeps the whole address). Anything unparsable is {@link UNKNOWN_CLIENT}.
 * @example
 * clientKey('2001:db8:abcd:12ff::1', 56); // 'ip:2001:db8:abcd:1200::/56'
 */
export function clientKey(address: string | undefined, subnet: number | false = DEFAULT_IPV6_SUBNET): string {
  if (address === undefined || address.length === 0 || address.length > 64) return UNKNOWN_CLIENT;
  if (address.indexOf(':') === -1) return IPV4.test(address) ? `ip:${address}` : UNKNOWN_CLIENT;
  const groups = parseIpv6(address);
  if (groups === undefined) return UNKNOWN_CLIENT;
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 client behind a dual-stack socket.
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0) {
    if (groups[5] === 0xffff) {
      const hi = groups[6] as number;
      const lo = groups[7] as number;
      return `ip:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  const bits = subnet === false ? 128 : subnet;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    groups[i] = keep === 0 ? 0 : (groups[i] as number) & ((0xffff << (16 - keep)) & 0xffff);
  }
  return `ip:${formatIpv6(groups)}/${bits}`;
}

/** Eight 16-bit groups, or undefined when `text` is not an IPv6 address (a zone index is dropped). */
function parseIpv6(text: string): number[] | undefined {
  const zone = text.indexOf('%');
  let s = zone === -1 ? text : text.slice(0, zone);
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  const v4 = IPV4.exec(s.slice(lastColon + 1));
  if (v4 !== null) {
    const o = v4.slice(1, 5).map(Number);
    if (o.some((x) => x > 255)) return undefined;
    tail.push(((o[0] as number) << 8) | (o[1] as number), ((o[2] as number) << 8) | (o[3] as number));
    s = `${s.slice(0, lastColon + 1)}0:0`; // placeholders, replaced below
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] as string).split(':')) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const parts = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const groups: number[] = [];
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
    groups.push(Number.parseInt(p, 16));
  }
  if (tail.length === 2) {
    groups[6] = tail[0] as number;
    groups[7] = tail[1] as number;
  }
  return groups;
}

/** RFC 5952 text of eight groups: lower-case hex, the longest run of zero groups as `::`. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
