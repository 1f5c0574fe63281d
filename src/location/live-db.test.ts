/**
 * LiveCountryDb against real files: what counts as a replacement (rename, copy onto, removal), what
 * a database without a build time reports, a file put back after a refused one, and what is no
 * database file at all (a FIFO, a device, a file too large to be one).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  linkSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAddress } from "./cidr.js";
import { MAX_COUNTRY_DB_BYTES } from "./country-db.js";
import { LiveCountryDb, tooOld } from "./live-db.js";
import { buildCountryMmdb } from "./mmdb-writer.js";

const ADDRESS = parseAddress("81.2.69.160")!;
const db = (country: string, buildEpoch?: number | null) =>
  buildCountryMmdb([{ cidr: "81.2.69.0/24", country }], buildEpoch === undefined ? {} : { buildEpoch });

const setUp = async (bytes: Buffer, maxAgeDays = 45) => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-live-db-"));
  const path = join(dir, "country.mmdb");
  writeFileSync(path, bytes);
  const lines: string[] = [];
  const live = await LiveCountryDb.open(path, maxAgeDays, (l) => lines.push(l));
  return { dir, path, lines, live };
};

describe("LiveCountryDb", () => {
  it("takes a file copied onto the database (same inode, new size and time)", async () => {
    const { path, live } = await setUp(db("GB"));
    expect(live.lookup(ADDRESS)).toBe("GB");
    // Truncated and written in place, as cp does (a longer file: the size alone tells it changed).
    writeFileSync(
      path,
      buildCountryMmdb(
        [
          { cidr: "81.2.69.0/24", country: "SE" },
          { cidr: "5.160.0.0/16", country: "IR" },
        ],
        { buildEpoch: 1_700_000_000 },
      ),
    );
    await live.check();
    expect(live.lookup(ADDRESS)).toBe("SE");
    expect(live.status()).toEqual({ buildEpoch: 1_700_000_000, maxAgeDays: 45, refused: null });
  });

  it("takes a copy onto the database that keeps its size and modification time (coarse times, cp -p)", async () => {
    // A file system with one-second times: the database's modification time is a whole second.
    const dir = mkdtempSync(join(tmpdir(), "clearance-live-db-"));
    const path = join(dir, "country.mmdb");
    const SECOND = 1_700_000_000;
    writeFileSync(path, db("GB"));
    utimesSync(path, SECOND, SECOND);
    const lines: string[] = [];
    const live = await LiveCountryDb.open(path, 45, (l) => lines.push(l));
    const before = statSync(path);
    const next = db("SE");
    expect(next.length).toBe(before.size); // the same size: only the content differs
    // Copied onto within the same second (or with `cp -p` from a file of that time).
    writeFileSync(path, next);
    utimesSync(path, SECOND, SECOND);
    expect(statSync(path)).toMatchObject({ ino: before.ino, size: before.size, mtimeMs: before.mtimeMs });
    await live.check();
    expect(live.lookup(ADDRESS)).toBe("SE");
    expect(lines).toEqual([expect.stringMatching(/now using .* it replaces the database/)]);
  });

  it("says nothing when only the file's metadata changed (a chmod): the same bytes stay in use", async () => {
    const { path, lines, live } = await setUp(db("GB"));
    chmodSync(path, 0o600);
    await live.check();
    expect(live.lookup(ADDRESS)).toBe("GB");
    expect(lines).toEqual([]);
    await live.check(); // the new identity is kept: not read again
    expect(lines).toEqual([]);
  });

  it("keeps the database in use when the file is removed, and clears the report when it is put back", async () => {
    const { dir, path, lines, live } = await setUp(db("GB"));
    const kept = join(dir, "kept.mmdb");
    linkSync(path, kept); // the same file under another name, to put back
    rmSync(path);
    await live.check();
    expect(live.lookup(ADDRESS)).toBe("GB");
    expect(live.status().refused).toEqual({ reason: "no such file", since: expect.any(Number) as unknown });
    expect(lines).toEqual([expect.stringMatching(/": no such file; the database built .* stays in use/)]);
    renameSync(kept, path);
    await live.check();
    expect(live.status().refused).toBeNull();
    expect(live.lookup(ADDRESS)).toBe("GB");
    expect(lines).toHaveLength(1); // the same database: nothing was read, nothing said
  });

  it("shares a poll under way: two calls, one read", async () => {
    const { dir, path, lines, live } = await setUp(db("GB"));
    writeFileSync(join(dir, "next.mmdb"), db("SE"));
    renameSync(join(dir, "next.mmdb"), path);
    await Promise.all([live.check(), live.check()]);
    expect(lines.filter((l) => l.includes("now using"))).toHaveLength(1);
    expect(live.lookup(ADDRESS)).toBe("SE");
  });

  it("says when a database states no build time, and never calls it too old", async () => {
    const { lines, live } = await setUp(db("GB", null), 1);
    expect(live.status().buildEpoch).toBeNull();
    expect(tooOld(live.status(), Date.now())).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/states no build time \(build_epoch\)/)]);
  });

  it("calls a database too old only past its allowed age", async () => {
    const { live } = await setUp(db("GB", 1_000_000), 2);
    expect(tooOld(live.status(), 1_000_000_000 + 2 * 86_400_000)).toBe(false);
    expect(tooOld(live.status(), 1_000_000_000 + 2 * 86_400_000 + 1)).toBe(true);
  });

  // Renamed over the database, as a replacement is; a good database is then put back the same way.
  const replace = (dir: string, path: string, make: (at: string) => void) => {
    const at = join(dir, `next-${Math.random().toString(36).slice(2)}`);
    make(at);
    renameSync(at, path);
  };

  describe.skipIf(process.platform === "win32")("a replacement that is no database file", () => {
    it("a FIFO is refused at once and reported, not waited on; a database put back is taken", async () => {
      const { dir, path, lines, live } = await setUp(db("GB"));
      replace(dir, path, (at) => execFileSync("mkfifo", [at]));
      await live.check(); // opening a FIFO with no writer blocked this poll, and every one after it, for ever
      expect(live.lookup(ADDRESS)).toBe("GB");
      expect(live.status().refused).toEqual({
        reason: "it is not a regular file (a pipe, a socket or a device?)",
        since: expect.any(Number) as unknown,
      });
      expect(lines).toEqual([
        expect.stringMatching(
          /": it is not a regular file \(a pipe, a socket or a device\?\); the database built .* stays in use/,
        ),
      ]);
      replace(dir, path, (at) => writeFileSync(at, db("SE")));
      await live.check();
      expect(live.lookup(ADDRESS)).toBe("SE");
      expect(live.status().refused).toBeNull();
      await live.stop();
    });

    it("a link to /dev/zero is refused without being read; a database put back is taken", async () => {
      const { dir, path, live } = await setUp(db("GB"));
      replace(dir, path, (at) => symlinkSync("/dev/zero", at)); // was read until 2 GiB, then refused
      await live.check();
      expect(live.lookup(ADDRESS)).toBe("GB");
      expect(live.status().refused?.reason).toBe("it is not a regular file (a pipe, a socket or a device?)");
      replace(dir, path, (at) => writeFileSync(at, db("SE")));
      await live.check();
      expect(live.lookup(ADDRESS)).toBe("SE");
      expect(live.status().refused).toBeNull();
    });

    it("a file larger than any country database is refused without being read", async () => {
      const { dir, path, live } = await setUp(db("GB"));
      replace(dir, path, (at) => {
        writeFileSync(at, "");
        truncateSync(at, MAX_COUNTRY_DB_BYTES + 1); // sparse: no disk, but read whole before
      });
      await live.check();
      expect(live.lookup(ADDRESS)).toBe("GB");
      expect(live.status().refused?.reason).toBe(
        "it is larger than 1 GiB, which no country database is (they are tens of MB)",
      );
    });

    it("stop() returns while a poll is looking at a FIFO, and nothing is taken or said after it", async () => {
      const { dir, path, lines, live } = await setUp(db("GB"));
      replace(dir, path, (at) => execFileSync("mkfifo", [at]));
      live.start(3_600_000); // what a gateway runs; its close() is this stop()
      const poll = live.check();
      await live.stop(); // waited for ever on the poll blocked in open()
      await poll;
      replace(dir, path, (at) => writeFileSync(at, db("SE")));
      await live.check(); // stopped: nothing more is read
      expect(live.lookup(ADDRESS)).toBe("GB");
      expect(lines).toEqual([]);
    });
  });
});
