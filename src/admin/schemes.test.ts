/**
 * Scheme versions over HTTP: validated uploads (problems with line and column), the diff in words,
 * activation by an admin with a reason (applied on the next request, no restart), rollback, and
 * the versions a license in force rules out.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  application,
  ask,
  auditEntries,
  call,
  createIdentity,
  eventually,
  type Json,
} from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
/** The example with one more model and Brazil embargoed. */
const CHANGED = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, BR]").replace(
  /^models:\n/m,
  "models:\n  nova-5: { control: controlled, fallback: mythos-4, description: next generation }\n",
);
const BROKEN = `version: 1
name: broken
home: [US]
models:
  m1: { control: sometimes }
  m2: { control: open, colour: red }
`;

let t: TestGateway;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway();
  tok.viewer = await createIdentity(t, "viewer@schemes", ["viewer"]);
  tok.officer = await createIdentity(t, "officer@schemes", ["compliance-officer"]);
  tok.admin = await createIdentity(t, "admin@schemes", ["admin"]);
});
afterAll(() => t.gateway.close());

const as = (who: string, method: string, path: string, body?: unknown) =>
  call(t, tok[who] ?? null, method, path, body);
const upload = (yaml: string) => as("officer", "POST", "/admin/v1/schemes", { yaml });
const activate = (version: number, reason = "reviewed", who = "admin") =>
  as(who, "POST", `/admin/v1/schemes/${version}/activate`, { reason });
/** version → active, as listed. */
async function versions(): Promise<Record<number, boolean>> {
  const r = await as("viewer", "GET", "/admin/v1/schemes");
  expect(r.status).toBe(200);
  return Object.fromEntries(r.body.data.map((v: Json) => [v.version, v.active]));
}
const models = async (): Promise<string[]> =>
  (await as("viewer", "GET", "/admin/v1/models")).body.data.map((m: Json) => m.id);
const fromBrazil = () => ask(t, "alice", "BR");

describe("uploading a scheme version", () => {
  it("an upload with errors is refused with every problem's line and column, and nothing is stored", async () => {
    const before = await versions();
    const r = await upload(BROKEN);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("invalid_request");
    const problems = r.body.error.problems as Json[];
    expect(problems.length).toBeGreaterThanOrEqual(2);
    for (const p of problems) {
      expect(p.line, JSON.stringify(p)).toBeTypeOf("number");
      expect(p.column, JSON.stringify(p)).toBeTypeOf("number");
    }
    expect(problems.find((p) => p.path === "models.m1.control")).toMatchObject({ line: 5 });
    expect(problems.find((p) => p.path.startsWith("models.m2"))).toMatchObject({ line: 6 });

    const syntax = await upload("version: 1\nname: x\nhome: [US\nmodels: {}\n");
    expect(syntax.status).toBe(400);
    expect(syntax.body.error.problems[0]).toMatchObject({
      line: expect.any(Number),
      column: expect.any(Number),
    });
    expect((await upload("")).status).toBe(400);
    expect(await versions()).toEqual(before);
  });

  it("an alias bomb is refused with 400 at the first alias, not a server error", async () => {
    const before = await versions();
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]"]
      .concat([
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
        "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
      ])
      .join("\n");
    const r = await upload(bomb);
    expect(r.status).toBe(400);
    expect(r.body.error.problems[0]).toMatchObject({ code: "yaml_aliases", line: 2, column: 8 });
    expect(await versions()).toEqual(before);
  });

  it("a valid changed version is stored with the diff in words, and is not active yet", async () => {
    expect(CHANGED).toContain("nova-5");
    expect(CHANGED).toContain("EAR_E2, BR]");
    const r = await upload(CHANGED);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ version: 2, created: true, diff: { identical: false } });
    const changes = r.body.diff.changes as Json[];
    expect(changes).toContainEqual(
      expect.objectContaining({ area: "model", kind: "added", subject: "model nova-5" }),
    );
    expect(changes).toContainEqual(expect.objectContaining({ area: "embargo", kind: "added" }));
    expect(r.body.diff.text).toMatch(/nova-5/);
    expect(r.body.diff.text).toMatch(/BR|Brazil/);
    expect(await versions()).toEqual({ 1: true, 2: false });
    const stored = await as("viewer", "GET", "/admin/v1/schemes/2");
    expect(stored.body).toMatchObject({
      version: 2,
      active: false,
      yaml: CHANGED,
      uploaded_by: "officer@schemes",
    });
    // Not in force: Brazil is not embargoed, nova-5 is unknown.
    expect(await fromBrazil()).toMatchObject({ status: 200, reason: "home-person" });
    expect(await models()).not.toContain("nova-5");
  });

  it("uploading the same content again stores nothing new", async () => {
    const again = await upload(CHANGED);
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ version: 2, created: false });
    // Written differently, same content: the same version.
    const reformatted = await upload(`# a comment\n${CHANGED}`);
    expect(reformatted.body).toMatchObject({ version: 2, created: false });
    expect(await versions()).toEqual({ 1: true, 2: false });
  });
});

describe("activating a version", () => {
  it("takes an admin and a reason; the gateway applies it on the next request", async () => {
    const officer = await activate(2, "reviewed", "officer");
    expect(officer.status).toBe(403);
    expect(officer.body.error.code).toBe("forbidden");
    for (const body of [{}, { reason: "   " }]) {
      const r = await as("admin", "POST", "/admin/v1/schemes/2/activate", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.problems[0].path).toBe("reason");
    }
    expect((await activate(99)).status).toBe(404);
    expect(await versions()).toEqual({ 1: true, 2: false });

    const r = await activate(2, "Brazil added to the embargo");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ version: 2, active: true });
    const embargoed = await eventually(fromBrazil, (a) => a.reason === "embargoed-location");
    expect(embargoed).toMatchObject({ status: 403, decision: "deny", reason: "embargoed-location" });
    expect(await ask(t, "alice", "US", { model: "nova-5" })).toMatchObject({
      status: 200,
      reason: "home-person",
    });
    expect(await models()).toContain("nova-5");
    // The previous version is kept.
    expect(await versions()).toEqual({ 1: false, 2: true });
    const active = (await auditEntries(t))
      .filter((e) => e.type === "admin" && e.action === "scheme.activate")
      .at(-1);
    expect(active).toMatchObject({
      actor: "admin@schemes",
      details: { version: 2, previous: 1, reason: "Brazil added to the embargo" },
    });
  });

  it("rolls back by activating the earlier version", async () => {
    expect((await activate(1, "rollback: embargo not yet in force")).status).toBe(200);
    expect(await eventually(fromBrazil, (a) => a.reason === "home-person")).toMatchObject({ status: 200 });
    expect(await models()).not.toContain("nova-5");
    expect(await versions()).toEqual({ 1: true, 2: false });
    expect((await activate(2, "embargo in force")).status).toBe(200);
    expect(await eventually(fromBrazil, (a) => a.reason === "embargoed-location")).toMatchObject({
      status: 403,
    });
  });

  it("a version without a model that a license names cannot be activated", async () => {
    const applied = await as(
      "officer",
      "POST",
      "/admin/v1/licenses",
      application({ id: "LIC-NOVA", models: ["nova-5"] }),
    );
    expect(applied.status).toBe(201);
    const r = await activate(1, "rollback");
    expect(r.status).toBe(400);
    const problems = r.body.error.problems as Json[];
    expect(problems).toContainEqual(
      expect.objectContaining({
        path: expect.stringMatching(/^licenses/),
        message: expect.stringContaining("nova-5"),
      }),
    );
    expect(await versions()).toEqual({ 1: false, 2: true });
    expect(await fromBrazil()).toMatchObject({ status: 403, reason: "embargoed-location" });
  });
});
