/**
 * The contract every store driver passes: each driver's test file calls
 * `storeSuite("<driver>", open)`, where every call of `open` returns a store over a fresh, empty
 * database. Driver-specific behaviour (files, reopening, migrations) is tested beside the driver.
 * Test-only (imports vitest): never import it from shipped code.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import type { Principal } from "../policy/types.js";
import {
  StoreError,
  type ApiKeyRecord,
  type FederatedPrincipalRecord,
  type KeyQuery,
  type PrincipalQuery,
  type Store,
  type UsageDelta,
} from "./index.js";
import { parseApiKey, verifySecret } from "./keys.js";
import { alertSuite } from "./alerts-suite.js";
import { nulSuite } from "./nul-suite.js";
import { usageTotalsSuite } from "./usage-suite.js";

/** Every field set, nested objects, nulls, a non-alphabetical key order: all must survive. */
const FULL: Principal = {
  id: "p-full",
  screening: "clear",
  citizenships: [
    { country: "DE", since: "2001-02-03" },
    { country: "FR", since: null },
  ],
  permanent_residencies: [{ country: "US" }],
  residence: "DE",
  organization: { id: "org-bw", country: "DE", screening: "clear" },
  assurance: "verified",
};
const MINIMAL: Principal = { id: "p-min" };
const OTHER: Principal = { id: "a-other", organization: "org-x", residence: null };

const delta = (over: Partial<UsageDelta> = {}): UsageDelta => ({
  principalId: "p-full",
  organizationId: "org-bw",
  licenseId: "lic-1",
  model: "m5",
  inputTokens: 10,
  outputTokens: 5,
  requests: 1,
  at: "2030-01-02T03:04:05Z",
  ...over,
});

export function storeSuite(name: string, open: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe("principals", () => {
      it("round-trips the JSON document exactly, with no defaults filled in", async () => {
        expect(await store.principals.put(FULL)).toEqual({ created: true });
        expect(await store.principals.put(MINIMAL)).toEqual({ created: true });
        const full = await store.principals.get(FULL.id);
        expect(full).toStrictEqual(FULL);
        expect(JSON.stringify(full)).toBe(JSON.stringify(FULL));
        expect(await store.principals.get(MINIMAL.id)).toStrictEqual(MINIMAL);
        expect(await store.principals.get("nobody")).toBeUndefined();
      });

      it("replaces on a second put, and lists ordered by id", async () => {
        await store.principals.put(FULL);
        await store.principals.put(OTHER);
        const changed: Principal = { ...FULL, screening: "potential" };
        expect(await store.principals.put(changed)).toEqual({ created: false });
        expect(await store.principals.get(FULL.id)).toStrictEqual(changed);
        expect(await store.principals.list()).toStrictEqual([OTHER, changed]);
      });

      it("removes, and says whether there was anything to remove", async () => {
        await store.principals.put(FULL);
        expect(await store.principals.remove(FULL.id)).toBe(true);
        expect(await store.principals.get(FULL.id)).toBeUndefined();
        expect(await store.principals.remove(FULL.id)).toBe(false);
        expect(await store.principals.list()).toEqual([]);
      });

      it("rejects an invalid principal with field paths, and writes nothing", async () => {
        const before = await store.version();
        const bad = {
          id: "p-bad",
          citizenships: [{ country: "Germany" }],
          shoe_size: 44,
        } as unknown as Principal;
        const err = await store.principals.put(bad).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidInputError);
        const paths = (err as InvalidInputError).problems.map((p) => p.path.join("."));
        expect(paths).toEqual(expect.arrayContaining(["citizenships.0.country", "shoe_size"]));
        expect(await store.principals.get("p-bad")).toBeUndefined();
        expect(await store.version()).toBe(before);
      });

      it("refuses a federated principal's id (fed:…): those are a partner IdP's, not the store's", async () => {
        const err = await store.principals.put({ id: "fed:de-gov:anna" }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidInputError);
        expect((err as InvalidInputError).problems.map((p) => p.path.join("."))).toEqual(["id"]);
        expect(await store.principals.get("fed:de-gov:anna")).toBeUndefined();
      });

      it("takes an id holding a NUL character for unknown, as no stored id holds one (PostgreSQL's text cannot)", async () => {
        await store.principals.put(FULL);
        const nul = `${FULL.id}\u0000`;
        const v = await store.version();
        expect(await store.principals.get(nul)).toBeUndefined();
        expect(await store.principals.remove(nul)).toBe(false);
        expect(await store.keys.list(nul)).toEqual([]);
        await expect(store.keys.create(nul)).rejects.toMatchObject({ code: "unknown-principal" });
        expect(await store.records.get("partner", nul)).toBeUndefined();
        expect(await store.federated.get(`fed:x:\u0000`)).toBeUndefined();
        expect(await store.alerts.get("alr_\u0000")).toBeUndefined();
        expect(await store.alerts.transition("alr_\u0000", "resolved", "officer", null)).toBeUndefined();
        expect(await store.version()).toBe(v);
        expect(await store.principals.list()).toStrictEqual([FULL]);
      });

      it("pages principals filtered in the store: by organization, by the start of the id or name", async () => {
        const people: Principal[] = [
          { id: "bulk-0", organization: "org-a" },
          { id: "bulk-1", organization: { id: "org-a", country: "DE" } },
          { id: "bulk-2", organization: "org-b" },
          { id: "p-7731", name: "Zoë Quist", organization: "org-a" },
          { id: "Quentin" },
          { id: "p-\u{1F600}", name: "ΟΔΥΣΣΕΥΣ" },
          { id: "p-\uFFFD" },
          { id: "x-rene\u0301", name: "Jose\u0301 Ruiz" },
        ];
        for (const p of people) await store.principals.put(p);
        const ids = async (query: PrincipalQuery) => (await store.principals.page(query)).map((p) => p.id);
        // Ordered by id in code point order (upper case first), as list() is.
        expect(await ids({ limit: 100 })).toEqual((await store.principals.list()).map((p) => p.id));
        expect(await ids({ limit: 2 })).toEqual(["Quentin", "bulk-0"]);
        expect(await ids({ limit: 2, after: "bulk-0" })).toEqual(["bulk-1", "bulk-2"]);
        expect(await ids({ limit: 100, organization: "org-a" })).toEqual(["bulk-0", "bulk-1", "p-7731"]);
        expect(await ids({ limit: 1, organization: "org-a", after: "bulk-1" })).toEqual(["p-7731"]);
        expect(await ids({ limit: 100, prefix: "BULK-" })).toEqual(["bulk-0", "bulk-1", "bulk-2"]);
        expect(await ids({ limit: 100, prefix: "bulk-", organization: "org-b" })).toEqual(["bulk-2"]);
        // The id or the name, letter case aside, beyond ASCII (JavaScript's folding, final sigma too).
        expect(await ids({ limit: 100, prefix: "zoË" })).toEqual(["p-7731"]);
        expect(await ids({ limit: 100, prefix: "qu" })).toEqual(["Quentin"]);
        expect(await ids({ limit: 100, prefix: "οδυσσευς" })).toEqual(["p-\u{1F600}"]);
        // Stored decomposed (e and a combining accent), found by the composed é, and the other way round.
        expect(await ids({ limit: 100, prefix: "josé" })).toEqual(["x-rene\u0301"]);
        expect(await ids({ limit: 100, prefix: "X-RENÉ" })).toEqual(["x-rene\u0301"]);
        expect(await ids({ limit: 100, prefix: "Jose\u0301 r" })).toEqual(["x-rene\u0301"]);
        // Ranges end past the prefix's last code point: one below U+FFFF, one beyond it.
        expect(await ids({ limit: 100, prefix: "p-\uFFFD" })).toEqual(["p-\uFFFD"]);
        expect(await ids({ limit: 100, prefix: "p-\u{1F600}" })).toEqual(["p-\u{1F600}"]);
        expect(await ids({ limit: 100, prefix: "p-" })).toEqual(["p-7731", "p-\uFFFD", "p-\u{1F600}"]);
        expect(await ids({ limit: 100, prefix: "nobody" })).toEqual([]);
        // Text no stored principal holds (PostgreSQL's text cannot hold a NUL) matches nothing.
        expect(await ids({ limit: 100, prefix: "bulk\u0000" })).toEqual([]);
        expect(await ids({ limit: 100, organization: "org-a\u0000" })).toEqual([]);
        expect(await ids({ limit: 1, after: "bulk-0\u0000x" })).toEqual(["bulk-1"]);
        // A replaced principal is found by what it holds now, a removed one no more.
        await store.principals.put({ id: "bulk-0", organization: "org-b", name: "Ada" });
        expect(await ids({ limit: 100, organization: "org-b" })).toEqual(["bulk-0", "bulk-2"]);
        expect(await ids({ limit: 100, prefix: "ada" })).toEqual(["bulk-0"]);
        await store.principals.remove("bulk-0");
        expect(await ids({ limit: 100, prefix: "ada" })).toEqual([]);
      });

      it("keeps a principal's keys when it is replaced, and deletes them when it is removed", async () => {
        await store.principals.put(FULL);
        await store.principals.put(OTHER);
        const { record } = await store.keys.create(FULL.id);
        const { record: other } = await store.keys.create(OTHER.id);
        await store.principals.put({ ...FULL, assurance: "attested" });
        expect(await store.keys.list(FULL.id)).toEqual([record]);
        await store.principals.remove(FULL.id);
        expect(await store.keys.list()).toEqual([other]);
      });
    });

    describe("keys", () => {
      beforeEach(async () => {
        await store.principals.put(FULL);
      });

      it("returns the key once; the record holds only its hash, and the key verifies against it", async () => {
        const { key, record } = await store.keys.create(FULL.id, "laptop");
        const parsed = parseApiKey(key);
        expect(parsed).not.toBeNull();
        expect(record).toMatchObject({
          id: parsed?.id,
          principalId: FULL.id,
          label: "laptop",
          revokedAt: null,
        });
        expect(Number.isNaN(Date.parse(record.createdAt))).toBe(false);
        const listed = await store.keys.list();
        expect(listed).toEqual([record]);
        expect(JSON.stringify(listed)).not.toContain(parsed?.secret);
        expect(verifySecret(parsed?.secret ?? "", listed[0]?.hash ?? "")).toBe(true);
      });

      it("does not verify a wrong secret", async () => {
        const a = await store.keys.create(FULL.id);
        const b = await store.keys.create(FULL.id);
        const secretB = parseApiKey(b.key)?.secret ?? "";
        expect(verifySecret(secretB, a.record.hash)).toBe(false);
        const flipped = (secretB[0] === "A" ? "B" : "A") + secretB.slice(1);
        expect(verifySecret(flipped, b.record.hash)).toBe(false);
      });

      it("defaults the label to null, and lists per principal in creation order", async () => {
        await store.principals.put(OTHER);
        const first = await store.keys.create(FULL.id);
        const theirs = await store.keys.create(OTHER.id, "ci");
        const second = await store.keys.create(FULL.id);
        expect(first.record.label).toBeNull();
        expect(await store.keys.list(FULL.id)).toEqual([first.record, second.record]);
        expect(await store.keys.list(OTHER.id)).toEqual([theirs.record]);
        expect(await store.keys.list("nobody")).toEqual([]);
        expect(await store.keys.list()).toHaveLength(3);
      });

      it("pages keys by id, filtered in the store: by principal, by status", async () => {
        await store.principals.put(OTHER);
        const made: ApiKeyRecord[] = [];
        for (const owner of [FULL.id, OTHER.id, FULL.id, OTHER.id, FULL.id])
          made.push((await store.keys.create(owner)).record);
        await store.keys.revoke(made[0]!.id);
        await store.keys.revoke(made[3]!.id);
        const all = await store.keys.list();
        const byId = (keys: readonly ApiKeyRecord[]) => keys.map((k) => k.id).sort();
        const page = async (query: KeyQuery) => (await store.keys.page(query)).map((k) => k.id);
        // The records as list() has them (revocations included), ordered by id.
        expect(await store.keys.page({ limit: 100 })).toEqual(
          [...all].sort((a, b) => (a.id < b.id ? -1 : 1)),
        );
        const ids = byId(all);
        expect(await page({ limit: 2 })).toEqual(ids.slice(0, 2));
        expect(await page({ limit: 2, after: ids[1]! })).toEqual(ids.slice(2, 4));
        expect(await page({ limit: 2, after: ids[4]! })).toEqual([]);
        const mine = byId(all.filter((k) => k.principalId === FULL.id));
        expect(await page({ limit: 100, principal: FULL.id })).toEqual(mine);
        expect(await page({ limit: 1, principal: FULL.id, after: mine[0]! })).toEqual([mine[1]]);
        const live = byId(all.filter((k) => k.revokedAt === null));
        expect(await page({ limit: 100, status: "active" })).toEqual(live);
        expect(await page({ limit: 100, status: "revoked" })).toEqual(byId([made[0]!, made[3]!]));
        expect(await page({ limit: 100, status: "active", principal: OTHER.id })).toEqual([made[1]!.id]);
        expect(await page({ limit: 100, status: "revoked", principal: OTHER.id })).toEqual([made[3]!.id]);
        expect(await page({ limit: 100, principal: "nobody" })).toEqual([]);
        // Text no stored key holds (PostgreSQL's text cannot hold a NUL): a principal with one has
        // no keys; the ids after such a cursor are those after its part before the NUL.
        expect(await page({ limit: 100, principal: `${FULL.id}\u0000` })).toEqual([]);
        expect(await page({ limit: 1, after: `${ids[0]!}\u0000x` })).toEqual([ids[1]]);
        // A key removed with its principal is listed no more.
        await store.principals.remove(OTHER.id);
        expect(await page({ limit: 100 })).toEqual(mine);
      });

      it("revokes idempotently, keeping the first revokedAt, and says whether this call revoked", async () => {
        const { record } = await store.keys.create(FULL.id);
        expect(await store.keys.revoke(record.id)).toBe("revoked");
        const [revoked] = await store.keys.list();
        expect(revoked?.revokedAt).toEqual(expect.any(String));
        // Revoked before (here by this caller; as well by another node or the CLI): not this call's.
        expect(await store.keys.revoke(record.id, "detector:key-sharing")).toBe("already-revoked");
        expect((await store.keys.list())[0]?.revokedAt).toBe(revoked?.revokedAt);
        expect(await store.keys.revoke("aaaaaaaaaaaa")).toBe("unknown");
        expect(await store.keys.revoke("not a key id")).toBe("unknown");
      });

      it("refuses a key for an unknown principal, with a clear error", async () => {
        const err = await store.keys.create("nobody").catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toMatchObject({ code: "unknown-principal", message: expect.stringContaining("nobody") });
        expect(await store.keys.list()).toEqual([]);
      });

      it("refuses an over-long label", async () => {
        await expect(store.keys.create(FULL.id, "x".repeat(201))).rejects.toBeInstanceOf(InvalidInputError);
      });

      it("refuses a label with a control character (a NUL, a terminal escape), naming the label", async () => {
        for (const label of ["a\u0000b", "\u001b[31mred", "two\nlines", "c1\u009b"]) {
          const err = await store.keys.create(FULL.id, label).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(InvalidInputError);
          expect((err as InvalidInputError).problems).toMatchObject([
            { code: "invalid_label", path: ["label"] },
          ]);
        }
        expect(await store.keys.list()).toEqual([]);
        expect((await store.keys.create(FULL.id, "Zoë's laptop 💻")).record.label).toBe("Zoë's laptop 💻");
      });

      it("refuses a label with a bidirectional control, naming the label; right-to-left letters pass", async () => {
        for (const label of ["laptop\u202e", "\u2066ops\u2069"]) {
          const err = await store.keys.create(FULL.id, label).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(InvalidInputError);
          expect((err as InvalidInputError).problems).toMatchObject([
            { code: "bidi_control", path: ["label"] },
          ]);
        }
        expect(await store.keys.list()).toEqual([]);
        expect((await store.keys.create(FULL.id, "מחשב נייד")).record.label).toBe("מחשב נייד");
      });
    });

    describe("version", () => {
      it("increases with every change to principals or keys, and never on reads or no-ops", async () => {
        const seen = [await store.version()];
        const changed = async () => {
          const v = await store.version();
          expect(v).toBeGreaterThan(seen[seen.length - 1] ?? Infinity);
          seen.push(v);
        };
        const unchanged = async () => expect(await store.version()).toBe(seen[seen.length - 1]);

        await store.principals.put(FULL);
        await changed();
        await store.principals.put(FULL);
        await changed();
        const { record } = await store.keys.create(FULL.id);
        await changed();
        await store.keys.revoke(record.id);
        await changed();

        await store.principals.get(FULL.id);
        await store.principals.list();
        await store.keys.list();
        await store.usage.totals();
        await store.snapshot();
        await unchanged();

        await store.keys.revoke(record.id);
        await store.keys.revoke("aaaaaaaaaaaa");
        await store.principals.remove("nobody");
        await store.keys.create("nobody").catch(() => undefined);
        await store.usage.add([delta()]);
        await unchanged();

        await store.principals.remove(FULL.id);
        await changed();
      });
    });

    describe("usage", () => {
      it("aggregates tokens by license, principal and organization across batches", async () => {
        await store.usage.add([
          delta(),
          delta({ inputTokens: 1, outputTokens: 2, at: "2030-01-02T23:59:59Z" }),
          delta({ licenseId: "lic-2", model: "m4", at: "2030-01-03T00:00:00Z" }),
        ]);
        await store.usage.add([
          delta({
            principalId: "p-min",
            organizationId: null,
            licenseId: null,
            inputTokens: 7,
            outputTokens: 0,
          }),
          delta({ principalId: "p-min", organizationId: "org-x", licenseId: "lic-2", inputTokens: 100 }),
        ]);
        await store.usage.add([]);
        expect(await store.usage.totals()).toStrictEqual({
          byLicense: { "lic-1": 18, "lic-2": 120 },
          byPrincipal: { "p-full": 33, "p-min": 112 },
          byOrganization: { "org-bw": 33, "org-x": 105 },
        });
      });

      it("writes nothing from a batch with any bad delta, and names the fields", async () => {
        const bad = [delta(), delta({ inputTokens: -1, at: "yesterday", licenseId: "" })];
        const err = await store.usage.add(bad).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidInputError);
        const paths = (err as InvalidInputError).problems.map((p) => p.path.join("."));
        expect(paths.sort()).toEqual(["1.at", "1.inputTokens", "1.licenseId"]);
        expect(await store.usage.totals()).toStrictEqual({
          byLicense: {},
          byPrincipal: {},
          byOrganization: {},
        });
      });

      it("sums past 2^53 are saturated at 2^53 - 1, not a failed read for every license", async () => {
        // Each row's counts are ones the Meter takes (at most 2^53 - 1); 600 of them sum past 2^63,
        // where SQLite's SUM() throws and PostgreSQL's int8 leaves the range JavaScript reads.
        const MAX = Number.MAX_SAFE_INTEGER;
        const big = (i: number) => delta({ model: `m${i}`, inputTokens: MAX, outputTokens: MAX });
        await store.usage.add(Array.from({ length: 600 }, (_, i) => big(i)));
        await store.usage.add([delta({ principalId: "p-min", organizationId: null, licenseId: "lic-2" })]);
        expect(await store.usage.totals()).toStrictEqual({
          byLicense: { "lic-1": MAX, "lic-2": 15 },
          byPrincipal: { "p-full": MAX, "p-min": 15 },
          byOrganization: { "org-bw": MAX },
        });
        expect(await store.usage.byLicenseDay("2030-01-01")).toStrictEqual([
          { licenseId: "lic-1", day: "2030-01-02", tokens: MAX },
          { licenseId: "lic-2", day: "2030-01-02", tokens: 15 },
        ]);
        expect(
          await store.usage.byLicenseWindows([{ from: "2030-01-02" }, { from: "2030-01-03" }]),
        ).toStrictEqual([
          { licenseId: "lic-1", total: MAX, windows: [MAX, 0] },
          { licenseId: "lic-2", total: 15, windows: [15, 0] },
        ]);
      });

      it("a row added to past 2^53 keeps taking batches, and counts as 2^53 - 1", async () => {
        // One row (same day, principal, license, model) summed within a batch and across batches.
        const MAX = Number.MAX_SAFE_INTEGER;
        const full = delta({ inputTokens: MAX, outputTokens: MAX });
        await store.usage.add(Array.from({ length: 1_100 }, () => full));
        await store.usage.add(Array.from({ length: 1_100 }, () => full));
        await store.usage.add([delta()]);
        expect((await store.usage.totals()).byLicense).toStrictEqual({ "lic-1": MAX });
      });

      it("sums one organization's usage and the licenses named, as totals() does for them", async () => {
        const MAX = Number.MAX_SAFE_INTEGER;
        await store.usage.add([
          delta(),
          delta({ principalId: "p-min", at: "2030-02-01T00:00:00Z", inputTokens: 1 }),
          // org-bw's license used by another organization's principal: in the license's sum only.
          delta({ principalId: "a-other", organizationId: "org-x", inputTokens: 100 }),
          delta({ organizationId: "org-x", licenseId: "lic-x" }),
          delta({ licenseId: "lic-2", model: "m1", inputTokens: MAX, outputTokens: MAX }),
          delta({ licenseId: "lic-2", model: "m2", inputTokens: MAX, outputTokens: MAX }),
          delta({ organizationId: null, licenseId: null, principalId: "p-none" }),
          delta({ licenseId: "__proto__", model: "m3" }),
        ]);
        const all = await store.usage.totals();
        const pick = (from: Record<string, number>, keys: string[]) =>
          Object.fromEntries(Object.entries(from).filter(([k]) => keys.includes(k)));
        for (const scope of [
          { organization: "org-bw", licenses: ["lic-1", "lic-2", "lic-none", "__proto__"] },
          { organization: "org-x", licenses: ["lic-x"] },
          { organization: "org-none", licenses: [] },
          { organization: null, licenses: ["lic-1"] },
          // "" is how the store keeps "no organization" and "no license": never a sum of its own.
          { organization: "", licenses: [""] },
        ]) {
          const got = await store.usage.scopedTotals(scope);
          expect(got, JSON.stringify(scope)).toStrictEqual({
            byLicense: pick(all.byLicense, scope.licenses),
            byOrganization: pick(all.byOrganization, scope.organization ? [scope.organization] : []),
          });
        }
        expect(await store.usage.scopedTotals({ organization: "org-bw", licenses: ["lic-2"] })).toStrictEqual(
          {
            byLicense: { "lic-2": MAX },
            byOrganization: { "org-bw": MAX },
          },
        );
      });

      it("sums per license in total and in windows of days, as totals() and byLicenseDay() do", async () => {
        await store.usage.add([
          delta({ at: "2030-01-01T10:00:00Z" }),
          delta({ principalId: "p-min", inputTokens: 1, outputTokens: 0, at: "2030-01-31T23:59:59Z" }),
          delta({ at: "2030-02-01T00:00:00Z", inputTokens: 100 }),
          delta({ licenseId: "lic-2", at: "2030-02-15T00:00:00Z", outputTokens: 0 }),
          delta({ licenseId: null, at: "2030-02-15T00:00:00Z" }),
          delta({ licenseId: "lic-0", at: "2029-12-31T00:00:00Z", inputTokens: 0, outputTokens: 0 }),
        ]);
        const windows = [
          { from: "2030-01-01" },
          { from: "2030-02-01" },
          { from: "2030-01-31", to: "2030-02-01" },
        ];
        const got = await store.usage.byLicenseWindows(windows);
        expect(got).toStrictEqual([
          { licenseId: "lic-0", total: 0, windows: [0, 0, 0] },
          { licenseId: "lic-1", total: 121, windows: [121, 105, 106] },
          { licenseId: "lic-2", total: 10, windows: [10, 10, 0] },
        ]);
        // The same figures as the wider reads give.
        const days = await store.usage.byLicenseDay("0000-01-01");
        const inWindow = (id: string, w: { from: string; to?: string }) =>
          days
            .filter((r) => r.licenseId === id && r.day >= w.from && (w.to === undefined || r.day <= w.to))
            .reduce((sum, r) => sum + r.tokens, 0);
        const byLicense = (await store.usage.totals()).byLicense;
        expect(got).toStrictEqual(
          Object.keys(byLicense)
            .sort()
            .map((id) => ({
              licenseId: id,
              total: byLicense[id],
              windows: windows.map((w) => inWindow(id, w)),
            })),
        );
        expect(await store.usage.byLicenseWindows([])).toStrictEqual(
          got.map((r) => ({ licenseId: r.licenseId, total: r.total, windows: [] })),
        );
      });

      it("keeps odd ids as ordinary keys", async () => {
        await store.usage.add([delta({ licenseId: "__proto__" })]);
        const totals = await store.usage.totals();
        expect(Object.keys(totals.byLicense)).toEqual(["__proto__"]);
        expect(Object.getPrototypeOf(totals.byLicense)).toBe(Object.prototype);
      });
    });

    describe("snapshot", () => {
      it("is empty on a fresh store", async () => {
        expect(await store.snapshot()).toStrictEqual({
          version: await store.version(),
          principals: [],
          keys: [],
          records: [],
        });
      });

      it("agrees with the individual reads and the current version", async () => {
        await store.principals.put(FULL);
        await store.principals.put(OTHER);
        const { record } = await store.keys.create(FULL.id);
        await store.keys.create(OTHER.id, "ci");
        await store.keys.revoke(record.id);
        await store.usage.add([delta()]);
        await store.records.put("partner", "p1", { kind: "country" }, 0, {
          actor: "t",
          action: "partner.put",
        });
        expect(await store.snapshot()).toStrictEqual({
          version: await store.version(),
          principals: await store.principals.list(),
          keys: await store.keys.list(),
          records: await store.records.list("partner"),
        });
      });
    });

    describe("records", () => {
      it("insert, update with the revision read, conflict otherwise; each change is in the outbox", async () => {
        const v0 = await store.version();
        const a = await store.records.put("license", "L1", { status: "pending" }, 0, {
          actor: "ann",
          action: "license.apply",
        });
        expect(a).toMatchObject({
          collection: "license",
          id: "L1",
          revision: 1,
          document: { status: "pending" },
        });
        expect(await store.version()).toBeGreaterThan(v0);
        await expect(
          store.records.put("license", "L1", {}, 0, { actor: "x", action: "license.apply" }),
        ).rejects.toMatchObject({ code: "conflict" });
        const b = await store.records.put("license", "L1", { status: "approved" }, 1, {
          actor: "bob",
          action: "license.approve",
          details: { why: "ok" },
        });
        expect(b.revision).toBe(2);
        // Two approvers read revision 1 and both write: the second loses, and must re-read.
        await expect(
          store.records.put("license", "L1", { status: "x" }, 1, { actor: "eve", action: "license.approve" }),
        ).rejects.toMatchObject({ code: "conflict" });
        expect((await store.records.get("license", "L1"))?.document).toEqual({ status: "approved" });
        expect(await store.records.get("license", "nope")).toBeUndefined();
        await store.records.put("license", "L0", { status: "pending" }, 0, {
          actor: "ann",
          action: "license.apply",
        });
        expect((await store.records.list("license")).map((r) => r.id)).toEqual(["L0", "L1"]);
        expect(await store.records.list("partner")).toEqual([]);
        const out = await store.outbox.list(0, 10);
        expect(out.map((r) => [r.actor, r.action, r.object.kind, r.object.id])).toEqual([
          ["ann", "license.apply", "license", "L1"],
          ["bob", "license.approve", "license", "L1"],
          ["ann", "license.apply", "license", "L0"],
        ]);
        expect(out[1]?.details).toEqual({ why: "ok" });
      });

      it("a guarded write is refused, writing nothing, once what it was checked against has changed", async () => {
        const change = { actor: "ann", action: "license.apply" };
        const pointer = { collection: "setting", id: "active-scheme" } as const;
        // Absent is revision 0.
        await store.records.put("license", "G1", { n: 1 }, 0, change, {
          record: { ...pointer, revision: 0 },
        });
        await store.records.put("setting", "active-scheme", { version: 1 }, 0, change);
        await expect(
          store.records.put("license", "G2", { n: 2 }, 0, change, { record: { ...pointer, revision: 0 } }),
        ).rejects.toMatchObject({ code: "conflict" });
        await store.records.put("license", "G2", { n: 2 }, 0, change, {
          record: { ...pointer, revision: 1 },
        });
        const v = await store.version();
        await store.records.put("setting", "active-scheme", { version: 2 }, 1, change, { version: v });
        const outboxBefore = (await store.outbox.list(0, 100)).length;
        await expect(
          store.records.put("setting", "active-scheme", { version: 3 }, 2, change, { version: v }),
        ).rejects.toMatchObject({ code: "conflict" });
        expect((await store.records.get("setting", "active-scheme"))?.document).toEqual({ version: 2 });
        expect((await store.outbox.list(0, 100)).length).toBe(outboxBefore);
        expect(await store.records.get("license", "G3")).toBeUndefined();
      });

      it("a write with several guards is made only while every one of them holds", async () => {
        const change = { actor: "bob", action: "license.approve" };
        const put = (collection: "identity" | "setting", id: string, doc: unknown, revision: number) =>
          store.records.put(collection, id, doc, revision, { actor: "t", action: `${collection}.put` });
        await put("setting", "active-scheme", { version: 1 }, 0);
        await put("identity", "a1", { revoked_at: null }, 0);
        await put("identity", "a2", { revoked_at: null }, 0);
        await store.records.put("license", "M1", { approvals: [] }, 0, change);
        // What an approval was decided with: the active version, both approvers, one never created.
        const guards = [
          { record: { collection: "setting", id: "active-scheme", revision: 1 } },
          { record: { collection: "identity", id: "a2", revision: 1 } },
          { record: { collection: "identity", id: "a1", revision: 1 } },
          { record: { collection: "identity", id: "ghost", revision: 0 } },
        ] as const;
        const first = await store.records.put("license", "M1", { approvals: ["a1"] }, 1, change, guards);
        expect(first.revision).toBe(2);
        expect(
          (await store.records.put("license", "M1", { approvals: ["a1"] }, 2, change, [])).revision,
        ).toBe(3);
        // a1 is revoked (by another node) after the approval read it: the approval is refused.
        await put("identity", "a1", { revoked_at: "2030-01-01T00:00:00Z" }, 1);
        const version = await store.version();
        const outbox = (await store.outbox.list(0, 100)).length;
        const refused = store.records.put("license", "M1", { approvals: ["a1", "a2"] }, 3, change, [
          ...guards,
          { version },
        ]);
        await expect(refused).rejects.toBeInstanceOf(StoreError);
        await expect(refused).rejects.toMatchObject({ code: "conflict", kind: "conflict" });
        await expect(refused).rejects.toThrow(/identity a1 changed meanwhile/);
        // Any one guard failing is enough, whatever its place: a record created meanwhile, the version.
        await put("identity", "ghost", { revoked_at: null }, 0);
        await expect(
          store.records.put("license", "M1", { approvals: ["a2"] }, 3, change, [
            { record: { collection: "identity", id: "a2", revision: 1 } },
            { record: { collection: "identity", id: "ghost", revision: 0 } },
          ]),
        ).rejects.toMatchObject({ code: "conflict" });
        await expect(
          store.records.put("license", "M1", { approvals: ["a2"] }, 3, change, [
            { record: { collection: "identity", id: "a2", revision: 1 } },
            { version },
          ]),
        ).rejects.toMatchObject({ code: "conflict" });
        expect((await store.records.get("license", "M1"))?.document).toEqual({ approvals: ["a1"] });
        expect((await store.records.get("license", "M1"))?.revision).toBe(3);
        expect((await store.outbox.list(0, 100)).length).toBe(outbox + 1); // the ghost's creation only
        // Re-read and guarded anew, the write goes through.
        const again = await store.records.put("license", "M1", { approvals: ["a2"] }, 3, change, [
          { record: { collection: "identity", id: "a1", revision: 2 } },
          { record: { collection: "identity", id: "a2", revision: 1 } },
          { version: await store.version() },
        ]);
        expect(again.revision).toBe(4);
      });
      it("several writes in one transaction: all made, in order, or none", async () => {
        const change = (action: string) => ({ actor: "admin", action });
        await store.records.put("partner", "P0", { n: 0 }, 0, change("partner.register"));
        const v = await store.version();
        const outbox = (await store.outbox.list(0, 100)).length;
        const made = await store.records.putAll(
          [
            {
              collection: "setting",
              id: "active-scheme",
              document: { version: 2 },
              expectedRevision: 0,
              change: change("scheme.activate"),
            },
            {
              collection: "partner",
              id: "P2",
              document: { n: 2 },
              expectedRevision: 0,
              change: change("partner.seed"),
            },
            {
              collection: "partner",
              id: "P0",
              document: { n: 1 },
              expectedRevision: 1,
              change: change("partner.seed"),
            },
          ],
          { version: v },
        );
        expect(made.map((r) => [r.collection, r.id, r.revision])).toEqual([
          ["setting", "active-scheme", 1],
          ["partner", "P2", 1],
          ["partner", "P0", 2],
        ]);
        const out = (await store.outbox.list(0, 100)).slice(outbox);
        expect(out.map((r) => [r.action, r.object.id])).toEqual([
          ["scheme.activate", "active-scheme"],
          ["partner.seed", "P2"],
          ["partner.seed", "P0"],
        ]);
        expect(await store.version()).toBe(v + 3);

        // A later write refused (its record exists): the earlier ones are not made either.
        const before = await store.version();
        const refused = store.records.putAll([
          {
            collection: "setting",
            id: "active-scheme",
            document: { version: 3 },
            expectedRevision: 1,
            change: change("scheme.activate"),
          },
          {
            collection: "partner",
            id: "P3",
            document: { n: 3 },
            expectedRevision: 0,
            change: change("partner.seed"),
          },
          {
            collection: "partner",
            id: "P2",
            document: { n: 9 },
            expectedRevision: 0,
            change: change("partner.seed"),
          },
        ]);
        await expect(refused).rejects.toMatchObject({ code: "conflict" });
        await expect(refused).rejects.toThrow(/partner P2 changed meanwhile/);
        expect((await store.records.get("setting", "active-scheme"))?.document).toEqual({ version: 2 });
        expect(await store.records.get("partner", "P3")).toBeUndefined();
        expect(await store.version()).toBe(before);
        expect((await store.outbox.list(0, 100)).length).toBe(outbox + 3);

        // A guard that no longer holds: none of them.
        await expect(
          store.records.putAll(
            [
              {
                collection: "partner",
                id: "P3",
                document: { n: 3 },
                expectedRevision: 0,
                change: change("partner.seed"),
              },
            ],
            { version: v },
          ),
        ).rejects.toMatchObject({ code: "conflict" });
        expect(await store.records.get("partner", "P3")).toBeUndefined();
        expect(await store.records.putAll([])).toEqual([]);
        expect(await store.version()).toBe(before);
      });
    });

    describe("alerts", () => alertSuite(() => store));
    describe("writes holding a NUL", () => nulSuite(() => store));
    describe("usage totals", () => usageTotalsSuite(() => store));

    describe("audit outbox", () => {
      it("every change records who did what, in the change's transaction, in order", async () => {
        await store.principals.put(FULL, "admin:alice");
        const { record } = await store.keys.create(FULL.id, "laptop", "cli:bob");
        await store.keys.revoke(record.id, "cli:bob");
        await store.keys.revoke(record.id, "cli:bob"); // no change: no record
        await store.principals.remove(FULL.id);
        await store.principals.remove(FULL.id); // unknown: no record
        await expect(store.keys.create("nobody")).rejects.toThrow(StoreError); // failed: no record
        const out = await store.outbox.list(0, 100);
        expect(out.map((r) => [r.actor, r.action, r.object.kind, r.object.id])).toEqual([
          ["admin:alice", "principal.put", "principal", FULL.id],
          ["cli:bob", "key.create", "key", record.id],
          ["cli:bob", "key.revoke", "key", record.id],
          ["system", "principal.remove", "principal", FULL.id],
        ]);
        expect(out[0]?.details).toMatchObject({ created: true, principal: FULL });
        expect(out[1]?.details).toEqual({ principal: FULL.id, label: "laptop" });
        expect(JSON.stringify(out)).not.toContain(record.hash);
        const ids = out.map((r) => r.id);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      });

      it("lists after an id with a limit, and removes up to an id", async () => {
        for (const id of ["a", "b", "c"]) await store.principals.put({ id });
        const all = await store.outbox.list(0, 10);
        expect((await store.outbox.list(all[0]!.id, 1)).map((r) => r.object.id)).toEqual(["b"]);
        await store.outbox.remove({ change: all[1]!.id, digest: "d2" });
        expect((await store.outbox.list(0, 10)).map((r) => r.object.id)).toEqual(["c"]);
      });

      it("remembers the last change number given once its records are drained", async () => {
        expect(await store.outbox.lastChange()).toBe(0);
        for (const id of ["a", "b"]) await store.principals.put({ id });
        const last = (await store.outbox.list(0, 10)).at(-1)!.id;
        expect(await store.outbox.lastChange()).toBe(last);
        await store.outbox.remove({ change: last, digest: null });
        expect(await store.outbox.lastChange()).toBe(last);
        await store.principals.put({ id: "c" });
        expect(await store.outbox.lastChange()).toBe(last + 1);
      });

      it("records how far it has caught up with the log with the drain's delete, and reads it back with the record under the log's number", async () => {
        // A store no drain has recorded a position in (as one from before the record existed).
        expect(await store.outbox.position(1)).toEqual({ drained: null, last: 0, record: undefined });
        for (const id of ["a", "b", "c"]) await store.principals.put({ id });
        const [a, b, c] = await store.outbox.list(0, 10);
        expect(await store.outbox.position(b!.id)).toEqual({ drained: null, last: c!.id, record: b });
        await store.outbox.remove({ change: a!.id, digest: "digest-a" });
        expect(await store.outbox.position(b!.id)).toEqual({
          drained: { change: a!.id, digest: "digest-a" },
          last: c!.id,
          record: b,
        });
        await store.outbox.remove({ change: c!.id, digest: "digest-c" });
        expect(await store.outbox.position(c!.id)).toEqual({
          drained: { change: c!.id, digest: "digest-c" },
          last: c!.id,
          record: undefined,
        });
        expect(await store.outbox.list(0, 10)).toEqual([]);
      });
    });

    describe("federated principals", () => {
      const fed = (over: Partial<FederatedPrincipalRecord> = {}): FederatedPrincipalRecord => ({
        id: "fed:de-gov:anna",
        provider: "de-gov",
        partner: "g7-fvey",
        issuer: "https://id.example.de",
        subject: "anna",
        display_name: "Anna",
        principal: {
          id: "fed:de-gov:anna",
          citizenships: [{ country: "DE", since: null }],
          assurance: "attested",
        },
        first_seen: "2030-01-01T00:00:00.000Z",
        last_seen: "2030-01-01T00:00:00.000Z",
        issued_at: 1000,
        ...over,
      });

      it("records, refreshes from newer tokens only, and lists by id, without bumping the version", async () => {
        const v = await store.version();
        await store.federated.record([fed(), fed({ id: "fed:de-gov:bob", subject: "bob" })]);
        await store.federated.record([
          fed({ display_name: "Anna B.", issued_at: 2000, last_seen: "2030-01-02T00:00:00.000Z" }),
        ]);
        // An older token (a replay, or a slow node): the facts stay the newer token's.
        await store.federated.record([
          fed({ display_name: "stale", issued_at: 1500, last_seen: "2030-01-03T00:00:00.000Z" }),
        ]);
        const anna = await store.federated.get("fed:de-gov:anna");
        expect(anna).toMatchObject({
          display_name: "Anna B.",
          issued_at: 2000,
          first_seen: "2030-01-01T00:00:00.000Z",
          last_seen: "2030-01-03T00:00:00.000Z",
        });
        expect((await store.federated.list()).map((p) => p.id)).toEqual([
          "fed:de-gov:anna",
          "fed:de-gov:bob",
        ]);
        expect(await store.federated.get("fed:nobody")).toBeUndefined();
        expect(await store.version()).toBe(v);
      });
    });

    describe("close", () => {
      it("is idempotent, and every later call rejects with StoreError closed", async () => {
        await store.close();
        await store.close();
        for (const call of [
          () => store.version(),
          () => store.snapshot(),
          () => store.principals.get(FULL.id),
          () => store.principals.put(FULL),
          () => store.keys.revoke("aaaaaaaaaaaa"),
          () => store.keys.list(),
          () => store.usage.add([]),
        ]) {
          await expect(call()).rejects.toMatchObject({ name: "StoreError", code: "closed" });
        }
      });
    });
  });
}
