/**
 * Strict IP address and CIDR parsing for trust decisions.
 *
 * ipaddr.js on its own accepts legacy IPv4 spellings ("10" = 0.0.0.10, "127.1", octal "010.0.0.1" = 8.0.0.1),
 * so every address is first gated by node:net's isIP, which accepts only dotted-quad decimal and RFC 4291 text.
 * Two spellings of one address must never get two different trust answers.
 */
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { quoted } from "../policy/text.js";

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Parses an address, turning IPv4-mapped IPv6 (::ffff:10.0.0.1, as dual-stack sockets report) into IPv4. Never
 * throws. A zoned address (fe80::1%eth0) stays IPv6 with its zone: it is scoped to one interface.
 */
export function parseAddress(text: string): IpAddress | null {
  const version = isIP(text);
  if (version === 4) return parseDottedQuad(text);
  if (version === 0) return null;
  // Dual-stack servers report every IPv4 peer as ::ffff:a.b.c.d; skip the general IPv6 parser for them.
  if (text.length > 7 && /^::ffff:/i.test(text)) {
    const tail = text.slice(7);
    if (isIP(tail) === 4) return parseDottedQuad(tail);
  }
  // Node accepts zones ipaddr.js refuses (%br-x1, %eth0.100); the zone is kept aside, never parsed.
  const percent = text.indexOf("%");
  const v6 = parseIPv6(percent < 0 ? text : text.slice(0, percent));
  if (v6 === null) return null;
  if (percent >= 0) {
    v6.zoneId = text.slice(percent + 1);
    return v6;
  }
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * RFC 4291 text (no zone) that isIP has accepted, read group by group. Not ipaddr.js's parser: it reads
 * IPv4-compatible ::10.0.3.7 as IPv4-mapped ::ffff:10.0.3.7 (and Node prints the peer ::a00:307 that way), so
 * an IPv6 peer would pass for the IPv4 proxy 10.0.3.7. A dotted tail is just the last two groups.
 */
function parseIPv6(text: string): ipaddr.IPv6 | null {
  const gap = text.indexOf("::");
  const groups =
    gap < 0
      ? readGroups(text, true)
      : joinGroups(readGroups(text.slice(0, gap), false), readGroups(text.slice(gap + 2), true));
  return groups?.length === 8 ? new ipaddr.IPv6(groups) : null;
}

function joinGroups(head: number[] | null, tail: number[] | null): number[] | null {
  if (head === null || tail === null || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function readGroups(text: string, dottedTail: boolean): number[] | null {
  if (text === "") return [];
  const fields = text.split(":");
  const groups: number[] = [];
  for (const [i, field] of fields.entries()) {
    if (/^[0-9a-f]{1,4}$/i.test(field)) groups.push(parseInt(field, 16));
    else if (dottedTail && i === fields.length - 1 && isIP(field) === 4) {
      const [a, b, c, d] = parseDottedQuad(field).octets as [number, number, number, number];
      groups.push((a << 8) | b, (c << 8) | d);
    } else return null;
  }
  return groups;
}

/**
 * Hot path: ipaddr.js's general parser takes ~1.5 µs per IPv4 address (it tries several notations); isIP has
 * already guaranteed four decimal octets of at most 255, so reading the digits is enough.
 */
function parseDottedQuad(text: string): ipaddr.IPv4 {
  const octets = [0, 0, 0, 0];
  let index = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46 /* "." */) index++;
    else octets[index] = octets[index]! * 10 + (code - 48);
  }
  return new ipaddr.IPv4(octets);
}

/**
 * Parses one X-Forwarded-For entry. Besides a bare address, the unambiguous forms some proxies emit are taken:
 * "1.2.3.4:5678", "[2001:db8::1]" and "[2001:db8::1]:443". Anything else ("unknown", obfuscated RFC 7239
 * identifiers, host names) is null.
 */
export function parseForwardedAddress(entry: string): IpAddress | null {
  const text = entry.trim();
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    const rest = text.slice(close + 1);
    if (close < 0 || !(rest === "" || /^:\d{1,5}$/.test(rest))) return null;
    const inner = text.slice(1, close);
    return isIP(inner) === 6 ? parseAddress(inner) : null;
  }
  const colon = text.indexOf(":");
  if (colon > 0 && text.indexOf(":", colon + 1) < 0) {
    // Exactly one colon: only "IPv4:port" fits, since IPv6 text always has at least two.
    const host = text.slice(0, colon);
    return /^\d{1,5}$/.test(text.slice(colon + 1)) ? parseAddress(host) : null;
  }
  return parseAddress(text);
}

/** A set of networks; IPv4 and IPv6 kept apart because ipaddr.js cannot match across families. */
export class CidrSet {
  constructor(
    private readonly v4: readonly (readonly [ipaddr.IPv4, number])[],
    private readonly v6: readonly (readonly [ipaddr.IPv6, number])[],
  ) {}

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  has(address: IpAddress): boolean {
    // fe80::1%eth0 and fe80::1%eth1 are different hosts, and a range cannot name a zone: never trusted.
    if ((address as ipaddr.IPv6).zoneId !== undefined) return false;
    if (address.kind() === "ipv4") {
      const v4 = address as ipaddr.IPv4;
      for (const [network, bits] of this.v4) if (v4.match(network, bits)) return true;
    } else {
      const v6 = address as ipaddr.IPv6;
      for (const [network, bits] of this.v6) if (v6.match(network, bits)) return true;
    }
    return false;
  }
}

/**
 * Parses CIDRs such as "10.0.0.0/8" or "::1/128"; a bare address means that one host. An IPv4-mapped IPv6
 * network (::ffff:10.0.0.0/104) is stored as its IPv4 equivalent, because addresses are normalised the same way
 * (so a wider IPv6 range holding ::ffff:0:0/96, such as ::/80, is refused: it could never match them);
 * an IPv4-compatible one written dotted (::10.0.0.0/104) is refused, as it does not mean 10.0.0.0/8.
 * Throws one Error listing every bad entry with its index, so a config can be fixed in one pass.
 */
export function parseCidrs(list: readonly string[], what = "trustedProxies"): CidrSet {
  const v4: [ipaddr.IPv4, number][] = [];
  const v6: [ipaddr.IPv6, number][] = [];
  const problems: string[] = [];
  list.forEach((entry, index) => {
    const result = typeof entry === "string" ? parseCidr(entry.trim()) : "not a string";
    if (typeof result === "string") {
      problems.push(`[${index}] ${quoted(entry)}: ${result}`);
    } else if (result[0].kind() === "ipv4") {
      v4.push(result as [ipaddr.IPv4, number]);
    } else {
      v6.push(result as [ipaddr.IPv6, number]);
    }
  });
  if (problems.length > 0) throw new Error(`invalid ${what}: ${problems.join("; ")}`);
  return new CidrSet(v4, v6);
}

/** What is wrong with one trusted-proxy entry, or null (for config loading, which places it). */
export function cidrProblem(entry: string): string | null {
  const result = parseCidr(entry.trim());
  if (typeof result === "string") return result;
  // Trusting every address lets every client write the headers only proxies are believed for.
  if (result[1] === 0) return "a /0 range trusts every address: name your proxies' own addresses";
  // Link-local ranges are taken: an IPv6 one never matches a peer (Node reports it zoned, and zoned
  // peers are never trusted) but does match a hop a trusted proxy forwarded; IPv4 has no zones, so
  // 169.254.0.0/16 matches peers too (link-local.test.ts).
  return null;
}

/** ::ffff:0:0, where the IPv4-mapped addresses start. */
const MAPPED = new ipaddr.IPv6([0, 0, 0, 0, 0, 0xffff, 0, 0]);

/** A parsed network, or a string saying what is wrong with the entry. */
function parseCidr(entry: string): [IpAddress, number] | string {
  const slash = entry.indexOf("/");
  const addressText = slash < 0 ? entry : entry.slice(0, slash);
  const version = isIP(addressText);
  if (version === 0) return "not an IP address or CIDR";
  if (addressText.includes("%")) return "zone IDs (%...) are not supported";
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = entry.slice(slash + 1);
    prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max) return `prefix length must be 0-${max}`;
  }
  let address: IpAddress;
  if (version === 4) address = parseDottedQuad(addressText);
  else {
    const v6 = parseIPv6(addressText);
    if (v6 === null) return "not an IP address or CIDR";
    // ::10.0.0.0 is IPv6 (IPv4-compatible, deprecated), not 10.0.0.0: an operator writing it means the latter.
    if (addressText.includes(".") && v6.parts.slice(0, 6).every((part) => part === 0)) {
      return "::a.b.c.d is an IPv6 address, not IPv4 a.b.c.d: write the IPv4 CIDR, or the IPv6 range in hex";
    }
    address = v6;
  }
  // Mapped peers are matched as IPv4, so a wider IPv6 range holding ::ffff:0:0/96 would seem to
  // trust every IPv4 address yet trust none of them (host bits set or not: ::ffff:0:0/95 says so too).
  if (address instanceof ipaddr.IPv6 && prefix > 0 && prefix < 96 && MAPPED.match(address, prefix)) {
    return "holds ::ffff:0:0/96, every IPv4-mapped address, which are matched as IPv4 and never by an IPv6 range: name IPv4 proxies as IPv4 CIDRs, IPv6 ones by a range of /96 or longer outside ::ffff:0:0/96";
  }
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && prefix >= 96) {
    address = address.toIPv4Address();
    prefix -= 96;
  }
  const network = networkAddress(address, prefix);
  if (network !== address.toString()) {
    // "10.0.0.1/8" might mean the host or the /8; trust configuration must not be guessed.
    const host = address.kind() === "ipv4" ? 32 : 128;
    return `host bits are set (the network is ${network}/${prefix}; for one host use /${host})`;
  }
  return [address, prefix];
}

function networkAddress(address: IpAddress, prefix: number): string {
  const bytes = address.toByteArray();
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return ipaddr.fromByteArray(bytes).toString();
}
