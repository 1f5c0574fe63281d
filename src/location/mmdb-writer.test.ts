import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AddressNotFoundError, Reader } from "@maxmind/geoip2-node";
import { Reader as MmdbReader, type CountryResponse } from "mmdb-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMmdbMetadata } from "./mmdb-format.js";
import { buildCountryMmdb, writeCountryMmdb, type CountryEntry } from "./mmdb-writer.js";

// The writer is checked against the two readers the locator relies on, not against itself.
const ENTRIES: CountryEntry[] = [
  { cidr: "81.2.69.0/24", country: "GB" },
  { cidr: "5.160.0.0/16", country: "IR" },
  { cidr: "5.160.7.0/24", registeredCountry: "US" }, // more specific, overrides part of the /16
  { cidr: "67.43.156.0/24", country: "BT", registeredCountry: "JP" },
];
const V6_ENTRIES: CountryEntry[] = [...ENTRIES, { cidr: "2001:db8:1::/48", country: "DE" }];

/** "GB", "r:US" for a registered-country-only record, null for no record; with the matched prefix length. */
function rawLookup(reader: MmdbReader<CountryResponse>, address: string): string {
  const [record, prefix] = reader.getWithPrefixLength(address);
  const code = record ? (record.country?.iso_code ?? `r:${record.registered_country?.iso_code}`) : null;
  return `${code}/${prefix}`;
}

describe("mmdb-writer read back with mmdb-lib", () => {
  for (const recordSize of [24, 28, 32] as const) {
    it(`IPv6 database, ${recordSize}-bit records`, () => {
      const reader = new MmdbReader<CountryResponse>(buildCountryMmdb(V6_ENTRIES, { recordSize }));
      expect(reader.metadata).toMatchObject({ ipVersion: 6, recordSize, databaseType: "GeoLite2-Country" });
      expect(reader.metadata.binaryFormatMajorVersion).toBe(2);
      expect(reader.metadata.languages).toEqual(["en"]);
      expect(reader.metadata.description).toEqual({ en: "Clearance test country database" });
      expect(rawLookup(reader, "81.2.69.1")).toBe("GB/24");
      expect(rawLookup(reader, "81.2.69.255")).toBe("GB/24");
      expect(rawLookup(reader, "81.2.70.0")).toMatch(/^null\//);
      expect(rawLookup(reader, "5.160.1.1")).toBe("IR/22"); // the /16 was split around the /24
      expect(rawLookup(reader, "5.160.7.9")).toBe("r:US/24");
      expect(rawLookup(reader, "5.161.0.1")).toMatch(/^null\//);
      expect(rawLookup(reader, "2001:db8:1::5")).toBe("DE/48");
      expect(rawLookup(reader, "2001:db8:1:ffff:ffff:ffff:ffff:ffff")).toBe("DE/48");
      expect(rawLookup(reader, "2001:db8:2::5")).toMatch(/^null\//);
      // IPv4 lives under ::/96; ::ffff:0:0/96 and 2002::/16 are aliased to it, as in MaxMind's databases.
      expect(rawLookup(reader, "::5102:4501")).toBe("GB/120");
      expect(rawLookup(reader, "::ffff:81.2.69.5")).toBe("GB/120");
      expect(rawLookup(reader, "2002:5102:4501::")).toBe("GB/40");
    });

    it(`IPv4 database, ${recordSize}-bit records`, () => {
      const reader = new MmdbReader<CountryResponse>(buildCountryMmdb(ENTRIES, { ipVersion: 4, recordSize }));
      expect(reader.metadata).toMatchObject({ ipVersion: 4, recordSize });
      expect(rawLookup(reader, "81.2.69.1")).toBe("GB/24");
      expect(rawLookup(reader, "5.160.7.9")).toBe("r:US/24");
      expect(rawLookup(reader, "9.9.9.9")).toMatch(/^null\//);
    });
  }

  it("picks the smallest record size and writes metadata the locator's own decoder accepts", () => {
    const buffer = buildCountryMmdb(V6_ENTRIES, { databaseType: "Test-Country" });
    expect(parseMmdbMetadata(buffer)).toMatchObject({
      recordSize: 24,
      ipVersion: 6,
      databaseType: "Test-Country",
      nodeCount: new MmdbReader(buffer).metadata.nodeCount,
    });
  });

  it("stores the high nibbles of 28-bit records in the shared middle byte", () => {
    // Values this large need a 268M-node tree, so the node layout is checked against mmdb-lib's walker directly.
    const require = createRequire(import.meta.url);
    type Walker = { left(offset: number): number; right(offset: number): number };
    const walker = require("mmdb-lib/lib/reader/walker.js") as {
      default: (db: Buffer, size: number) => Walker;
    };
    const node = Buffer.from([0xab, 0xcd, 0xef, 0x9c, 0x12, 0x34, 0x56]);
    const walk = walker.default(node, 28);
    expect(walk.left(0)).toBe(0x9abcdef);
    expect(walk.right(0)).toBe(0xc123456);
  });

  it("rejects bad input", () => {
    expect(() => buildCountryMmdb([{ cidr: "81.2.69.0", country: "GB" }])).toThrow(/bad CIDR "81.2.69.0"/);
    expect(() => buildCountryMmdb([{ cidr: "81.2.69.0/33", country: "GB" }])).toThrow(/bad CIDR/);
    expect(() => buildCountryMmdb([{ cidr: "2001:db8::/32", country: "DE" }], { ipVersion: 4 })).toThrow(
      /IPv6 network/,
    );
    expect(() => buildCountryMmdb([{ cidr: "81.2.69.0/24" }])).toThrow(
      /neither country nor registeredCountry/,
    );
  });
});

describe("mmdb-writer read back with @maxmind/geoip2-node", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "clearance-mmdb-writer-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("answers country() for IPv4 and IPv6 addresses inside and outside the networks", async () => {
    const file = join(dir, "v6.mmdb");
    await writeCountryMmdb(file, V6_ENTRIES);
    const reader = await Reader.open(file);
    expect(reader.country("81.2.69.160").country?.isoCode).toBe("GB");
    expect(reader.country("81.2.69.160").traits.network).toBe("81.2.69.0/24");
    expect(reader.country("67.43.156.1").registeredCountry?.isoCode).toBe("JP");
    expect(reader.country("5.160.7.1").country).toBeUndefined();
    expect(reader.country("5.160.7.1").registeredCountry?.isoCode).toBe("US");
    expect(reader.country("2001:db8:1::1").country?.isoCode).toBe("DE");
    expect(() => reader.country("8.8.8.8")).toThrow(AddressNotFoundError);
    expect(() => reader.country("2001:db8:2::1")).toThrow(AddressNotFoundError);
    expect(() => reader.country("127.0.0.1")).toThrow(AddressNotFoundError);
  });

  it("answers country() from an IPv4 database", async () => {
    const file = join(dir, "v4.mmdb");
    await writeCountryMmdb(file, ENTRIES, { ipVersion: 4 });
    const reader = await Reader.open(file);
    expect(reader.country("5.160.200.1").country?.isoCode).toBe("IR");
    expect(() => reader.country("10.1.2.3")).toThrow(AddressNotFoundError);
  });
});
