/**
 * A gateway whose log pseudonymises principals (`audit.pseudonym_key_env`), read as anyone reads it:
 * through the published tiles at /audit/, without credentials. Admin changes about a person (the
 * principal and its document, its key, a screening match confirmed by a reviewer, a federated
 * principal blocked, a principal removed) name the person only by the pseudonym their decisions
 * carry, and their documents by digest.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../canonical/index.js";
import { asAdmin, auditEntries, createIdentity, eventually, type Json } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { pseudonymizer } from "./entry.js";

const KEY = "gateway-pseudonym-key-0123456789abcdef";
const pseudonym = pseudonymizer(KEY);
const FIXTURES = join(import.meta.dirname, "..", "screening", "fixtures");
const file = (name: string) => ({
  name: name.split("/").pop()!,
  content_base64: readFileSync(join(FIXTURES, name)).toString("base64"),
});
/** The keyed digest the log shows: the pseudonym of the value's canonical JSON's SHA-256. */
const digestOf = (v: unknown) =>
  pseudonym(`sha256:${createHash("sha256").update(canonicalJson(v)).digest("hex")}`);

const MARIA = {
  id: "maria.k",
  name: "Maria Kowalska",
  birth_date: "1984-03-02",
  citizenships: [{ country: "PL", since: "1984-03-02" }],
  residence: "DE",
  organization: "bw-cyber",
};
/** Matches an entry of the OFAC fixture (PETROV, Ivan Sergeyevich): a potential match on creation. */
const IVAN = {
  id: "ip-2041",
  name: "Ivan Petrov",
  birth_date: "1965-01-12",
  citizenships: [{ country: "DE" }],
  residence: "DE",
  assurance: "verified",
};
const FEDERATED = "fed:de-gov:anna-schmidt";
const GONE = { id: "jan.nowak", name: "Jan Nowak", citizenships: [{ country: "CZ" }] };

let t: TestGateway;
let entries: Record<string, Json>[];
let raw: string[];

beforeAll(async () => {
  t = await startTestGateway({
    extra: "audit: { checkpoint_ms: 50, pseudonym_key_env: AUDIT_PSEUDONYM_KEY }",
    env: { AUDIT_PSEUDONYM_KEY: KEY },
  });
  await asAdmin(
    t,
    "POST",
    "/admin/v1/screening/lists",
    {
      files: [file("ofac/sdn.csv"), file("ofac/alt.csv"), file("ofac/add.csv")],
    },
    201,
  );
  await asAdmin(t, "POST", "/admin/v1/principals", MARIA);
  const { key } = await asAdmin(t, "POST", "/admin/v1/keys", {
    principal: MARIA.id,
    label: "Maria Kowalska's laptop",
  });
  // A decision by her, once her key has reached the data plane.
  const asked = await eventually(
    async () => {
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          "x-test-country": "DE",
        },
        body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
      });
      await res.text();
      return res.status;
    },
    (status) => status !== 401,
  );
  expect(asked).not.toBe(401);
  // A screening match, found when the principal is created, confirmed by a reviewer.
  await asAdmin(t, "POST", "/admin/v1/principals", IVAN);
  const queue = await asAdmin(t, "GET", "/admin/v1/screening/matches?status=potential");
  const match = queue.data.find((m: Json) => m.subject_id === IVAN.id);
  expect(match).toBeDefined();
  const reviewer = await createIdentity(t, "rita-reviewer", ["reviewer"]);
  const confirmed = await fetch(
    `${t.url}/admin/v1/screening/matches/${encodeURIComponent(match.id as string)}/confirm`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${reviewer}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "Ivan Petrov, born 1965-01-12: same passport number" }),
    },
  );
  expect(confirmed.status).toBe(200);
  await asAdmin(
    t,
    "POST",
    `/admin/v1/federated-principals/${encodeURIComponent(FEDERATED)}/block`,
    { reason: "Anna Schmidt left the partner" },
    200,
  );
  await asAdmin(t, "POST", "/admin/v1/principals", GONE);
  await asAdmin(t, "DELETE", `/admin/v1/principals/${GONE.id}`);
  await t.gateway.audit.drainer.drain();
  entries = await auditEntries(t);
  raw = entries.map((e) => canonicalJson(e));
}, 120_000);
afterAll(async () => {
  await t?.gateway.close();
});

describe("admin entries in a log that pseudonymises principals", () => {
  it("hold no principal's id, name, birth date or other personal fact in the clear", () => {
    const clear = [
      "maria.k",
      "Maria",
      "Kowalska",
      "1984-03-02",
      "ip-2041",
      "Ivan",
      "Petrov",
      "PETROV",
      "1965-01-12",
      "passport",
      "anna-schmidt",
      "Anna",
      "jan.nowak",
      "Nowak",
      "laptop",
      // The example principals, put before the gateway started: drained at start-up.
      ...["alice", "benoit", "chloe", "devi", "erik", "feng"].map((id) => `"${id}"`),
    ];
    expect(entries.filter((e) => e.type === "admin").length).toBeGreaterThan(20);
    for (const text of raw) for (const c of clear) expect(text, text).not.toContain(c);
  });

  it("name a principal by the pseudonym its decisions carry; its document by digest", async () => {
    const maria = pseudonym(MARIA.id);
    const decisions = entries.filter((e) => e.type === "decision" && e.principal === maria);
    expect(decisions.length).toBeGreaterThan(0);
    const stored = await t.gateway.store.principals.get(MARIA.id);
    const put = entries.find((e) => e.action === "principal.put" && e.object.id === maria);
    expect(put).toMatchObject({
      type: "admin",
      actor: "admin",
      object: { kind: "principal", id: maria },
      details: {
        created: true,
        principal: { id: maria, digest: digestOf(stored), organization: "bw-cyber" },
      },
    });
    expect(put?.details.principal.birth_date).toBeUndefined();
    expect(put?.details.principal.name).toBeUndefined();
    expect(entries.find((e) => e.action === "key.create" && e.details.principal === maria)?.details).toEqual({
      principal: maria,
      label: digestOf("Maria Kowalska's laptop"),
    });
  });

  it("a screening match, its review, a blocked federated principal and a removal: by pseudonym too", () => {
    const ivan = pseudonym(IVAN.id);
    const confirm = entries.find((e) => e.action === "screening.confirm");
    expect(confirm).toMatchObject({
      actor: "rita-reviewer",
      object: { kind: "screening-match" },
      details: {
        subject: { kind: "principal", id: ivan },
        list: "ofac-sdn",
        entry: pseudonym("101"),
        from: "potential",
        to: "confirmed",
        reviewer: "rita-reviewer",
        reason: digestOf("Ivan Petrov, born 1965-01-12: same passport number"),
      },
    });
    expect(confirm?.object.id).toBe(`principal:${ivan}|ofac-sdn|${pseudonym("101")}`);
    const statuses = entries.filter((e) => e.action === "screening.status" && e.object.id === ivan);
    expect(statuses.map((e) => e.details.to)).toEqual(["potential", "confirmed"]);
    expect(entries.find((e) => e.action === "federated-principal.block")).toMatchObject({
      object: { kind: "principal-block", id: pseudonym(FEDERATED) },
      details: { reason: digestOf("Anna Schmidt left the partner") },
    });
    expect(entries.find((e) => e.action === "principal.remove")?.object).toEqual({
      kind: "principal",
      id: pseudonym(GONE.id),
    });
  });
});
