/**
 * Screening through a running gateway: list import over the admin API, a principal screened when
 * created, the decision reading its status, the review queue with a reviewer, search, errors.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin, call, createIdentity } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const file = (name: string) => ({
  name: name.split("/").pop()!,
  content_base64: readFileSync(join(FIXTURES, name)).toString("base64"),
});

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.gateway.close();
});

async function chat(key: string, model: string) {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  await r.text();
  return {
    status: r.status,
    reason: r.headers.get("x-clearance-reason"),
    decision: r.headers.get("x-clearance-decision"),
  };
}

async function principalWithKey(id: string, name: string, birth_date = "1965-01-12"): Promise<string> {
  await asAdmin(t, "POST", "/admin/v1/principals", {
    id,
    name,
    birth_date,
    citizenships: [{ country: "DE" }],
    residence: "DE",
    assurance: "verified",
  });
  return (await asAdmin(t, "POST", "/admin/v1/keys", { principal: id }, 201)).key as string;
}

describe("denied-party screening over the admin API", () => {
  it("imports a list, screens a new principal, and the decision withholds controlled models until review", async () => {
    const imported = await asAdmin(
      t,
      "POST",
      "/admin/v1/screening/lists",
      { files: [file("ofac/sdn.csv"), file("ofac/alt.csv"), file("ofac/add.csv")] },
      201,
    );
    expect(imported.version).toMatchObject({ list: "ofac-sdn", version: 1, counts: { entries: 3 } });
    const lists = await asAdmin(t, "GET", "/admin/v1/screening/lists");
    expect(lists.data.map((v: { list: string }) => v.list)).toEqual(["ofac-sdn"]);

    const clean = await principalWithKey("hanna", "Hanna Schmidt");
    const ivan = await principalWithKey("ivan", "Ivan Petrov");
    expect((await chat(clean, "mythos-5")).reason).not.toMatch(/screening|denied-party/);
    expect(await chat(ivan, "mythos-5")).toMatchObject({ reason: "screening-review" });
    const p = await asAdmin(t, "GET", "/admin/v1/principals/ivan");
    expect(p.screening).toBe("clear"); // the record as written: the potential status comes from screening

    const queue = await asAdmin(t, "GET", "/admin/v1/screening/matches?status=potential");
    expect(queue.data).toHaveLength(1);
    const match = queue.data[0];
    expect(match).toMatchObject({
      subject_kind: "principal",
      subject_id: "ivan",
      list: "ofac-sdn",
      entry_id: "101",
    });
    expect(match.explanation).toMatchObject({
      matched_name: "PETROV, Ivan Sergeyevich",
      entry_type: "person",
    });

    const viewer = await createIdentity(t, "vera-viewer", ["viewer"]);
    const reviewer = await createIdentity(t, "rita-reviewer", ["reviewer"]);
    const path = `/admin/v1/screening/matches/${encodeURIComponent(match.id)}`;
    expect((await call(t, viewer, "POST", `${path}/confirm`, { reason: "x" })).status).toBe(403);
    expect((await call(t, reviewer, "POST", `${path}/confirm`, {})).status).toBe(400);
    const confirmed = await call(t, reviewer, "POST", `${path}/confirm`, { reason: "same passport number" });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({
      status: "confirmed",
      reviewer: "rita-reviewer",
      reason: "same passport number",
    });
    // A confirmed match denies every model, open ones included.
    expect(await chat(ivan, "mythos-4")).toMatchObject({ reason: "denied-party", decision: "deny" });

    const cleared = await call(t, reviewer, "POST", `${path}/clear`, {
      reason: "different person after all",
    });
    expect(cleared.body).toMatchObject({ status: "cleared" });
    expect((await chat(ivan, "mythos-5")).reason).not.toMatch(/screening|denied-party/);
    // Viewers read the queue; the reviewer's step is in the audit log with the reason.
    expect((await call(t, viewer, "GET", `${path}`)).body.status).toBe("cleared");
    const entries = await asAdmin(t, "GET", "/admin/v1/screening/matches?subject=ivan");
    expect(entries.data[0].reviewer).toBe("rita-reviewer");
  });

  it("screens in the background a principal written past the admin API (CLI, seed, federation)", async () => {
    await t.gateway.store.principals.put({
      id: "ivan-cli",
      name: "PETROV, Ivan S.",
      birth_date: "1965-01-12",
      citizenships: [{ country: "DE" }],
    });
    await t.gateway.snapshot.refresh();
    await t.gateway.screening.idle();
    const page = await asAdmin(t, "GET", "/admin/v1/screening/matches?subject=ivan-cli");
    expect(page.data).toHaveLength(1);
    expect(page.data[0]).toMatchObject({ status: "potential", entry_id: "101" });
    await t.gateway.snapshot.refresh();
    expect(t.gateway.snapshot.current.principals.get("ivan-cli")?.screening).toBe("potential");
  });

  it("gives a reviewer the listed entry, the subject's facts and its status beside each match", async () => {
    const page = await asAdmin(t, "GET", "/admin/v1/screening/matches?subject=ivan-cli&detail=true");
    expect(page.data[0]).toMatchObject({
      subject_status: "potential",
      subject_facts: {
        name: "PETROV, Ivan S.",
        type: "person",
        birth_date: "1965-01-12",
        nationalities: ["DE"],
      },
      entry: {
        id: "101",
        type: "person",
        list_version: 1,
        changed: false,
        programs: ["RUSSIA-EO14024"],
        names: expect.arrayContaining([
          { name: "PETROV, Ivan Sergeyevich", strength: "strong", kind: "primary" },
          expect.objectContaining({ name: "PETROV, Vanya" }),
        ]),
      },
    });
    const one = await asAdmin(t, "GET", `/admin/v1/screening/matches/${encodeURIComponent(page.data[0].id)}`);
    expect(one.entry.digest).toBe(page.data[0].entry_digest);
    // Without detail the queue stays the stored rows.
    const plain = await asAdmin(t, "GET", "/admin/v1/screening/matches?subject=ivan-cli");
    expect(plain.data[0].entry).toBeUndefined();
  });

  it("searches ad hoc, with explanations; bad names are refused naming the field", async () => {
    const r = await asAdmin(t, "POST", "/admin/v1/screening/search", {
      name: "Петров Иван",
      type: "person",
      birth_date: "1965",
      nationality: "ru",
    });
    expect(r.match).toBe(true);
    expect(r.matches[0]).toMatchObject({ list: "ofac-sdn", entry_id: "101" });
    expect(r.matches[0].factors.map((f: { field: string }) => f.field)).toEqual([
      "birth_date",
      "nationality",
    ]);
    // A legal form alone has nothing to screen: held for review, not passed as clear.
    const held = await asAdmin(t, "POST", "/admin/v1/screening/search", {
      name: "Corp",
      type: "organization",
    });
    expect(held).toMatchObject({
      match: true,
      matches: [{ list: "screening", entry_id: "indistinct-name", legal_forms: { query: ["corp"] } }],
    });
    const bad = await call(
      t,
      (await createIdentity(t, "s-viewer", ["viewer"])) as string,
      "POST",
      "/admin/v1/screening/search",
      {
        name: "Ivan\u0000Petrov",
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems[0]).toMatchObject({ path: "name" });
    const long = await call(t, null, "POST", "/admin/v1/screening/search", { name: "x" });
    expect(long.status).toBe(401);
  });

  it("refuses a malformed list with file, line and field, keeping the previous version active", async () => {
    const broken = Buffer.from('101,"PETROV, Ivan","individual"\n').toString("base64");
    const r = await call(
      t,
      (await createIdentity(t, "co-officer", ["compliance-officer"])) as string,
      "POST",
      "/admin/v1/screening/lists",
      {
        files: [{ name: "sdn.csv", content_base64: broken }],
      },
    );
    expect(r.status).toBe(400);
    expect(r.body.error.problems[0]).toMatchObject({ file: "sdn.csv", line: 1 });
    const lists = await asAdmin(t, "GET", "/admin/v1/screening/lists");
    expect(lists.data[0]).toMatchObject({ list: "ofac-sdn", version: 1, active: true });
  });

  it("refuses a list name holding a control character, naming the field (PostgreSQL's text cannot hold a NUL)", async () => {
    const file = Buffer.from('101,"PETROV, Ivan","individual",-0-,-0-\n').toString("base64");
    for (const list of ["a\u0000b", "red\u001b[31m"]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/screening/lists", {
        list,
        files: [{ name: "sdn.csv", content_base64: file }],
      });
      expect(r.status, JSON.stringify(list)).toBe(400);
      expect(r.body.error.problems[0]).toMatchObject({ path: "list" });
    }
  });

  it("names a match it does not hold quoted, as the store and the review routes name it", async () => {
    const r = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/screening/matches/${encodeURIComponent('no"pe')}`);
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: "not_found", message: 'no screening match "no\\"pe"' });
  });

  it("is in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${t.url}/admin/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    for (const p of [
      "/admin/v1/screening/lists",
      "/admin/v1/screening/search",
      "/admin/v1/screening/matches",
      "/admin/v1/screening/matches/{id}/confirm",
      "/admin/v1/screening/matches/{id}/clear",
      "/admin/v1/screening/rescreen",
    ])
      expect(doc.paths).toHaveProperty([p]);
  });
});

describe("the decided matches, newest first", () => {
  it("order=newest pages the last changed first, by its own cursor; a cursor of another order is refused", async () => {
    const { store } = t.gateway;
    const found = ["n0", "n1", "n2", "n3"].map((entryId, i) => ({
      list: "newest-list",
      entryId,
      entryDigest: `d${i}`,
      score: 0.91,
      explanation: { name: "x" },
    }));
    await store.screening.record(
      [{ subject: { kind: "principal", id: "nora" }, found, scope: "all" }],
      "screener",
    );
    const ids = (await store.screening.matches({ subjectId: "nora" })).map((m) => m.id).sort();
    // Decided in an order that is not the ids': the first by id last.
    const decidedOrder = [ids[2]!, ids[3]!, ids[1]!, ids[0]!];
    for (const id of decidedOrder) {
      await store.screening.review(id, "cleared", "rita", `decided ${id}`);
      await new Promise((r) => setTimeout(r, 5)); // distinct updated_at, as decisions are in time
    }
    const read: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `subject=nora&order=newest&limit=3${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = (await asAdmin(t, "GET", `/admin/v1/screening/matches?${q}`)) as {
        data: { id: string }[];
        next_cursor: string | null;
      };
      read.push(...page.data.map((m) => m.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(2);
    expect(read).toEqual([...decidedOrder].reverse());

    const bad = await call(
      t,
      ADMIN_TOKEN,
      "GET",
      `/admin/v1/screening/matches?order=newest&cursor=${ids[0]}`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "invalid_cursor", problems: [{ path: "cursor" }] });
  });
});

describe("a list larger than screening.max_list_entries", () => {
  let small: TestGateway;
  beforeAll(async () => {
    small = await startTestGateway({ extra: "screening: { max_list_entries: 2 }" });
  });
  afterAll(async () => {
    await small.gateway.close();
  });

  it("is refused with 413 list_too_large naming the file; nothing is imported", async () => {
    const r = await call(small, ADMIN_TOKEN, "POST", "/admin/v1/screening/lists", {
      files: [file("ofac/sdn.csv"), file("ofac/alt.csv"), file("ofac/add.csv")],
    });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({
      code: "list_too_large",
      message: "sdn.csv: 3 entries, more than the 2 a list may hold (screening.max_list_entries)",
      problems: [{ code: "list_too_large", file: "sdn.csv", path: "file" }],
    });
    expect((await asAdmin(small, "GET", "/admin/v1/screening/lists")).data).toEqual([]);
    await asAdmin(small, "POST", "/admin/v1/screening/lists", { files: [file("dpl.txt")] }, 201);
  });
});
