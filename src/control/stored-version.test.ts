/**
 * A scheme version already stored loads under a release whose checks are stricter than the one
 * that stored it: what the new checks refuse is left out (fail closed) and reported, as any
 * partner or license the policy in force cannot take is. New versions are still refused.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { EXAMPLE, OLDER_VERSION, storeAsOlderRelease } from "../testing/older-release.js";
import { parseStoredVersion } from "./effective.js";
import { storePolicy } from "./in-force.js";
import { activateVersion, addVersion, seedFromFile } from "./seed.js";
import { buildState } from "./state.js";
import type { ActiveScheme, PartnerDocument, SchemeVersion } from "./types.js";

let store: Store;
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-stored-")) });
  await seedFromFile(store, EXAMPLE, "2026-11-21T00:00:00Z");
  await storeAsOlderRelease(store, "2026-11-22T00:00:00Z");
});
afterEach(() => store.close());

describe("a version an older release stored", () => {
  it("loads; the empty-list license and both spellings of the partner are left out and reported", async () => {
    const state = buildState((await store.snapshot()).records);
    expect(state.active.document.version).toBe(2);
    expect(state.leftOut).toEqual([
      {
        kind: "license",
        id: "BIS-2026-0002",
        problems: [expect.objectContaining({ code: "empty", path: ["purposes"] })],
      },
      // In the store's order of ids.
      ...["UK-AISI", "uk-aisi"].map((id) => ({
        kind: "partner",
        id,
        problems: [
          expect.objectContaining({
            code: "duplicate_id",
            path: ["id"],
            message: expect.stringContaining('"UK-AISI" and "uk-aisi" name one partner'),
          }),
        ],
      })),
    ]);
    // Fail closed: neither spelling grants (the suspension under one is not bypassed under the
    // other), and the empty license grants nothing; the rest is in force.
    expect([...state.scheme.organizationPartners.keys()]).toEqual([]);
    expect(state.scheme.licenses.has("BIS-2026-0002")).toBe(false);
    expect(state.scheme.licenses.has("BIS-2026-0001")).toBe(true);
    expect(state.scheme.countryPartners.map((p) => p.id)).toEqual(["eu-members", "g7-fvey"]);
    // A change checked against the store's policy (another node's snapshot) reads it too.
    expect((await storePolicy(store)).version).toBe(2);
  });

  it("whichever spelling is suspended, neither serves", async () => {
    // The store lists UK-AISI first: left out alone, uk-aisi (suspended) would go, and UK-AISI serve.
    const flip = async (id: string, status: string) => {
      const r = (await store.records.get<PartnerDocument>("partner", id))!;
      const doc = { ...r.document, partner: { ...r.document.partner, status } };
      await store.records.put("partner", id, doc, r.revision, { actor: "t", action: "partner.x" });
    };
    await flip("uk-aisi", "suspended");
    await flip("UK-AISI", "active");
    // Under the example (version 1), whose own partners are in order: the store's two spellings alone.
    const active = (await store.records.get<ActiveScheme>("setting", "active-scheme"))!;
    const v1 = { ...active.document, version: 1 };
    await store.records.put("setting", "active-scheme", v1, active.revision, { actor: "t", action: "x" });
    const state = buildState((await store.snapshot()).records);
    expect(state.leftOut.filter((l) => l.kind === "partner").map((l) => l.id)).toEqual([
      "UK-AISI",
      "uk-aisi",
    ]);
    expect(state.scheme.organizationPartners.size).toBe(0);
  });

  it("is still refused as a new version, or activated again, naming the field", async () => {
    const uploaded = await addVersion(store, OLDER_VERSION, "admin", "2026-11-23T00:00:00Z").catch(
      (e: unknown) => e,
    );
    expect(uploaded).toBeInstanceOf(InvalidInputError);
    const paths = (uploaded as InvalidInputError).problems.map((p) => [p.code, p.path.join(".")]);
    expect(paths).toEqual([
      ["duplicate_id", "partners.organizations.1.id"],
      ["empty", "licenses.1.purposes"],
    ]);
    const reactivated = await activateVersion(store, 2, "admin", "2026-11-23T00:00:00Z").catch(
      (e: unknown) => e,
    );
    expect(reactivated).toBeInstanceOf(InvalidInputError);
    expect((reactivated as InvalidInputError).problems.map((p) => p.path.join("."))).toContain(
      "licenses.1.purposes",
    );
    await expect(seedFromFile(store, OLDER_VERSION, "2026-11-23T00:00:00Z")).rejects.toThrow(
      InvalidInputError,
    );
  });

  it("does not stop a new version: what the policy in force already leaves out is not its doing", async () => {
    // Revoked or not, the license still names no purpose and the partner is still spelled twice:
    // counted against every new version, they would refuse them all (and a changed scheme file
    // would stop start-up), with nothing the admin API could do about it.
    const changed = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, RU]");
    await seedFromFile(store, changed, "2026-11-23T00:00:00Z");
    let state = buildState((await store.snapshot()).records);
    expect(state.active.document.version).toBe(3);
    expect(state.scheme.embargoed.has("RU")).toBe(true);
    expect(state.leftOut.map((l) => l.id)).toEqual(["BIS-2026-0002", "UK-AISI", "uk-aisi"]);
    // Through the admin API's path too: a version uploaded, then activated.
    const { version } = await addVersion(store, EXAMPLE, "admin", "2026-11-24T00:00:00Z");
    await activateVersion(store, version, "admin", "2026-11-24T00:00:00Z", { reason: "back" });
    state = buildState((await store.snapshot()).records);
    expect(state.active.document.version).toBe(version);
    expect(state.leftOut.map((l) => l.id)).toEqual(["BIS-2026-0002", "UK-AISI", "uk-aisi"]);
  });
});

describe("a version in force that does not load at all", () => {
  let fresh: Store;
  beforeEach(async () => {
    fresh = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-stored-")) });
    await seedFromFile(fresh, EXAMPLE, "2026-11-21T00:00:00Z");
  });
  afterEach(() => fresh.close());

  it("is still replaced by a corrected scheme file", async () => {
    // An active version with a problem no partner or license carries (a fallback to no model): it
    // keeps the gateway from starting, as ever; the way out is a corrected scheme file.
    const broken = EXAMPLE.replace("fallback: mythos-4, description", "fallback: nope-9, description");
    expect(broken).not.toBe(EXAMPLE);
    const { version } = await addVersion(fresh, EXAMPLE, "admin", "2026-11-22T12:00:00Z");
    const stored = (await fresh.records.get<SchemeVersion>("scheme", String(version)))!;
    await fresh.records.put(
      "scheme",
      String(version),
      { ...stored.document, text: broken },
      stored.revision,
      {
        actor: "admin",
        action: "older.release",
      },
    );
    const active = (await fresh.records.get<ActiveScheme>("setting", "active-scheme"))!;
    await fresh.records.put("setting", "active-scheme", { ...active.document, version }, active.revision, {
      actor: "admin",
      action: "older.release",
    });
    const before = (await fresh.snapshot()).records;
    expect(() => buildState(before)).toThrow(InvalidInputError);
    const changed = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, RU]");
    await seedFromFile(fresh, changed, "2026-11-23T00:00:00Z");
    const state = buildState((await fresh.snapshot()).records);
    expect(state.scheme.embargoed.has("RU")).toBe(true);
  });
});

describe("a version stored with a tag an upload is now refused for", () => {
  const TAGGED = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: !list [EAR_E1, EAR_E2, !c RU]");

  it("loads as it was read when stored, the tags read as if absent", () => {
    expect(TAGGED).not.toBe(EXAMPLE);
    const version: SchemeVersion = {
      version: 7,
      name: "g7-trusted-partners",
      digest: "",
      text: TAGGED,
      uploaded_by: "admin",
      uploaded_at: "2026-11-22T00:00:00Z",
    };
    expect(parseStoredVersion(version).embargoed.has("RU")).toBe(true);
  });

  it("is refused as an upload, at the tag's line", async () => {
    const line = TAGGED.split("\n").findIndex((l) => l.includes("!list")) + 1;
    await expect(addVersion(store, TAGGED, "admin", "2026-11-22T12:00:00Z")).rejects.toMatchObject({
      problems: [
        expect.objectContaining({ code: "yaml_tag", line }),
        expect.objectContaining({ code: "yaml_tag", line }),
      ],
    });
  });
});
