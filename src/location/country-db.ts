/**
 * Country look-up in a MaxMind-format database (GeoLite2-Country, DB-IP lite country, or a City database).
 *
 * The file is read whole when opened (at start-up, and again when it is replaced: see live-db.ts); each
 * look-up is then an in-memory tree walk. geoip2-node builds a fresh, deep-camel-cased model object per hit
 * and throws on a miss, so answers are remembered per address in a bounded map: the same clients come back
 * again and again, and a repeat costs one Map.get.
 */
import { AddressNotFoundError, ReaderModel } from "@maxmind/geoip2-node";
import { Reader as MmdbReader } from "mmdb-lib";
import { isCountryCode } from "../countries/index.js";
import type { IPv6 } from "ipaddr.js";
import type { IpAddress } from "./cidr.js";
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { METADATA_MAX_BYTES, parseMmdbMetadata, type MmdbMetadata } from "./mmdb-format.js";
import { quoted } from "../policy/text.js";

/** Returns the country of an address, or null when the database has no (valid) country for it. */
export type CountryLookup = (address: IpAddress) => string | null;

/** Decoded records shared by many networks; a country database has only a few hundred distinct ones. */
const READER_CACHE_ENTRIES = 4096;
/** Answers remembered per address; when full the map is emptied, which keeps the bound without LRU upkeep. */
const ANSWER_CACHE_ENTRIES = 65_536;
/** The largest file read as a database: real country databases are 10–80 MB (a City one a few hundred). */
export const MAX_COUNTRY_DB_BYTES = 1024 * 1024 * 1024;

/**
 * How the file is opened: without waiting (a FIFO with no writer blocked open() for ever), and then
 * read only if fstat says it is a regular file of at most MAX_COUNTRY_DB_BYTES (/dev/zero was read
 * until memory ran out). The reason a file is not one, or null.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;
function notADatabaseFile(s: Stats): string | null {
  if (s.isDirectory()) return "it is a directory";
  if (!s.isFile()) return "it is not a regular file (a pipe, a socket or a device?)";
  if (s.size > MAX_COUNTRY_DB_BYTES) {
    return `it is larger than ${MAX_COUNTRY_DB_BYTES / 1024 ** 3} GiB, which no country database is (they are tens of MB)`;
  }
  return null;
}

/**
 * What makes `file` unusable as a country database, or null: its metadata read synchronously (the
 * file's tail), for config loading to refuse before anything starts. openCountryDb checks the rest.
 */
export function countryDbProblem(file: string): string | null {
  const fail = (reason: string) => `cannot use mmdb file "${file}": ${reason}`;
  let metadata: MmdbMetadata;
  try {
    const fd = openSync(file, OPEN_FLAGS);
    try {
      const stats = fstatSync(fd);
      const refused = notADatabaseFile(stats);
      if (refused !== null) return fail(refused);
      const size = stats.size;
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
    ? fail(`database type ${quoted(metadata.databaseType)} has no country data`)
    : null;
}

/** The reader's country() insists on a "Country" database type; City-type databases carry the same fields. */
const countryMethod = (type: string): "country" | "city" | undefined =>
  type.includes("Country") ? "country" : /City|Enterprise/.test(type) ? "city" : undefined;

/** A file as it was when read: a replacement (renamed over it, or copied onto it) changes one of these. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  /**
   * The inode's change time: a copy onto the file can set its size and modification time back (and
   * on a file system with coarse times keep them), but not this, which the kernel sets.
   */
  readonly ctimeMs: number;
}

export const identityOf = (s: Stats): FileIdentity => ({
  dev: s.dev,
  ino: s.ino,
  size: s.size,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
});

export const sameFile = (a: FileIdentity | null, b: FileIdentity | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs);

/** Why the file at a path is no usable country database; `reason` says it without the path. */
export class CountryDbError extends Error {
  constructor(
    file: string,
    readonly reason: string,
  ) {
    super(`location: cannot use mmdb file "${file}": ${reason}`);
  }
}

/** An opened database: its look-up, its metadata, the file it was read from and its content's digest. */
export interface CountryDb {
  readonly lookup: CountryLookup;
  readonly metadata: MmdbMetadata;
  readonly file: FileIdentity;
  /** SHA-256 of the bytes read, hex: a file whose identity changed (a link, a chmod) may hold the same. */
  readonly digest: string;
}

/** How much of the file one read takes (and the digest one step hashes). */
const READ_SLICE_BYTES = 8 * 1024 * 1024;

/**
 * Opens the database at `file`; throws an Error naming the file if it is missing or not a usable mmdb.
 * The file is read once, through one handle: its metadata, tree and identity all come from the same
 * bytes, even if the file is being replaced meanwhile.
 */
export async function openCountryDb(file: string): Promise<CountryDb> {
  const fail = (reason: string): Error => new CountryDbError(file, reason);
  let bytes: Buffer;
  const hash = createHash("sha256");
  let identity: FileIdentity;
  let metadata: MmdbMetadata;
  try {
    const handle = await open(file, OPEN_FLAGS);
    try {
      const stats = await handle.stat();
      const refused = notADatabaseFile(stats);
      if (refused !== null) throw fail(refused);
      identity = identityOf(stats);
      bytes = Buffer.alloc(stats.size);
      // In slices, each hashed as it comes: a 1 GiB file hashed at once held the event loop ~2 s.
      for (let at = 0, n = -1; at < bytes.length; at += n) {
        n = (await handle.read(bytes, at, Math.min(READ_SLICE_BYTES, bytes.length - at), at)).bytesRead;
        hash.update(bytes.subarray(at, at + n));
        // Truncated while read (copied onto as it was looked at): the next poll sees it changed again.
        if (n === 0) throw fail("it changed while being read");
      }
    } finally {
      await handle.close();
    }
    metadata = parseMmdbMetadata(
      bytes.subarray(Math.max(0, bytes.length - METADATA_MAX_BYTES)),
      bytes.length,
    );
  } catch (error) {
    if (error instanceof CountryDbError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw fail("no such file");
    if (code === "EISDIR") throw fail("it is a directory");
    throw fail(error instanceof Error ? error.message : String(error));
  }
  const type = metadata.databaseType;
  const method = countryMethod(type);
  if (method === undefined) throw fail(`database type ${quoted(type)} has no country data`);

  let reader: ReaderModel;
  try {
    reader = new ReaderModel(new MmdbReader(bytes, { cache: boundedCache(READER_CACHE_ENTRIES) }));
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
  const lookup: CountryLookup = (address) => {
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
  return { lookup, metadata, file: identity, digest: hash.digest("hex") };
}

/** The reader's cache of decoded records; when full it is emptied, like the answers. */
function boundedCache(entries: number): {
  get(key: string | number): unknown;
  set(key: string | number, value: unknown): void;
} {
  const map = new Map<string | number, unknown>();
  return {
    get: (key) => map.get(key),
    set: (key, value) => {
      if (map.size >= entries) map.clear();
      map.set(key, value);
    },
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
