/**
 * Country look-up in a MaxMind-format database (GeoLite2-Country, DB-IP lite country, or a City database).
 *
 * The file is read once at start-up; each look-up is then an in-memory tree walk. geoip2-node builds a fresh,
 * deep-camel-cased model object per hit and throws on a miss, so answers are remembered per address in a
 * bounded map: the same clients come back again and again, and a repeat costs one Map.get.
 */
import { AddressNotFoundError, Reader, type ReaderModel } from "@maxmind/geoip2-node";
import { isCountryCode } from "../countries/index.js";
import type { IPv6 } from "ipaddr.js";
import type { IpAddress } from "./cidr.js";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { METADATA_MAX_BYTES, parseMmdbMetadata, readMmdbMetadata, type MmdbMetadata } from "./mmdb-format.js";

/** Returns the country of an address, or null when the database has no (valid) country for it. */
export type CountryLookup = (address: IpAddress) => string | null;

/** Decoded records shared by many networks; a country database has only a few hundred distinct ones. */
const READER_CACHE_ENTRIES = 4096;
/** Answers remembered per address; when full the map is emptied, which keeps the bound without LRU upkeep. */
const ANSWER_CACHE_ENTRIES = 65_536;

/**
 * What makes `file` unusable as a country database, or null: its metadata read synchronously (the
 * file's tail), for config loading to refuse before anything starts. openCountryDb checks the rest.
 */
export function countryDbProblem(file: string): string | null {
  const fail = (reason: string) => `cannot use mmdb file "${file}": ${reason}`;
  let metadata: MmdbMetadata;
  try {
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      const tail = Buffer.alloc(Math.min(size, METADATA_MAX_BYTES));
      readSync(fd, tail, 0, tail.length, size - tail.length);
      metadata = parseMmdbMetadata(tail, size);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return fail("no such file");
    if (code === "EISDIR") return fail("it is a directory");
    return fail(error instanceof Error ? error.message : String(error));
  }
  return countryMethod(metadata.databaseType) === undefined
    ? fail(`database type "${metadata.databaseType}" has no country data`)
    : null;
}

/** The reader's country() insists on a "Country" database type; City-type databases carry the same fields. */
const countryMethod = (type: string): "country" | "city" | undefined =>
  type.includes("Country") ? "country" : /City|Enterprise/.test(type) ? "city" : undefined;

/** Opens the database at `file`; throws an Error naming the file if it is missing or not a usable mmdb. */
export async function openCountryDb(file: string): Promise<CountryLookup> {
  const fail = (reason: string): Error => new Error(`location: cannot use mmdb file "${file}": ${reason}`);
  let metadata: MmdbMetadata;
  try {
    metadata = await readMmdbMetadata(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw fail("no such file");
    if (code === "EISDIR") throw fail("it is a directory");
    throw fail(error instanceof Error ? error.message : String(error));
  }
  const type = metadata.databaseType;
  const method = countryMethod(type);
  if (method === undefined) throw fail(`database type "${type}" has no country data`);

  let reader: ReaderModel;
  try {
    reader = await Reader.open(file, { cache: { max: READER_CACHE_ENTRIES } });
  } catch (error) {
    throw fail(error instanceof Error ? error.message : String(error));
  }

  const raw = (text: string): string | null => {
    try {
      const model = reader[method](text);
      return pickCountry(model.country?.isoCode, model.registeredCountry?.isoCode);
    } catch (error) {
      if (error instanceof AddressNotFoundError) return null;
      throw error;
    }
  };
  // One probe at start-up, so a corrupt tree or data section fails here and not on the first request.
  try {
    raw(metadata.ipVersion === 6 ? "2001:db8::1" : "192.0.2.1");
  } catch (error) {
    throw fail(`look-up failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  const answers = new Map<string, string | null>();
  return (address) => {
    // An IPv4-only tree would answer an IPv6 address with the record of its first 32 bits.
    if (address.kind() === "ipv6" && metadata.ipVersion === 4) return null;
    // A zone ID only qualifies a link-local address, which has no country.
    if ((address as { zoneId?: string }).zoneId) return null;
    // An IPv6 tree keeps IPv4 under ::/96, so ::a.b.c.d (IPv4-compatible, IPv6 here: see cidr.ts)
    // would get a.b.c.d's record. No client has such an address (deprecated; :: and ::1 are there).
    if (address.kind() === "ipv6" && isIpv4Compatible(address as IPv6)) return null;
    const key = address.toString();
    const known = answers.get(key);
    if (known !== undefined) return known;
    let answer: string | null;
    try {
      answer = raw(key);
    } catch {
      // The file passed the start-up checks; if one record is still unreadable, "unknown" is the safe answer.
      answer = null;
    }
    if (answers.size >= ANSWER_CACHE_ENTRIES) answers.clear();
    answers.set(key, answer);
    return answer;
  };
}

/** In ::/96: the first six groups zero (IPv4-mapped addresses are IPv4 by now, see parseAddress). */
const isIpv4Compatible = (address: IPv6): boolean => address.parts.slice(0, 6).every((part) => part === 0);

/** country.iso_code, else registered_country.iso_code; only codes the rest of Clearance accepts. */
function pickCountry(country: string | undefined, registered: string | undefined): string | null {
  if (country !== undefined && isCountryCode(country)) return country;
  if (registered !== undefined && isCountryCode(registered)) return registered;
  return null;
}
