import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countryDbProblem, createLocator, type ClientSlot, type Locator } from "./index.js";
import { writeCountryMmdb, type CountryEntry } from "./mmdb-writer.js";

const ENTRIES: CountryEntry[] = [
  { cidr: "81.2.69.0/24", country: "GB" },
  { cidr: "2.125.160.0/24", country: "GB" },
  { cidr: "89.160.20.0/24", country: "SE" },
  { cidr: "5.160.0.0/16", country: "IR" },
  { cidr: "2001:db8:1::/48", country: "DE" },
  { cidr: "67.43.156.0/24", registeredCountry: "BT" }, // no country, only where the block is registered
  { cidr: "198.51.100.0/24", country: "EU", registeredCountry: "FR" }, // "EU" is not an ISO country
  { cidr: "203.0.113.0/24", country: "XX" },
];
const PROXIES = ["10.0.0.0/8", "::1/128", "2001:db8:1:ff::/64"];

let dir: string;
let mmdb: string;
let locator: Locator;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "clearance-location-"));
  mmdb = join(dir, "country.mmdb");
  await writeCountryMmdb(mmdb, ENTRIES);
  locator = await createLocator({ mmdb, header: "CF-IPCountry", trustedProxies: PROXIES });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const xff = (value: string | string[]): IncomingHttpHeaders => ({ "x-forwarded-for": value });

describe("direct clients (peer not a trusted proxy)", () => {
  it("looks the peer address up in the mmdb", () => {
    expect(locator.locate("81.2.69.160", {})).toBe("GB");
    expect(locator.locate("2.125.160.216", {})).toBe("GB");
    expect(locator.locate("89.160.20.112", {})).toBe("SE");
    expect(locator.locate("5.160.33.1", {})).toBe("IR");
    expect(locator.locate("2001:db8:1::1", {})).toBe("DE");
  });

  it("falls back to registered_country, and returns only valid ISO codes", () => {
    expect(locator.locate("67.43.156.1", {})).toBe("BT");
    expect(locator.locate("198.51.100.1", {})).toBe("FR");
    expect(locator.locate("203.0.113.1", {})).toBeNull();
  });

  it("returns null for addresses without a record, private, loopback or unparsable", () => {
    for (const address of [
      "8.8.8.8",
      "2001:db8:2::1",
      "127.0.0.1",
      "192.168.1.1",
      "172.16.0.1",
      "fe80::1%eth0",
    ]) {
      expect(locator.locate(address, {}), address).toBeNull();
    }
    expect(locator.locate(undefined, {})).toBeNull();
    expect(locator.locate("not-an-ip", {})).toBeNull();
    expect(locator.locate("127.1", {})).toBeNull();
  });

  it("normalises an IPv4-mapped IPv6 peer", () => {
    expect(locator.locate("::ffff:81.2.69.160", {})).toBe("GB");
    expect(locator.locate("::ffff:127.0.0.1", {})).toBeNull();
  });

  it('does not take the IPv4-compatible peer ::a00:1 (Node: "::10.0.0.1") for the trusted proxy 10.0.0.1', () => {
    const spoofed = { "x-forwarded-for": "89.160.20.112", "cf-ipcountry": "US" };
    for (const peer of ["::10.0.0.1", "::a00:1", "0:0:0:0:0:0:a00:1"]) {
      expect(locator.locate(peer, spoofed), peer).toBeNull();
      expect(locator.locate(peer, { "cf-ipcountry": "US" }), peer).toBeNull();
      expect(locator.client(peer, "89.160.20.112"), peer).toBe("0:0:0:0:0:0:a00:1");
    }
    // The IPv4-mapped spelling is the IPv4 proxy.
    expect(locator.locate("::ffff:10.0.0.1", spoofed)).toEqual({ disputed: ["US", "SE"] });
  });

  it("answers a link-local peer with any zone Node accepts (unknown), never throws, keeps the zone", () => {
    const spoofed = { "x-forwarded-for": "89.160.20.112", "cf-ipcountry": "US" };
    for (const zone of ["eth0", "br-x1", "eth0.100", "a:b"]) {
      const peer = `fe80::1%${zone}`;
      expect(locator.locate(peer, spoofed), peer).toBeNull();
      const slot = { clientAddress: undefined } as ClientSlot;
      expect(locator.locate(peer, {}, slot), peer).toBeNull();
      expect(slot.clientAddress?.toNormalizedString(), peer).toBe(`fe80:0:0:0:0:0:0:1%${zone}`);
      expect(locator.client(peer, undefined), peer).toBe(`fe80:0:0:0:0:0:0:1%${zone}`);
    }
    // Forwarded by a trusted proxy, a zoned hop is the client (never a trusted hop), located nowhere.
    expect(locator.locate("10.0.0.1", xff("89.160.20.112, fe80::1%br-x1"))).toBeNull();
    expect(locator.client("10.0.0.1", "89.160.20.112, fe80::1%br-x1")).toBe("fe80:0:0:0:0:0:0:1%br-x1");
  });

  it("never trusts a zoned peer, even inside trusted_proxies: the zone says which link, the range cannot", async () => {
    const linkLocal = await createLocator({ mmdb, header: "cf-ipcountry", trustedProxies: ["fe80::1/128"] });
    const spoofed = { "x-forwarded-for": "89.160.20.112", "cf-ipcountry": "US" };
    expect(linkLocal.locate("fe80::1%eth0", spoofed)).toBeNull();
    expect(linkLocal.locate("fe80::1%eth0", { "cf-ipcountry": "US" })).toBeNull();
    expect(linkLocal.client("fe80::1%eth0", "89.160.20.112")).toBe("fe80:0:0:0:0:0:0:1%eth0");
  });

  it("ignores spoofed X-Forwarded-For and country headers", () => {
    const spoofed = { "x-forwarded-for": "81.2.69.1", "cf-ipcountry": "US" };
    expect(locator.locate("89.160.20.112", spoofed)).toBe("SE");
    expect(locator.locate("192.168.1.5", spoofed)).toBeNull(); // private but not trusted
    expect(locator.locate("::2", spoofed)).toBeNull(); // next to the trusted ::1, but not it
  });
});

describe("behind a trusted proxy", () => {
  it("believes the country header where the mmdb agrees or has no answer for the client", () => {
    const headers = { "cf-ipcountry": "DE", "x-forwarded-for": "2001:db8:1::7" }; // DE in the mmdb
    expect(locator.locate("10.0.0.1", headers)).toBe("DE");
    expect(locator.locate("::1", headers)).toBe("DE");
    expect(locator.locate("::ffff:10.0.0.1", headers)).toBe("DE"); // mapped peer matches the IPv4 range
    expect(locator.locate("10.0.0.1", { "cf-ipcountry": " de " })).toBe("DE");
    expect(locator.locate("10.0.0.1", { "cf-ipcountry": "DE", "x-forwarded-for": "8.8.8.8" })).toBe("DE");
  });

  it("a header the mmdb contradicts for the client's address is a dispute, as two header values are", () => {
    // A client that can set the header (no CDN in front, or one that passes it on) claims US from Iran.
    const claim = (country: string, client: string) => ({
      "cf-ipcountry": country,
      "x-forwarded-for": client,
    });
    expect(locator.locate("10.0.0.1", claim("US", "5.160.33.1"))).toEqual({ disputed: ["US", "IR"] });
    expect(locator.locate("10.0.0.1", claim("DE", "89.160.20.112"))).toEqual({ disputed: ["DE", "SE"] });
    expect(locator.locate("10.0.0.1", claim("DE, FR", "5.160.33.1"))).toEqual({
      disputed: ["DE", "FR", "IR"],
    });
    expect(locator.locate("10.0.0.1", claim("IR, US", "5.160.33.1"))).toEqual({ disputed: ["IR", "US"] });
    // Where the walk ends at a trusted proxy, that address is the proxy's, not the client's: not compared.
    expect(locator.locate("2001:db8:1:ff::1", { "cf-ipcountry": "FR" })).toBe("FR");
    expect(locator.locate("10.0.0.1", claim("FR", "2001:db8:1:ff::2"))).toBe("FR");
  });

  it("ignores an invalid, unknown (XX) or Tor (T1) header and falls back to X-Forwarded-For", () => {
    for (const value of ["XX", "T1", "", "ZZ", "GBR", "D", "XX, T1"]) {
      const headers = { "cf-ipcountry": value, "x-forwarded-for": "89.160.20.112" };
      expect(locator.locate("10.0.0.1", headers), JSON.stringify(value)).toBe("SE");
    }
    expect(locator.locate("10.0.0.1", { "cf-ipcountry": "XX" })).toBeNull(); // then the proxy itself
  });

  it("reads a header's ASCII letters in any case, never a letter of another script folded into one", () => {
    // A header byte 0xDF arrives as ß (Node reads header values as Latin-1); toUpperCase() made it SS
    // (South Sudan), and dotless ı made ır IR.
    for (const value of ["ß", "ır"]) {
      const headers = { "cf-ipcountry": value, "x-forwarded-for": "89.160.20.112" };
      expect(locator.locate("10.0.0.1", headers), value).toBe("SE");
      expect(locator.locate("10.0.0.1", { ...headers, "cf-ipcountry": `DE, ${value}` }), value).toEqual({
        disputed: ["DE", "an unreadable value", "SE"],
      });
    }
    expect(locator.locate("10.0.0.1", { "cf-ipcountry": "se", "x-forwarded-for": "89.160.20.112" })).toBe(
      "SE",
    );
  });

  it("a header given twice with different countries is a dispute, never unknown; repeats of one country are that country", () => {
    const cf = (value: string | string[]) => ({ "cf-ipcountry": value, "x-forwarded-for": "8.8.8.8" });
    expect(locator.locate("10.0.0.1", cf("DE, FR"))).toEqual({ disputed: ["DE", "FR"] });
    expect(locator.locate("10.0.0.1", cf(["IR", "us"]))).toEqual({ disputed: ["IR", "US"] });
    expect(locator.locate("10.0.0.1", cf("DE, de"))).toBe("DE");
  });

  it("a country beside a value that names none is a dispute, never that country alone", () => {
    // The client writes DE and the CDN appends what it knows: nothing (XX), or Tor (T1). Skipping
    // the CDN's value judged the request as the client's DE, where without that header it is unknown.
    const cf = (value: string | string[], client = "8.8.8.8") => ({
      "cf-ipcountry": value,
      "x-forwarded-for": client,
    });
    const notCountry = (code: string) => `${code} (not a country code)`;
    expect(locator.locate("10.0.0.1", cf("DE, XX"))).toEqual({ disputed: ["DE", notCountry("XX")] });
    expect(locator.locate("10.0.0.1", cf(["de", "T1"]))).toEqual({ disputed: ["DE", notCountry("T1")] });
    expect(locator.locate("10.0.0.1", cf("XX, DE, de"))).toEqual({ disputed: ["DE", notCountry("XX")] });
    expect(locator.locate("10.0.0.1", cf("IR, XX"))).toEqual({ disputed: ["IR", notCountry("XX")] });
    expect(locator.locate("10.0.0.1", cf("DE, "))).toEqual({ disputed: ["DE", "an empty value"] });
    // A client's text is described, never echoed.
    expect(locator.locate("10.0.0.1", cf(`DE, ${"x".repeat(500)}`))).toEqual({
      disputed: ["DE", "an unreadable value"],
    });
    // The address's country joins the dispute as it does a header's country.
    expect(locator.locate("10.0.0.1", cf("DE, XX", "5.160.33.1"))).toEqual({
      disputed: ["DE", notCountry("XX"), "IR"],
    });
    // Without X-Forwarded-For (no client address to compare): the same.
    expect(locator.locate("10.0.0.1", { "cf-ipcountry": "US, T1" })).toEqual({
      disputed: ["US", notCountry("T1")],
    });
  });

  it("walks X-Forwarded-For from the right, skipping trusted hops", () => {
    expect(locator.locate("10.0.0.1", xff("81.2.69.1, 89.160.20.112, 10.0.0.7"))).toBe("SE");
    expect(locator.locate("10.0.0.1", xff("81.2.69.1,89.160.20.112,10.0.0.7,10.9.9.9"))).toBe("SE");
    // A client can prepend anything; only the address the trusted hops received the request from counts.
    expect(locator.locate("10.0.0.1", xff("5.160.0.1, 81.2.69.1"))).toBe("GB");
    expect(locator.locate("::1", xff("2001:db8:1::77, 10.0.0.3"))).toBe("DE");
    expect(locator.locate("10.0.0.1", xff(["5.160.0.1", "89.160.20.112"]))).toBe("SE");
  });

  it("knows no client address when every hop is trusted: a proxy's own address (DE here) is not the client's", () => {
    expect(locator.locate("::1", xff("2001:db8:1:ff::5, 10.0.0.3"))).toBeNull();
    expect(locator.locate("2001:db8:1:ff::1", xff("2001:db8:1:ff::2"))).toBeNull();
    expect(locator.locate("10.0.0.1", xff("10.0.0.2"))).toBeNull();
    expect(locator.client("2001:db8:1:ff::1", "2001:db8:1:ff::2")).toBeNull();
  });

  it("knows no client address when there is no X-Forwarded-For, with or without a country header", async () => {
    expect(locator.locate("10.0.0.1", {})).toBeNull();
    expect(locator.locate("2001:db8:1:ff::1", {})).toBeNull();
    expect(locator.locate("2001:db8:1:ff::1", xff(" "))).toBeNull();
    expect(locator.locate("2001:db8:1:ff::1", { "cf-ipcountry": "XX" })).toBeNull();
    expect(locator.locate("2001:db8:1:ff::1", { "cf-ipcountry": "SE" })).toBe("SE"); // the header stands
    expect(locator.client("2001:db8:1:ff::1", undefined)).toBeNull();
    const noHeader = await createLocator({ mmdb, trustedProxies: PROXIES });
    expect(noHeader.locate("2001:db8:1:ff::1", {})).toBeNull();
    expect(noHeader.locate("2001:db8:1:ff::1", xff("2001:db8:1:ff::2, 10.0.0.3"))).toBeNull();
    const slot = { clientAddress: undefined } as ClientSlot;
    expect(noHeader.locate("2001:db8:1:ff::1", {}, slot)).toBeNull();
    expect(slot.clientAddress).toBeNull();
  });

  it("accepts ports and brackets in X-Forwarded-For entries", () => {
    expect(locator.locate("10.0.0.1", xff("89.160.20.112:5555"))).toBe("SE");
    expect(locator.locate("10.0.0.1", xff("[2001:db8:1::9]:443, 10.0.0.2"))).toBe("DE");
  });

  it("returns null for a malformed entry reached by the walk instead of guessing", () => {
    for (const value of [
      "81.2.69.1, garbage",
      "unknown",
      "81.2.69.1,,10.0.0.2",
      ",10.0.0.2",
      "127.1",
      "0x51.2.69.1",
    ]) {
      expect(locator.locate("10.0.0.1", xff(value)), value).toBeNull();
    }
    // The walk stops at the client; whatever a client wrote further left is never read.
    expect(locator.locate("10.0.0.1", xff("garbage, 81.2.69.1"))).toBe("GB");
  });
});

describe("the client's address (for the networks a key is used from)", () => {
  it("is the peer unless a trusted proxy forwarded it, by the same walk as the country", () => {
    expect(locator.client("81.2.69.1", "5.160.0.1")).toBe("81.2.69.1"); // forged by a direct client
    expect(locator.client("::ffff:81.2.69.1", undefined)).toBe("81.2.69.1");
    expect(locator.client("10.0.0.1", "5.160.0.1, 89.160.20.112, 10.0.0.7")).toBe("89.160.20.112");
    expect(locator.client("::1", "[2001:db8:1::9]:443")).toBe("2001:db8:1:0:0:0:0:9");
    expect(locator.client("10.0.0.1", undefined)).toBeNull(); // the proxy forwarded no client
    expect(locator.client("10.0.0.1", "garbage")).toBeNull();
    expect(locator.client(undefined, "81.2.69.1")).toBeNull();
  });
});

describe("configuration", () => {
  it("without an mmdb, the trusted header still works and everything else is unknown", async () => {
    const headerOnly = await createLocator({ header: "cf-ipcountry", trustedProxies: ["10.0.0.0/8"] });
    expect(headerOnly.locate("10.0.0.1", { "cf-ipcountry": "SE" })).toBe("SE");
    expect(
      headerOnly.locate("10.0.0.1", { "cf-ipcountry": "XX", "x-forwarded-for": "81.2.69.1" }),
    ).toBeNull();
    expect(headerOnly.locate("81.2.69.1", { "cf-ipcountry": "SE" })).toBeNull();
    expect((await createLocator({})).locate("81.2.69.1", {})).toBeNull();
  });

  it("without a header, trusted proxies still forward the client address", async () => {
    const noHeader = await createLocator({ mmdb, trustedProxies: ["10.0.0.0/8"] });
    expect(noHeader.locate("10.0.0.1", { "cf-ipcountry": "DE", "x-forwarded-for": "89.160.20.112" })).toBe(
      "SE",
    );
  });

  it("rejects bad trustedProxies, naming each bad entry", async () => {
    await expect(
      createLocator({ trustedProxies: ["10.0.0.0/8", "10.0.0.0/33", "proxy.local"] }),
    ).rejects.toThrow(/trustedProxies: \[1\] "10.0.0.0\/33": .*; \[2\] "proxy.local"/);
  });

  it("rejects a header that could never be believed, or is not a header name", async () => {
    await expect(createLocator({ header: "cf-ipcountry" })).rejects.toThrow(/needs trustedProxies/);
    await expect(createLocator({ header: "cf ipcountry", trustedProxies: PROXIES })).rejects.toThrow(
      /not a valid HTTP header name/,
    );
  });

  it("fails clearly, naming the file, when the mmdb is missing, garbage or truncated", async () => {
    const missing = join(dir, "missing.mmdb");
    await expect(createLocator({ mmdb: missing })).rejects.toThrow(`"${missing}": no such file`);

    const garbage = join(dir, "garbage.mmdb");
    await writeFile(garbage, "this is not a database\n".repeat(100));
    await expect(createLocator({ mmdb: garbage })).rejects.toThrow(`"${garbage}": not a MaxMind DB file`);

    const empty = join(dir, "empty.mmdb");
    await writeFile(empty, "");
    await expect(createLocator({ mmdb: empty })).rejects.toThrow(`"${empty}": not a MaxMind DB file`);

    const truncated = join(dir, "truncated.mmdb");
    const whole = await readFile(mmdb);
    await writeFile(truncated, whole.subarray(whole.length - 300));
    await expect(createLocator({ mmdb: truncated })).rejects.toThrow(`"${truncated}": truncated`);

    const directory = join(dir, "a-directory.mmdb");
    await mkdir(directory);
    await expect(createLocator({ mmdb: directory })).rejects.toThrow(`"${directory}"`);
  });

  it("reads City databases, refuses databases without country data", async () => {
    const city = join(dir, "city.mmdb");
    await writeCountryMmdb(city, ENTRIES, { databaseType: "GeoLite2-City" });
    expect((await createLocator({ mmdb: city })).locate("89.160.20.112", {})).toBe("SE");

    const asn = join(dir, "asn.mmdb");
    await writeCountryMmdb(asn, ENTRIES, { databaseType: "GeoLite2-ASN" });
    await expect(createLocator({ mmdb: asn })).rejects.toThrow(`"${asn}": database type "GeoLite2-ASN"`);
  });

  it("names a database type holding control characters escaped, as messages quote values", async () => {
    // The type is the file's own text: a C1 control (U+009B starts a terminal's control sequence)
    // or a bidirectional override there is written as an escape in the refusal, not raw.
    const odd = join(dir, "odd.mmdb");
    await writeCountryMmdb(odd, ENTRIES, { databaseType: "Geo\u009b2JLite\u202e-ASN\u007f" });
    const said = 'database type "Geo\\u009b2JLite\\u202e-ASN\\u007f" has no country data';
    await expect(createLocator({ mmdb: odd })).rejects.toThrow(`cannot use mmdb file "${odd}": ${said}`);
    expect(countryDbProblem(odd)).toBe(`cannot use mmdb file "${odd}": ${said}`);
  });

  it("does not look IPv6 addresses up in an IPv4-only database", async () => {
    const v4 = join(dir, "v4.mmdb");
    await writeCountryMmdb(v4, [{ cidr: "81.0.0.0/8", country: "GB" }], { ipVersion: 4 });
    const v4Locator = await createLocator({ mmdb: v4 });
    expect(v4Locator.locate("81.2.69.1", {})).toBe("GB");
    expect(v4Locator.locate("::ffff:81.2.69.1", {})).toBe("GB");
    // The raw tree would answer GB here: the first 32 bits of 5102:4501:: are 81.2.69.1.
    expect(v4Locator.locate("5102:4501::1", {})).toBeNull();
  });

  it("answers an IPv4-compatible ::a.b.c.d (IPv6) unknown, never the record of IPv4 a.b.c.d", async () => {
    // An IPv6 mmdb keeps IPv4 under ::/96: the raw tree answers ::81.2.69.160 with 81.2.69.160's GB.
    for (const address of ["::81.2.69.160", "::5102:45a0", "::5.160.33.1", "::", "::1"]) {
      expect(locator.locate(address, {}), address).toBeNull();
      expect(locator.locate("10.0.0.1", xff(address)), address).toBeNull();
    }
    // The IPv4-mapped spelling is IPv4, and a neighbour just outside ::/96 is an IPv6 address.
    expect(locator.locate("::ffff:81.2.69.160", {})).toBe("GB");
    const wide = join(dir, "wide.mmdb");
    await writeCountryMmdb(wide, [...ENTRIES, { cidr: "::1:0:0/96", country: "NL" }]);
    expect((await createLocator({ mmdb: wide })).locate("::1:5102:45a0", {})).toBe("NL");
  });

  it("answers repeated look-ups the same way (per-address answer cache)", () => {
    for (let i = 0; i < 3; i++) {
      expect(locator.locate("81.2.69.160", {})).toBe("GB");
      expect(locator.locate("8.8.8.8", {})).toBeNull();
    }
  });
});

describe("remembered peers", () => {
  it("answers a peer seen before exactly as a locator meeting it for the first time", async () => {
    const peers = ["10.1.2.3", "81.2.69.160", "::1", "5.160.1.1", "not an address", "::ffff:10.0.0.9"];
    const headers: IncomingHttpHeaders[] = [
      {},
      { "cf-ipcountry": "SE" },
      { "x-forwarded-for": "5.160.3.3" },
      { "cf-ipcountry": "IR, US" },
    ];
    // The same locator, asked over and over in an interleaved order, against a fresh one per question.
    for (let round = 0; round < 3; round++) {
      for (const [i, peer] of peers.entries()) {
        for (const [j, h] of headers.entries()) {
          const fresh = await createLocator({ mmdb, header: "CF-IPCountry", trustedProxies: PROXIES });
          expect(locator.locate(peers[(i + j + round) % peers.length], h)).toEqual(
            fresh.locate(peers[(i + j + round) % peers.length], h),
          );
          expect(locator.locate(peer, h)).toEqual(fresh.locate(peer, h));
        }
      }
    }
  });
});
