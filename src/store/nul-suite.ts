/**
 * Writes holding a NUL (U+0000), part of the store contract (called from suite.ts). PostgreSQL's text
 * cannot hold one and SQLite's can: a write with one in a column is refused by both drivers alike,
 * InvalidInputError naming the field, with nothing written. Ids that are only looked up are taken
 * for unknown, as every lookup by such an id is. JSON documents may hold one (stored escaped).
 * Test-only.
 */
import { expect, it } from "vitest";
import type { Path } from "../errors/index.js";
import type { NewAlert } from "./alerts.js";
import type { FederatedPrincipalRecord, Store, UsageDelta } from "./index.js";
import type { ImportInput } from "./screening.js";

const NUL = "x\u0000y";

const delta = (over: Partial<UsageDelta> = {}): UsageDelta => ({
  principalId: "p-1",
  organizationId: "org-1",
  licenseId: "lic-1",
  model: "m5",
  inputTokens: 1,
  outputTokens: 1,
  requests: 1,
  at: "2030-01-02T03:04:05Z",
  ...over,
});

const fed = (over: Partial<FederatedPrincipalRecord> = {}): FederatedPrincipalRecord => ({
  id: "fed:de-gov:anna",
  provider: "de-gov",
  partner: "g7-fvey",
  issuer: "https://id.example.de",
  subject: "anna",
  display_name: "Anna",
  principal: { id: "fed:de-gov:anna" },
  first_seen: "2030-01-01T00:00:00.000Z",
  last_seen: "2030-01-01T00:00:00.000Z",
  issued_at: 1000,
  ...over,
});

const list = (over: Partial<ImportInput> = {}): ImportInput => ({
  list: "un",
  format: "un-xml",
  published: "2030-01-01",
  digest: "d1",
  files: ["un.xml"],
  counts: { entries: 1 },
  entries: [{ id: "e1", digest: "x1", document: "{}" }],
  ...over,
});

const alert = (over: Partial<NewAlert> = {}): NewAlert => ({
  dedupeKey: "k",
  detector: "key-sharing",
  severity: "high",
  subject: { kind: "key", id: "k1" },
  summary: "s",
  evidence: { audit_indexes: [], details: {} },
  raisedAt: "2030-01-02T03:04:05.000Z",
  deliver: false,
  ...over,
});

/** Everything a write could have left: compared before and after each refused write. */
async function contents(s: Store) {
  return {
    version: await s.version(),
    changes: await s.outbox.lastChange(),
    snapshot: await s.snapshot(),
    usage: await s.usage.totals(),
    federated: await s.federated.list(),
    lists: await s.screening.versions(),
    matches: await s.screening.matches(),
    alerts: await s.alerts.list(),
  };
}

export function nulSuite(store: () => Store): void {
  const refused = async (write: () => Promise<unknown>, path: Path) => {
    const s = store();
    const before = await contents(s);
    const err = await write().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "InvalidInputError" });
    expect((err as { problems: unknown[] }).problems).toEqual([
      expect.objectContaining({ code: "nul_character", path }),
    ]);
    expect(await contents(s)).toEqual(before);
  };

  it("refuses an actor holding a NUL in every change, naming it, with nothing written", async () => {
    const s = store();
    await s.principals.put({ id: "p-1" });
    const { record } = await s.keys.create("p-1");
    await refused(() => s.principals.put({ id: "p-2" }, NUL), ["actor"]);
    await refused(() => s.principals.remove("p-1", NUL), ["actor"]);
    await refused(() => s.keys.create("p-1", null, NUL), ["actor"]);
    await refused(() => s.keys.revoke(record.id, NUL), ["actor"]);
    await refused(() => s.alerts.raise(alert(), NUL), ["actor"]);
  });

  it("refuses a record's id, actor or action holding a NUL, and takes a guard on such an id as on no record", async () => {
    const s = store();
    const change = { actor: "a", action: "partner.register" };
    await refused(() => s.records.put("partner", NUL, {}, 0, change), [0, "id"]);
    await refused(
      () => s.records.put("partner", "p", {}, 0, { ...change, actor: NUL }),
      [0, "change", "actor"],
    );
    await refused(
      () => s.records.put("partner", "p", {}, 0, { ...change, action: NUL }),
      [0, "change", "action"],
    );
    const ok = { collection: "partner" as const, id: "ok", document: {}, expectedRevision: 0, change };
    await refused(() => s.records.putAll([ok, { ...ok, id: NUL }]), [1, "id"]);
    // No stored record has such an id: a guard that it does not exist holds, one that it does not.
    const guard = (revision: number) => ({ record: { collection: "license" as const, id: NUL, revision } });
    await expect(s.records.put("partner", "p", {}, 0, change, guard(1))).rejects.toMatchObject({
      code: "conflict",
    });
    expect(await s.records.put("partner", "p", { n: "a\u0000b" }, 0, change, guard(0))).toMatchObject({
      revision: 1,
      document: { n: "a\u0000b" },
    });
  });

  it("refuses usage holding a NUL, naming the delta and field, with nothing counted", async () => {
    const s = store();
    for (const field of ["principalId", "organizationId", "licenseId", "model"] as const)
      await refused(() => s.usage.add([delta(), delta({ [field]: NUL })]), [1, field]);
  });

  it("refuses a federated principal whose id, issuer or subject holds a NUL", async () => {
    const s = store();
    for (const field of ["id", "issuer", "subject"] as const)
      await refused(() => s.federated.record([fed(), fed({ [field]: NUL })]), [1, field]);
  });

  it("refuses a screening import, record or review holding a NUL, and takes a list so named for unknown", async () => {
    const s = store();
    await refused(() => s.screening.importList(list({ list: NUL }), "cli"), ["list"]);
    await refused(() => s.screening.importList(list(), NUL), ["actor"]);
    await refused(
      () => s.screening.importList(list({ entries: [{ id: NUL, digest: "x", document: "{}" }] }), "cli"),
      ["entries", 0, "id"],
    );
    // An unfinished rescreen of no such list: nothing to hold, finish or resolve.
    expect(await s.screening.holdRescreen(NUL, 1, true)).toBe(false);
    await s.screening.rescreened(NUL, 1, "cli", {});
    expect(await s.screening.resolveRemoved(NUL, ["e1"], "cli")).toBe(0);
    const { version } = await s.screening.importList(list(), "cli");
    await refused(() => s.screening.rescreened("un", version.version, NUL, {}), ["actor"]);
    const found = { list: "un", entryId: "e1", entryDigest: "x1", score: 0.9, explanation: {} };
    const screening = (subject: string, over = {}) => ({
      subject: { kind: "principal" as const, id: subject },
      found: [{ ...found, ...over }],
      scope: "all" as const,
    });
    await refused(() => s.screening.record([screening("p-1"), screening(NUL)], "cli"), [1, "subject", "id"]);
    await refused(
      () => s.screening.record([screening("p-1", { reason: NUL })], "cli"),
      [0, "found", 0, "reason"],
    );
    await refused(() => s.screening.record([screening("p-1")], NUL), ["actor"]);
    await s.screening.record([screening("p-1")], "cli");
    const [match] = await s.screening.matches();
    // A review's reviewer and reason are text people read: a NUL in them is a control character,
    // as the admin API and principals.put say it (it was nul_character here alone).
    for (const [reviewer, reason, field] of [
      [NUL, "not them", "reviewer"],
      ["officer", NUL, "reason"],
    ] as const) {
      const before = await contents(s);
      const err = await s.screening.review(match!.id, "cleared", reviewer, reason).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: "InvalidInputError" });
      expect((err as { problems: unknown[] }).problems).toEqual([
        {
          code: "control_character",
          path: [field],
          message:
            "expected text without control characters but tab, line feed and carriage return; it holds U+0000 (null)",
        },
      ]);
      expect(await contents(s)).toEqual(before);
    }
  });

  it("refuses an alert whose dedupe key, detector or subject holds a NUL, and a step whose actor does", async () => {
    const s = store();
    await refused(() => s.alerts.raise(alert({ dedupeKey: NUL }), "d"), ["dedupeKey"]);
    await refused(() => s.alerts.raise(alert({ detector: NUL }), "d"), ["detector"]);
    await refused(() => s.alerts.raise(alert({ subject: { kind: "key", id: NUL } }), "d"), ["subject", "id"]);
    const { alert: a } = await s.alerts.raise(alert({ response: "suspend" }), "d");
    await refused(() => s.alerts.transition(a.id, "acknowledged", NUL, null), ["actor"]);
    await refused(() => s.alerts.respond(a.id, { action: "suspend", result: "done" }, NUL), ["actor"]);
  });
}
