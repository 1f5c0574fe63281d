/**
 * Where the gateway may fetch a partner's keys from. A discovery document is the partner's to
 * write, and its jwks_uri is followed: without these checks a partner could make the gateway
 * request any address inside its network (cloud metadata, an internal admin port) and read the
 * outcome. So: https only (plain http to a loopback address only with identity.allow_http_loopback,
 * for demos and tests), and no private, link-local, loopback, shared, reserved or multicast address,
 * checked on an address literal before connecting and on every address a name resolves to, in the
 * connection's own lookup (the address checked is the address connected to: a second DNS answer
 * cannot slip in between).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { Agent } from "undici";

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
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
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

/** Why the gateway will not connect to this address, or null. */
function addressRefusal(address: string, allowLoopback: boolean): string | null {
  if (allowLoopback && isLoopback(address)) return null;
  return INTERNAL.check(address, family(address)) ? `${address} is an internal address` : null;
}

const unbracket = (host: string): string => host.replace(/^\[(.*)\]$/, "$1");

/** A loopback host as written in a URL: 127.x.x.x, [::1], localhost. */
function isLoopbackHost(host: string): boolean {
  const h = unbracket(host).toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || (isIP(h) !== 0 && isLoopback(h));
}

/** Why a key-fetch URL is refused before any connection, or null. */
export function urlRefusal(url: string, allowHttpLoopback: boolean): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${url} is not a URL`;
  }
  if (u.protocol === "http:") {
    if (!isLoopbackHost(u.hostname)) return `${url}: plain http is refused (https only)`;
    if (!allowHttpLoopback)
      return `${url}: plain http is refused (to loopback only with identity.allow_http_loopback)`;
  } else if (u.protocol !== "https:") return `${url}: only https is fetched`;
  const host = unbracket(u.hostname);
  if (isIP(host) !== 0) {
    const why = addressRefusal(host, allowHttpLoopback);
    if (why !== null) return `${url}: ${why}`;
  }
  return null;
}

/** The connection's lookup: every address the name resolves to must be allowed, or none is used. */
function guardedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err !== null) return callback(err, "", 0);
      for (const a of addresses) {
        const why = addressRefusal(a.address, allowLoopback);
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

const agents = new Map<boolean, Agent>();

/** The dispatcher for key fetches (one per setting, kept for the process: connections are pooled). */
export function keyFetchAgent(allowLoopback: boolean): Agent {
  let agent = agents.get(allowLoopback);
  if (agent === undefined) {
    agent = new Agent({ connect: { lookup: guardedLookup(allowLoopback) } });
    agents.set(allowLoopback, agent);
  }
  return agent;
}
