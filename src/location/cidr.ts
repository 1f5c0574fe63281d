/**
 * Strict IP address and CIDR parsing for trust decisions.
 *
 * ipaddr.js on its own accepts legacy IPv4 spellings ("10" = 0.0.0.10, "127.1", octal "010.0.0.1" = 8.0.0.1),
 * so every address is first gated by node:net's isIP, which accepts only dotted-quad decimal and RFC 4291 text.
 * Two spellings of one address must never get two different trust answers.
 */
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses an address, turning IPv4-mapped IPv6 (::ffff:10.0.0.1, as dual-stack sockets report) into IPv4. */
export function parseAddress(text: string): IpAddress | null {
  const version = isIP(text);
  if (version === 4) return parseDottedQuad(text);
  if (version === 0) return null;
  // Dual-stack servers report every IPv4 peer as ::ffff:a.b.c.d; skip the slow IPv6 parser (~4 µs) for them.
  if (text.length > 7 && /^::ffff:/i.test(text)) {
    const tail = text.slice(7);
    if (isIP(tail) === 4) return parseDottedQuad(tail);
  }
  const v6 = ipaddr.IPv6.parse(text);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
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
 * network (::ffff:10.0.0.0/104) is stored as its IPv4 equivalent, because addresses are normalised the same way.
 * Throws one Error listing every bad entry with its index, so a config can be fixed in one pass.
 */
export function parseCidrs(list: readonly string[], what = "trustedProxies"): CidrSet {
  const v4: [ipaddr.IPv4, number][] = [];
  const v6: [ipaddr.IPv6, number][] = [];
  const problems: string[] = [];
  list.forEach((entry, index) => {
    const result = typeof entry === "string" ? parseCidr(entry.trim()) : "not a string";
    if (typeof result === "string") {
      problems.push(`[${index}] ${JSON.stringify(entry)}: ${result}`);
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
  return null;
}

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
  let address: IpAddress = ipaddr.parse(addressText);
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
