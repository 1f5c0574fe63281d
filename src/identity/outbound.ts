/**
 * Where the gateway may fetch a partner's keys from. A discovery document is the partner's to
 * write, and its jwks_uri is followed: without these checks a partner could make the gateway
 * request any address inside its network (cloud metadata, an internal admin port) and read the
 * outcome. So: https only (plain http to a loopback address only with identity.allow_http_loopback,
 * for demos and tests), and no private, link-local, loopback, shared, reserved or multicast address
 * (nor an IPv6 address carrying one: IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4;
 * Teredo at all), checked on an address literal before connecting and on every address a name
 * resolves to, in the connection's own lookup (the address checked is the address connected to:
 * a second DNS answer cannot slip in between).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { Agent } from "undici";
import { schemeRefusal } from "./provider-urls.js";

const INTERNAL = new BlockList();
const LOOPBACK = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // shared address space (carrier NAT; some clouds' metadata)
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local: cloud metadata (169.254.169.254)
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const)
  INTERNAL.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  // Local-use NAT64 (RFC 8215): the operator's own translation domain, where the IPv4 address may
  // sit at any of RFC 6052's offsets; refused whole.
  ["64:ff9b:1::", 48],
  ["100::", 64], // discard
  // Teredo: reaches the (obfuscated) IPv4 address in its last 32 bits through a relay; servers
  // never have one, so refused whole rather than decoded.
  ["2001::", 32],
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local (AWS metadata fd00:ec2::254)
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const)
  INTERNAL.addSubnet(net, bits, "ipv6");
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

const family = (address: string): "ipv4" | "ipv6" => (isIP(address) === 6 ? "ipv6" : "ipv4");
/** IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are checked as the IPv4 address (BlockList does). */
const isLoopback = (address: string): boolean => LOOPBACK.check(address, family(address));

/**
 * IPv6 prefixes whose packets go to the IPv4 address they carry: checked as that address, as
 * IPv4-mapped ones are. A NAT64 gateway turns 64:ff9b::7f00:1 into 127.0.0.1 (its own loopback:
 * never allowed as ours); 6to4 tunnels 2002:a00:1::/48 to 10.0.0.1. A public IPv4 address stays
 * reachable (DNS64 answers 64:ff9b::/96 for an IPv4-only IdP on an IPv6-only network).
 */
const EMBEDDING: readonly { prefix: ipaddr.IPv6; bits: number; at: number }[] = [
  // IPv4-compatible (deprecated, RFC 4291 2.5.5.1): ::10.0.0.1 is tunnelled to 10.0.0.1. :: and ::1
  // fall in it too, as 0.0.0.0 and 0.0.0.1 ("this network"): still refused, and ::1 is still loopback.
  { prefix: ipaddr.IPv6.parse("::"), bits: 96, at: 12 },
  { prefix: ipaddr.IPv6.parse("::ffff:0:0:0"), bits: 96, at: 12 }, // IPv4-translated (SIIT, RFC 2765)
  { prefix: ipaddr.IPv6.parse("64:ff9b::"), bits: 96, at: 12 }, // NAT64 well-known prefix (RFC 6052)
  { prefix: ipaddr.IPv6.parse("2002::"), bits: 16, at: 2 }, // 6to4 (RFC 3056)
];

function embeddedIpv4(address: string): string | null {
  if (isIP(address) !== 6) return null;
  // ipaddr.js parses "::a.b.c.d" as IPv4-mapped (::ffff:a.b.c.d); the socket connects to the
  // IPv4-compatible ::a.b.c.d. "::0:a.b.c.d" is the same address, parsed as written.
  const ip = ipaddr.IPv6.parse(address.replace(/^::(?=\d+\.\d+\.\d+\.\d+(%.*)?$)/, "::0:"));
  const e = EMBEDDING.find(({ prefix, bits }) => ip.match(prefix, bits));
  return e === undefined
    ? null
    : ip
        .toByteArray()
        .slice(e.at, e.at + 4)
        .join(".");
}

/** Why the gateway will not connect to this address, or null (exported for tests). */
export function addressRefusal(address: string, allowLoopback: boolean): string | null {
  if (allowLoopback && isLoopback(address)) return null;
  if (INTERNAL.check(address, family(address))) return `${address} is an internal address`;
  const v4 = embeddedIpv4(address);
  if (v4 !== null && INTERNAL.check(v4, "ipv4")) return `${address} is an internal address (${v4})`;
  return null;
}

const unbracket = (host: string): string => host.replace(/^\[(.*)\]$/, "$1");

/** Why a key-fetch URL is refused before any connection, or null. */
export function urlRefusal(url: string, allowHttpLoopback: boolean): string | null {
  const refused = schemeRefusal(url, allowHttpLoopback);
  if (refused !== null) return refused;
  const host = unbracket(new URL(url).hostname);
  if (isIP(host) !== 0) {
    const why = addressRefusal(host, allowHttpLoopback);
    if (why !== null) return `${url}: ${why}`;
  }
  return null;
}

/** A resolver as node:dns `lookup` is, asked for every address (a test's stands in for DNS). */
export type Resolve = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const resolveByDns: Resolve = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * The connection's lookup: every address the name resolves to must be allowed (`refuse` says why
 * not, or null), or none is used. Also the alert webhook's (src/alerts/webhook.ts), with its own rule.
 */
export function guardedLookup(
  refuse: (address: string) => string | null,
  resolve: Resolve = resolveByDns,
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) return callback(err, "", 0);
      for (const a of addresses) {
        const why = refuse(a.address);
        if (why !== null) {
          const refused = Object.assign(new Error(`${hostname} resolves to ${why}`), {
            code: "EADDRREFUSED",
          });
          return callback(refused, "", 0);
        }
      }
      if (options.all === true) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (first === undefined) return callback(new Error(`${hostname} has no address`), "", 0);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * Link-local addresses, and the others where clouds serve their instance metadata (169.254.169.254,
 * AWS's fd00:ec2::254, Alibaba Cloud's 100.100.100.200): what an alert webhook refuses unless its
 * operator allows it (its receivers are the operator's own, often on a private network: only these
 * are refused).
 */
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet("169.254.0.0", 16, "ipv4");
LINK_LOCAL.addAddress("100.100.100.200", "ipv4");
LINK_LOCAL.addSubnet("fe80::", 10, "ipv6");
LINK_LOCAL.addAddress("fd00:ec2::254", "ipv6");

/** Local-use NAT64 (RFC 8215), where the operator chooses the prefix length within the /48. */
const LOCAL_NAT64 = ipaddr.IPv6.parse("64:ff9b:1::");
/**
 * Where RFC 6052 puts the IPv4 address under a prefix of /48, /56, /64 or /96: its four octets,
 * skipping octet 8 (bits 64–71, always zero).
 */
const NAT64_OCTETS: readonly (readonly number[])[] = [
  [6, 7, 9, 10],
  [7, 9, 10, 11],
  [9, 10, 11, 12],
  [12, 13, 14, 15],
];

/**
 * The IPv4 addresses an IPv6 address may carry to: the one of `embeddedIpv4`, or for local-use NAT64
 * one per prefix length it may be under (which, only the operator's translator knows). The key
 * fetch refuses the local-use prefix whole; a webhook's receiver may sit behind it.
 */
function carriedIpv4s(address: string): string[] {
  const v4 = embeddedIpv4(address);
  if (v4 !== null) return [v4];
  if (isIP(address) !== 6) return [];
  const ip = ipaddr.IPv6.parse(address);
  if (!ip.match(LOCAL_NAT64, 48)) return [];
  const bytes = ip.toByteArray();
  return NAT64_OCTETS.map((octets) => octets.map((i) => bytes[i]).join("."));
}

/** Why an alert webhook will not connect to this address (link-local, or carrying one), or null. */
export function linkLocalRefusal(address: string): string | null {
  const what = "a link-local or cloud metadata address";
  if (LINK_LOCAL.check(address, family(address))) return `${address}, ${what}`;
  const v4 = carriedIpv4s(address).find((a) => LINK_LOCAL.check(a, "ipv4"));
  if (v4 !== undefined) return `${address} (${v4}), ${what}`;
  return null;
}

/** The address a URL names literally (its brackets off), or null for a name. */
export function literalAddress(url: string): string | null {
  const host = URL.canParse(url) ? unbracket(new URL(url).hostname) : "";
  return isIP(host) === 0 ? null : host;
}

const agents = new Map<boolean, Agent>();

/** The dispatcher for key fetches (one per setting, kept for the process: connections are pooled). */
export function keyFetchAgent(allowLoopback: boolean): Agent {
  let agent = agents.get(allowLoopback);
  if (agent === undefined) {
    agent = new Agent({ connect: { lookup: guardedLookup((a) => addressRefusal(a, allowLoopback)) } });
    agents.set(allowLoopback, agent);
  }
  return agent;
}
