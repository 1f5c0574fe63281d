/**
 * Where a request comes from: an ISO 3166-1 alpha-2 country, or null for unknown.
 *
 * Trust starts at the socket. Headers can be written by anyone, so they are believed only when the TCP peer is
 * one of the configured trusted proxies; from any other peer the peer address itself is the client. Behind
 * trusted proxies the CDN's country header is believed unless the mmdb names another country for the client's
 * address (then both are named, a dispute: DESIGN.md applies the embargo if either is embargoed); the client's
 * address is X-Forwarded-For walked from the right (the end our own proxies append to) past trusted hops to the
 * first address they did not vouch for; none (unknown) if every hop is trusted. A zoned (link-local) peer is
 * never trusted.
 */
import type { IncomingHttpHeaders } from "node:http";
import { asciiUpper, isCountryCode } from "../countries/index.js";
import { parseAddress, parseCidrs, parseForwardedAddress, type CidrSet, type IpAddress } from "./cidr.js";
import type { CountryLookup } from "./country-db.js";
import { LiveCountryDb } from "./live-db.js";
import { quoted } from "../policy/text.js";

/** location.mmdb_max_age_days when not set. */
export const DEFAULT_MMDB_MAX_AGE_DAYS = 45;

export interface LocationConfig {
  /** Path to a GeoLite2-Country / DB-IP lite country .mmdb (country.iso_code, else registered_country.iso_code). */
  readonly mmdb?: string;
  /** How old the mmdb may be (its build_epoch) before it is reported (default 45 days). */
  readonly mmdbMaxAgeDays?: number;
  /** A country header set by a trusted proxy or CDN, e.g. "cf-ipcountry". */
  readonly header?: string;
  /** CIDRs (IPv4 and IPv6) of the proxies whose headers are believed, e.g. ["10.0.0.0/8", "::1/128"]. */
  readonly trustedProxies?: readonly string[];
}

/**
 * Where a request comes from: a country, null when no source says (unknown), or the countries that
 * sources name when they disagree — never "unknown" (DESIGN.md): the caller settles it against
 * the embargo.
 */
export type Located = string | null | Disputed;

export interface Disputed {
  /**
   * What the sources say, in the order they gave it: distinct ISO 3166-1 alpha-2 codes, and where a
   * header value beside them names no country, that value described ("XX (not a country code)") after them.
   * At least two entries, at least one a country.
   */
  readonly disputed: readonly string[];
}

/**
 * Where locate() leaves the client address it found (null: none could be told), so that the access
 * log and the alerts take it from there instead of walking X-Forwarded-For again.
 */
export interface ClientSlot {
  clientAddress: IpAddress | null | undefined;
}

export interface Locator {
  /** Pure look-up, called on the hot path for every request: no I/O, microseconds. */
  locate(remoteAddress: string | undefined, headers: IncomingHttpHeaders, slot?: ClientSlot): Located;
  /**
   * The client's address as the same trust rules tell it: the peer, or behind trusted proxies the
   * first X-Forwarded-For hop from the right they did not vouch for; null when unparseable, or
   * when the chain ends at a trusted proxy (no client address was forwarded).
   */
  client(remoteAddress: string | undefined, forwardedFor: string | undefined): string | null;
  /** The mmdb in use, re-read when its file is replaced (null without one): see live-db.ts. */
  readonly database: LiveCountryDb | null;
}

/** RFC 9110 token characters: what an HTTP header name may contain. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const isHeaderName = (name: string): boolean => HEADER_NAME.test(name);

/**
 * Validates the configuration and opens the mmdb (file read; `database.start` re-reads it when it is
 * replaced). Throws a clear Error for a bad proxy list, a bad header name, a header that could never
 * be believed, or an mmdb file that is missing or not an mmdb. `log`: the database's age and swaps.
 */
export async function createLocator(
  config: LocationConfig,
  log: (line: string) => void = () => {},
): Promise<Locator> {
  const proxies = parseCidrs(config.trustedProxies ?? [], "location trustedProxies");
  let header: string | undefined;
  if (config.header !== undefined) {
    if (!HEADER_NAME.test(config.header)) {
      throw new Error(`location header ${quoted(config.header)} is not a valid HTTP header name`);
    }
    // A country header is believed only from trusted proxies; without any, configuring it is surely a mistake.
    if (proxies.size === 0) {
      throw new Error(
        `location header ${quoted(config.header)} needs trustedProxies: it is only believed from them`,
      );
    }
    header = config.header.toLowerCase(); // Node lower-cases incoming header names
  }
  const database =
    config.mmdb === undefined
      ? null
      : await LiveCountryDb.open(config.mmdb, config.mmdbMaxAgeDays ?? DEFAULT_MMDB_MAX_AGE_DAYS, log);
  return new ProxyAwareLocator(proxies, header, database);
}

/** An address as the access log and the alerts write it: every IPv6 group written out (networkOf takes the first three). */
export const addressText = (address: IpAddress | null): string | null =>
  address === null ? null : address.toNormalizedString();

/** Peer addresses whose parse and trust are remembered; beyond it, the memory starts over. */
const PEERS = 4096;

interface Peer {
  readonly address: IpAddress;
  /** One of the trusted proxies. */
  readonly trusted: boolean;
}

class ProxyAwareLocator implements Locator {
  /**
   * Requests come from few peers (the load balancers, or a client's keep-alive connections): each
   * address is parsed and checked against the trusted proxies once, not on every request.
   */
  private readonly peers = new Map<string, Peer | null>();

  constructor(
    private readonly proxies: CidrSet,
    private readonly header: string | undefined,
    readonly database: LiveCountryDb | null,
  ) {
    this.lookup = database?.lookup;
  }

  private readonly lookup: CountryLookup | undefined;

  locate(remoteAddress: string | undefined, headers: IncomingHttpHeaders, slot?: ClientSlot): Located {
    if (remoteAddress === undefined) return null; // socket already gone
    const peer = this.peer(remoteAddress);
    if (peer === null) return null;
    let client: IpAddress | null = peer.address;
    if (peer.trusted) {
      client = forwardedClient(headers["x-forwarded-for"], this.proxies);
      if (slot !== undefined) slot.clientAddress = client;
      if (this.header !== undefined) {
        const country = headerCountry(headers[this.header]);
        // The header could be the client's own (a proxy that passes it on): where the mmdb names
        // another country for the client's address, that is a dispute, settled against the embargo.
        // A chain that ends at a trusted proxy names no client address to compare with.
        if (country !== null)
          return client === null || this.lookup === undefined
            ? country
            : contested(country, this.lookup(client));
      }
    } else if (slot !== undefined) slot.clientAddress = client;
    return client === null || this.lookup === undefined ? null : this.lookup(client);
  }

  client(remoteAddress: string | undefined, forwardedFor: string | undefined): string | null {
    if (remoteAddress === undefined) return null;
    const peer = this.peer(remoteAddress);
    if (peer === null) return null;
    return addressText(peer.trusted ? forwardedClient(forwardedFor, this.proxies) : peer.address);
  }

  private peer(remoteAddress: string): Peer | null {
    let peer = this.peers.get(remoteAddress);
    if (peer === undefined) {
      const address = parseAddress(remoteAddress);
      peer =
        address === null ? null : { address, trusted: this.proxies.size > 0 && this.proxies.has(address) };
      if (this.peers.size >= PEERS) this.peers.clear();
      this.peers.set(remoteAddress, peer);
    }
    return peer;
  }
}

/**
 * The countries a country header names. A header sent twice arrives joined ("IR, US": a proxy that
 * appends rather than replaces keeps the client's own value): several distinct countries are a
 * dispute, never dropped, or a client could cancel an embargo by adding a header. A header of values
 * that are not countries alone — "XX" (unknown), "T1" (Tor), empty — says nothing, and the caller
 * falls back to the address. Beside a country, such a value is a source saying something else (the
 * CDN's "XX" or "T1" appended to a country the client wrote): a dispute too, never that country.
 */
function headerCountry(value: string | string[] | undefined): Located {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(",") : value;
  const found: string[] = [];
  let unreadable: string | null = null;
  for (const part of text.split(",")) {
    const code = asciiUpper(part.trim());
    if (!isCountryCode(code)) unreadable ??= notACountry(code);
    else if (!found.includes(code)) found.push(code);
  }
  if (found.length === 0) return null;
  if (unreadable !== null) found.push(unreadable);
  return found.length === 1 ? found[0]! : { disputed: found };
}

/**
 * How a header value that is no country is named in a dispute (the refusal's message): a short code
 * as it came, else a description, so a client's text is never echoed unbounded.
 */
const notACountry = (code: string): string =>
  code === ""
    ? "an empty value"
    : /^[A-Z0-9]{1,3}$/.test(code)
      ? `${code} (not a country code)`
      : "an unreadable value";

/** The header's country (or dispute) with the address's country added where it differs. */
function contested(header: string | Disputed, address: string | null): Located {
  const named = typeof header === "string" ? [header] : header.disputed;
  if (address === null || named.includes(address)) return header;
  return { disputed: [...named, address] };
}

/**
 * The client behind trusted proxies: walking X-Forwarded-For from the right, the first address that is not a
 * trusted proxy. Null without the header or when every hop is trusted: a proxy's own address is not where the
 * client is (a US CDN node would make every client it serves American). A malformed entry yields null too: the
 * chain can no longer be followed, and guessing past it could pick a spoofed address.
 */
function forwardedClient(value: string | string[] | undefined, proxies: CidrSet): IpAddress | null {
  // Node joins repeated X-Forwarded-For headers with ", "; an array only arrives from hand-built headers.
  const text = Array.isArray(value) ? value.join(",") : value;
  if (text === undefined || text.trim() === "") return null;
  let end = text.length;
  // Scans backwards with lastIndexOf instead of split(): only the hops actually walked are looked at.
  while (end >= 0) {
    const start = end === 0 ? -1 : text.lastIndexOf(",", end - 1);
    const address = parseForwardedAddress(text.slice(start + 1, end));
    if (address === null) return null;
    if (!proxies.has(address)) return address;
    if (start < 0) break;
    end = start;
  }
  return null;
}
