/**
 * The country database (location.mmdb) while a gateway runs: its build time is a gauge and, past
 * location.mmdb_max_age_days, a /readyz warning (the node stays ready); a database renamed over the
 * file is read in the background and decides every request from then on; a replacement that fails
 * the start-up checks is kept out (the database before stays), logged, reported, and not read again
 * until the file changes again. Real mmdb files, a real gateway, replacements by rename.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCountryMmdb, type CountryEntry } from "../location/mmdb-writer.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);
/** The address every request is forwarded for (loopback is the trusted proxy). */
const CLIENT = "198.51.100.7";
const placed = (country: string): CountryEntry[] => [{ cidr: "198.51.100.0/24", country }];

const dir = mkdtempSync(join(tmpdir(), "clearance-mmdb-reload-"));
const mmdb = join(dir, "country.mmdb");
/** Writes `bytes` beside the database and renames it over, as a weekly update job does. */
let serial = 0;
const replace = (bytes: Buffer | string) => {
  const next = join(dir, `incoming-${++serial}.mmdb`);
  writeFileSync(next, bytes);
  renameSync(next, mmdb);
};

const lines: string[] = [];
const locationLines = () => lines.filter((l) => l.includes("location:"));
let t: TestGateway;
const firstEpoch = now() - 60 * DAY;

beforeAll(async () => {
  writeFileSync(mmdb, buildCountryMmdb(placed("US"), { buildEpoch: firstEpoch }));
  t = await startTestGateway({
    // The timer is left long: each test looks for a replacement itself, with check() (what the timer runs).
    location: `{ mmdb: ${JSON.stringify(mmdb)}, mmdb_max_age_days: 45, mmdb_check_ms: 3600000, trusted_proxies: [127.0.0.1/32, "::1/128"] }`,
    log: (line) => lines.push(line),
  });
});
afterAll(() => t.gateway.close());

/** alice (a US citizen) asks for a controlled model, forwarded for CLIENT: 200 unless CLIENT is embargoed. */
const ask = async () => {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get("alice")}`,
      "content-type": "application/json",
      "x-forwarded-for": CLIENT,
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  await r.arrayBuffer();
  return { status: r.status, reason: r.headers.get("x-clearance-reason") };
};
const SERVED = { status: 200, reason: expect.any(String) as unknown };
const EMBARGOED = { status: 403, reason: "embargoed-location" };

const readyz = async (token?: string) => {
  const r = await fetch(
    `${t.url}/readyz`,
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  const body = (await r.json()) as { status: string; warnings?: string[] };
  return { status: r.status, warnings: (body.warnings ?? []).filter((w) => w.includes("location database")) };
};
const metrics = async () =>
  (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
const gauge = (text: string, name: string) => new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1];

describe("the location database's age", () => {
  it("is a gauge, and past location.mmdb_max_age_days a /readyz warning (still ready) and a log line", async () => {
    const text = await metrics();
    expect(gauge(text, "clearance_location_database_build_timestamp_seconds")).toBe(String(firstEpoch));
    expect(gauge(text, "clearance_location_database_replacement_refused")).toBe("0");
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /^the location database \(location\.mmdb\) was built \S+ \(60 days ago\), more than location\.mmdb_max_age_days \(45\) ago/,
      ),
    ]);
    expect(locationLines()).toEqual([
      expect.stringMatching(
        /^clearance: warning: location: .*country\.mmdb was built .* \(60 days ago\), more than location\.mmdb_max_age_days \(45\)/,
      ),
    ]);
  });

  const promtool = spawnSync("promtool", ["--version"]).status === 0;
  it.skipIf(!promtool)(
    "is exposed as promtool check metrics accepts (skipped: promtool not installed)",
    async () => {
      const r = spawnSync("promtool", ["check", "metrics"], { input: await metrics(), encoding: "utf8" });
      expect(r.stderr + r.stdout).toBe("");
      expect(r.status).toBe(0);
    },
  );
});

describe("a database renamed over location.mmdb", () => {
  const secondEpoch = now() - DAY;

  it("is read in the background and decides every request from then on; the age warning goes", async () => {
    expect(await ask()).toEqual(SERVED); // US in the database at start
    replace(buildCountryMmdb(placed("IR"), { buildEpoch: secondEpoch }));
    // Replaced, not yet looked at: requests are still located with the database in use.
    expect(await ask()).toEqual(SERVED);
    await t.gateway.countryDb!.check();
    expect(await ask()).toEqual(EMBARGOED);
    expect(gauge(await metrics(), "clearance_location_database_build_timestamp_seconds")).toBe(
      String(secondEpoch),
    );
    expect(await readyz()).toEqual({ status: 200, warnings: [] });
    expect(locationLines().at(-1)).toMatch(
      /^clearance: location: now using .*country\.mmdb, built .* \(1 day ago\); it replaces the database built .* \(60 days ago\)$/,
    );
  });

  it("is kept out when it fails the checks: logged once, reported, not read again until the file changes", async () => {
    const before = locationLines().length;
    // A database without country data: start-up would refuse it too.
    replace(buildCountryMmdb(placed("US"), { databaseType: "GeoLite2-ASN" }));
    await t.gateway.countryDb!.check();
    expect(await ask()).toEqual(EMBARGOED); // still the IR database
    expect(locationLines().slice(before)).toEqual([
      expect.stringMatching(
        /^clearance: location: cannot use mmdb file ".*country\.mmdb": database type "GeoLite2-ASN" has no country data; the database built .* \(1 day ago\) stays in use until the file changes again$/,
      ),
    ]);
    expect(gauge(await metrics(), "clearance_location_database_replacement_refused")).toBe("1");
    // To a probe: that it was refused; to a reader: why.
    expect(await readyz()).toEqual({
      status: 200,
      warnings: [
        expect.stringMatching(
          /^a replacement of the location database \(location\.mmdb\) was refused at \S+: the database before stays in use/,
        ),
      ],
    });
    expect((await readyz(ADMIN_TOKEN)).warnings).toEqual([
      expect.stringMatching(
        /^a replacement of the location database \(location\.mmdb\) was refused \(database type "GeoLite2-ASN" has no country data\) at /,
      ),
    ]);
    // The same file is not read again.
    await t.gateway.countryDb!.check();
    await t.gateway.countryDb!.check();
    expect(locationLines().length).toBe(before + 1);

    // Garbage next (another file): refused too, with its own reason.
    replace("this is not a database\n".repeat(100));
    await t.gateway.countryDb!.check();
    expect(locationLines().at(-1)).toMatch(
      /not a MaxMind DB file .*stays in use until the file changes again$/,
    );
    expect(await ask()).toEqual(EMBARGOED);

    // A good one after it is taken, and the report clears.
    replace(buildCountryMmdb(placed("US"), { buildEpoch: now() }));
    await t.gateway.countryDb!.check();
    expect(await ask()).toEqual(SERVED);
    expect(gauge(await metrics(), "clearance_location_database_replacement_refused")).toBe("0");
    expect(await readyz()).toEqual({ status: 200, warnings: [] });
  });
});

describe("the poll", () => {
  it("runs on its own every location.mmdb_check_ms", async () => {
    const seen: string[] = [];
    let swapped!: () => void;
    const done = new Promise<void>((resolve) => (swapped = resolve));
    const own = join(mkdtempSync(join(tmpdir(), "clearance-mmdb-poll-")), "country.mmdb");
    writeFileSync(own, buildCountryMmdb(placed("US")));
    const g = await startTestGateway({
      location: `{ mmdb: ${JSON.stringify(own)}, mmdb_check_ms: 20, trusted_proxies: [127.0.0.1/32] }`,
      log: (line) => {
        seen.push(line);
        if (line.includes("now using")) swapped();
      },
    });
    try {
      const next = `${own}.new`;
      writeFileSync(next, buildCountryMmdb(placed("IR")));
      renameSync(next, own);
      await done; // the test's timeout catches a poll that never runs
      const r = await fetch(`${g.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${g.keys.get("alice")}`,
          "content-type": "application/json",
          "x-forwarded-for": CLIENT,
        },
        body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(r.headers.get("x-clearance-reason")).toBe("embargoed-location");
    } finally {
      await g.gateway.close();
    }
  });
});
