/**
 * Admin entries when the log pseudonymises principals (`audit.pseudonym_key_env`): every operation
 * that writes the store's outbox is run, on each driver, and drained the way a gateway drains it
 * (the embedded store's OutboxDrainer; PostgreSQL's shared drain, skipped without a server). No
 * entry may name a principal, or carry a personal fact, in the clear; every action must be one
 * ADMIN_PERSONS lists (an unlisted one is logged with its details withheld, and fails here); and
 * without a pseudonymizer the entries are the outbox records as they were, byte for byte.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../canonical/index.js";
import { seedFromFile } from "../control/seed.js";
import { setBlock } from "../identity/registry.js";
import { parsePrincipal, type Principal } from "../policy/index.js";
import { openStore, type OutboxRecord, type Store } from "../store/index.js";
import { openPostgresStore } from "../store/postgres/index.js";
import { matchId } from "../store/screening.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { ADMIN_PERSONS, adminEntry, pseudonymizer, withoutPersons } from "./entry.js";
import type { AuditTrail } from "./log.js";
import { OutboxDrainer, SharedOutboxDrainer, outboxEntry } from "./outbox.js";

const KEY = "test-pseudonym-key-0123456789abcdef";
const pseudonym = pseudonymizer(KEY);

const MARIA: Principal = {
  id: "maria.k",
  name: "Maria Kowalska",
  birth_date: "1984-03-02",
  citizenships: [{ country: "PL", since: "1984-03-02" }],
  permanent_residencies: [{ country: "DE", since: "2011-05-09" }],
  residence: "DE",
  organization: { id: "bw-cyber", country: "DE" },
  assurance: "verified",
};
const JAN: Principal = { id: "jan.nowak", name: "Jan Nowak", citizenships: [{ country: "CZ" }] };
const FEDERATED = "fed:de-gov:anna-schmidt";
/** What no pseudonymised entry may hold: the principals' ids and facts, the list entries they matched. */
const CLEAR = [
  "maria.k",
  "Maria",
  "Kowalska",
  "1984-03-02",
  "2011-05-09",
  "jan.nowak",
  "Nowak",
  "anna-schmidt",
  "Anna",
  "Schmidt",
  "SDN-4711",
  "SDN-0815",
  "laptop",
];

/** The members that name a principal when they hold an id (a new one: add it here). */
const PRINCIPAL_MEMBERS = new Set([
  "principal",
  "principal_id",
  "principals",
  "subject",
  "licensee",
  "person",
]);
const PERSON_KINDS = new Set(["principal", "principal-block"]);
const isPseudonym = (v: unknown) => typeof v === "string" && /^hmac-sha256:[A-Za-z0-9_-]{43}$/.test(v);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Where an entry names a principal other than by a pseudonym: members named like a principal id
 * (a string, or an object's `id`), objects of a person's kind (`{kind: "principal", id}` subjects
 * and objects), and federated credentials (`principal:<id>`). Paths, for the failure message.
 */
function clearPrincipals(value: unknown, path = "$"): string[] {
  if (typeof value === "string")
    return value.startsWith("principal:") && !value.startsWith("principal:hmac-sha256:") ? [path] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => clearPrincipals(v, `${path}[${i}]`));
  if (!isObject(value)) return [];
  const out: string[] = [];
  if (PERSON_KINDS.has(value.kind as string) && !isPseudonym(value.id)) out.push(`${path}.id`);
  for (const [k, v] of Object.entries(value)) {
    if (PRINCIPAL_MEMBERS.has(k)) {
      if (typeof v === "string" && !isPseudonym(v)) out.push(`${path}.${k}`);
      if (isObject(v) && v.kind === undefined && "id" in v && !isPseudonym(v.id)) out.push(`${path}.${k}.id`);
    }
    out.push(...clearPrincipals(v, `${path}.${k}`));
  }
  return out;
}

/** The keyed digest the log shows: the pseudonym of the value's canonical JSON's SHA-256. */
const digestOf = (v: unknown) =>
  pseudonym(`sha256:${createHash("sha256").update(canonicalJson(v)).digest("hex")}`);

/** Every operation that writes the store's outbox, with principals and facts worth hiding. */
async function everyChange(store: Store): Promise<void> {
  const now = new Date().toISOString();
  // Scheme file: scheme.upload, scheme.activate, partner.seed, license.seed.
  await seedFromFile(store, readFileSync("examples/g7-trusted-partners.yaml", "utf8"), now);
  await store.principals.put(parsePrincipal(MARIA), "officer");
  await store.principals.put(parsePrincipal({ ...MARIA, screening: "potential" }), "officer");
  await store.principals.put(parsePrincipal(JAN), "officer");
  await store.principals.remove(JAN.id, "officer");
  const laptop = await store.keys.create(MARIA.id, "Maria Kowalska's laptop", "officer");
  await store.keys.create(MARIA.id, null, "officer");
  await store.keys.revoke(laptop.record.id, "officer");
  const phone = await store.keys.create(MARIA.id, "phone", "officer");
  // Screening: a list, matches for a principal, a federated principal and an organization.
  const entries = ["SDN-4711", "SDN-0815", "ORG-1"].map((id) => ({
    id,
    digest: `d-${id}`,
    document: JSON.stringify({ id, name: id === "SDN-4711" ? "Maria Kowalska" : "Anna Schmidt" }),
  }));
  await store.screening.importList(
    {
      list: "test-list",
      format: "ofac-csv",
      published: "2026-01-01",
      digest: "d",
      files: ["sdn.csv"],
      counts: { entries: 3 },
      entries,
    },
    "officer",
  );
  const found = (entryId: string) => ({
    list: "test-list",
    entryId,
    entryDigest: `d-${entryId}`,
    score: 0.93,
    explanation: { name: "Maria Kowalska" },
  });
  await store.screening.record(
    [
      { subject: { kind: "principal", id: MARIA.id }, found: [found("SDN-4711")], scope: "all" },
      { subject: { kind: "principal", id: FEDERATED }, found: [found("SDN-0815")], scope: "all" },
      { subject: { kind: "organization", id: "bw-cyber" }, found: [found("ORG-1")], scope: "all" },
    ],
    "screening",
  );
  await store.screening.review(
    matchId("principal", MARIA.id, "test-list", "SDN-4711"),
    "confirmed",
    "reviewer-1",
    "same birth date (1984-03-02): Maria Kowalska is the listed person",
  );
  await store.screening.resolveRemoved("test-list", ["SDN-0815"], "screening");
  // Alerts: a principal's, a federated credential's; their steps and the automatic response.
  const travel = await store.alerts.raise(
    {
      dedupeKey: "impossible-travel:maria",
      detector: "impossible-travel",
      severity: "high",
      subject: { kind: "principal", id: MARIA.id },
      summary: "maria.k was seen in DE and 5 min later in JP",
      evidence: {
        audit_indexes: ["1", "2"],
        details: { from: "DE", to: "JP", credential: phone.record.id },
      },
      raisedAt: now,
      deliver: false,
    },
    "detector:impossible-travel",
  );
  const sharing = await store.alerts.raise(
    {
      dedupeKey: "key-sharing:anna",
      detector: "key-sharing",
      severity: "high",
      subject: { kind: "key", id: `principal:${FEDERATED}` },
      summary: `credential principal:${FEDERATED} of ${FEDERATED} was used from 3 countries within 1 h`,
      evidence: { audit_indexes: ["3"], details: { principal: FEDERATED, countries: ["DE", "FR", "JP"] } },
      raisedAt: now,
      deliver: false,
    },
    "detector:key-sharing",
  );
  await store.keys.revoke(phone.record.id, "detector:impossible-travel", {
    alert: travel.alert.id,
    detector: "impossible-travel",
    reason: "maria.k was seen in DE and 5 min later in JP",
  });
  await store.alerts.respond(
    travel.alert.id,
    { action: "suspend", result: `key ${phone.record.id} revoked; maria.k has no other key` },
    "detector:impossible-travel",
  );
  await store.alerts.responseNotInForce(
    travel.alert.id,
    {
      code: "reload_failed",
      message: `alert ${travel.alert.id}'s suspension is not yet in force on this node`,
    },
    "detector:impossible-travel",
  );
  await store.alerts.transition(travel.alert.id, "acknowledged", "officer", "called Maria Kowalska");
  await store.alerts.transition(travel.alert.id, "resolved", "officer", "she was travelling");
  await setBlock(store, FEDERATED, true, `alert ${sharing.alert.id}`, "detector:key-sharing", now, {
    alert: sharing.alert.id,
  });
  await store.alerts.respond(
    sharing.alert.id,
    { action: "suspend", result: `federated principal ${FEDERATED} blocked` },
    "detector:key-sharing",
  );
  await setBlock(store, FEDERATED, false, "Anna Schmidt vouched for by her partner", "officer", now);
}

/** A log that keeps what it is given, as the drainer sees a log. */
function memoryTrail(): { trail: AuditTrail; entries: Buffer[] } {
  const entries: Buffer[] = [];
  const trail = {
    append: (e: Uint8Array) => {
      entries.push(Buffer.from(e));
      return Promise.resolve(BigInt(entries.length - 1));
    },
  } as unknown as AuditTrail;
  return { trail, entries };
}

interface Driver {
  readonly name: string;
  readonly skip: string | undefined;
  /** A fresh store with every change made, and a drain of its outbox that returns the entries. */
  open(): Promise<{ store: Store; drain: (p?: typeof pseudonym) => Promise<Buffer[]> }>;
}

const stores: Store[] = [];
afterAll(async () => {
  for (const s of stores.splice(0)) await s.close();
  if (skipReason === undefined) await dropSchemas();
});

const DRIVERS: Driver[] = [
  {
    name: "the embedded store",
    skip: undefined,
    async open() {
      const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-pseudonyms-")) });
      stores.push(store);
      return {
        store,
        drain: async (p) => {
          const { trail, entries } = memoryTrail();
          await new OutboxDrainer(store, trail, "node-1", { change: 0, digest: null }, p).drain();
          return entries;
        },
      };
    },
  },
  {
    name: "PostgreSQL (the shared drain)",
    skip: skipReason,
    async open() {
      const { url } = await freshSchema();
      const store = await openPostgresStore(url);
      stores.push(store);
      const shared = store.sharedAudit;
      return {
        store,
        drain: async (p) => {
          const before = await shared.size();
          await new SharedOutboxDrainer(shared, "node-1", p).drain();
          return shared.read(before, 10_000);
        },
      };
    },
  },
];

for (const driver of DRIVERS) {
  describe.skipIf(driver.skip !== undefined)(`admin entries with pseudonyms on: ${driver.name}`, () => {
    let store: Store;
    let records: OutboxRecord[];
    let entries: Record<string, unknown>[];
    let raw: Buffer[];

    it("every outbox-writing operation is logged, each action one ADMIN_PERSONS lists", async () => {
      const opened = await driver.open();
      store = opened.store;
      await everyChange(store);
      records = await store.outbox.list(0, 10_000);
      raw = await opened.drain(pseudonym);
      entries = raw.map((e) => JSON.parse(e.toString("utf8")) as Record<string, unknown>);
      expect(entries.map((e) => e.action)).toEqual(records.map((r) => r.action));
      const actions = new Set(records.map((r) => r.action));
      // Each kind of change the store suite's operations make, at least once.
      for (const a of [
        "scheme.upload",
        "scheme.activate",
        "partner.seed",
        "license.seed",
        "principal.put",
        "principal.remove",
        "key.create",
        "key.revoke",
        "screening.import",
        "screening.match",
        "screening.status",
        "screening.confirm",
        "screening.resolve",
        "alert.raise",
        "alert.acknowledge",
        "alert.resolve",
        "alert.respond",
        "alert.not_in_force",
        "federated-principal.block",
        "federated-principal.unblock",
      ])
        expect(actions).toContain(a);
      expect([...actions].filter((a) => !Object.hasOwn(ADMIN_PERSONS, a))).toEqual([]);
    });

    it("no entry holds a principal's id, name, birth date or matched list entry in the clear", () => {
      for (const [i, e] of raw.entries()) {
        const text = e.toString("utf8");
        for (const clear of CLEAR) expect(text, `entry ${i}: ${text}`).not.toContain(clear);
        expect(clearPrincipals(entries[i]), `entry ${i}: ${text}`).toEqual([]);
      }
    });

    it("principals are named by the decision entries' pseudonyms; a document by its digest", async () => {
      const maria = pseudonym(MARIA.id);
      const puts = entries.filter((e) => e.action === "principal.put");
      const stored = await store.principals.get(MARIA.id);
      expect(puts[1]).toMatchObject({
        object: { kind: "principal", id: maria },
        details: {
          created: false,
          principal: {
            id: maria,
            digest: digestOf(stored),
            organization: { id: "bw-cyber", country: "DE" },
            assurance: "verified",
            screening: "potential",
          },
        },
      });
      expect(Object.keys((puts[1]!.details as { principal: object }).principal).sort()).toEqual([
        "assurance",
        "digest",
        "id",
        "organization",
        "screening",
      ]);
      expect(entries.find((e) => e.action === "principal.remove")?.object).toEqual({
        kind: "principal",
        id: pseudonym(JAN.id),
      });
      const created = entries.filter((e) => e.action === "key.create").map((e) => e.details);
      expect(created).toEqual([
        { principal: maria, label: digestOf("Maria Kowalska's laptop") },
        { principal: maria, label: null },
        { principal: maria, label: digestOf("phone") },
      ]);
      const confirm = entries.find((e) => e.action === "screening.confirm")!;
      expect(confirm).toMatchObject({
        object: {
          kind: "screening-match",
          id: matchId("principal", maria, "test-list", pseudonym("SDN-4711")),
        },
        details: {
          subject: { kind: "principal", id: maria },
          entry: pseudonym("SDN-4711"),
          from: "potential",
          to: "confirmed",
          reviewer: "reviewer-1",
          reason: digestOf("same birth date (1984-03-02): Maria Kowalska is the listed person"),
        },
      });
      // An organization's matches name no person: as recorded.
      const org = entries.find(
        (e) => e.action === "screening.match" && (e.details as { entry: string }).entry === "ORG-1",
      );
      expect(org?.object).toEqual({ kind: "screening-match", id: "organization:bw-cyber|test-list|ORG-1" });
      expect(
        entries.filter((e) => e.action === "screening.status").map((e) => (e.object as { id: string }).id),
      ).toEqual(expect.arrayContaining([maria, pseudonym(FEDERATED), "bw-cyber"]));
      const raised = entries.filter((e) => e.action === "alert.raise").map((e) => e.details);
      expect(raised[0]).toMatchObject({
        subject: { kind: "principal", id: maria },
        summary: digestOf("maria.k was seen in DE and 5 min later in JP"),
        evidence: { audit_indexes: ["1", "2"], details: { from: "DE", to: "JP" } },
      });
      expect(raised[1]).toMatchObject({
        subject: { kind: "key", id: `principal:${pseudonym(FEDERATED)}` },
        evidence: { details: { principal: pseudonym(FEDERATED) } },
      });
      expect(entries.filter((e) => e.action === "federated-principal.block")[0]).toMatchObject({
        object: { kind: "principal-block", id: pseudonym(FEDERATED) },
      });
    });

    it("without a pseudonymizer, each entry is its outbox record as before, byte for byte", () => {
      for (const r of records) {
        const node = "node-1";
        expect(outboxEntry(r, node).toString()).toBe(
          canonicalJson({
            v: 1,
            type: "admin",
            time: new Date(r.time).toISOString(),
            node,
            change: r.id,
            actor: r.actor,
            action: r.action,
            object: r.object,
            details: r.details,
          }),
        );
        // And the pseudonymised one differs only where it names people.
        const shown = JSON.parse(outboxEntry(r, node, pseudonym).toString()) as Record<string, unknown>;
        const plain = JSON.parse(outboxEntry(r, node).toString()) as Record<string, unknown>;
        expect({ ...shown, object: null, details: null }).toEqual({ ...plain, object: null, details: null });
      }
    });
  });
}

describe("an admin action ADMIN_PERSONS does not list", () => {
  const change = {
    time: new Date("2030-01-02T03:04:05Z"),
    node: "n",
    actor: "officer",
    action: "principal.rename",
    object: { kind: "principal", id: "maria.k" },
    details: { principal_id: "maria.k", name: "Maria Kowalska" },
  };

  it("is caught by the scan this suite runs, were its details logged as they are", () => {
    expect(clearPrincipals(JSON.parse(adminEntry(change).toString())).sort()).toEqual([
      "$.details.principal_id",
      "$.object.id",
    ]);
  });

  it("fails closed: its details withheld (their digest), a person's object pseudonymised", () => {
    const e = JSON.parse(adminEntry(change, pseudonym).toString()) as Record<string, unknown>;
    expect(e).toMatchObject({
      action: "principal.rename",
      actor: "officer",
      object: { kind: "principal", id: pseudonym("maria.k") },
      details: { withheld: digestOf(change.details) },
    });
    expect(JSON.stringify(e)).not.toMatch(/maria|Kowalska/i);
    // An object of a kind that names no person keeps its id.
    expect(
      withoutPersons("license.extend", { object: { kind: "license", id: "L-1" }, details: {} }, pseudonym),
    ).toEqual({ object: { kind: "license", id: "L-1" }, details: {} });
  });
});
