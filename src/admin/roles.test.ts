/**
 * Who may call what: every admin route × every role (and no, a bad, or a revoked token), driven by
 * ROUTES itself; applicants scoped to their own organization; the OpenAPI document and the schemas
 * that validate requests being one and the same.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { application, ask, asAdmin, call, createIdentity, type Json } from "../testing/admin.js";
import { ROUTES } from "./index.js";

let t: TestGateway;

interface Caller {
  readonly name: string;
  readonly roles: readonly string[];
  readonly org?: string;
  /** Not authenticated at all: 401 everywhere. */
  readonly unauthenticated?: boolean;
  token: string | null;
}
const IDENTITIES: Caller[] = [
  { name: "viewer", roles: ["viewer"], token: null },
  { name: "applicant", roles: ["applicant"], org: "bw-cyber", token: null },
  { name: "other-applicant", roles: ["applicant"], org: "other-org", token: null },
  { name: "officer", roles: ["compliance-officer"], token: null },
  { name: "approver-1", roles: ["approver"], token: null },
  { name: "approver-2", roles: ["approver"], token: null },
  { name: "reviewer", roles: ["reviewer"], token: null },
  { name: "admin-1", roles: ["admin"], token: null },
];
const CALLERS: Caller[] = [
  ...IDENTITIES,
  { name: "bootstrap", roles: ["admin"], token: ADMIN_TOKEN },
  { name: "no-token", roles: [], unauthenticated: true, token: null },
  { name: "bad-token", roles: [], unauthenticated: true, token: "clra_not-a-real-token" },
  { name: "revoked", roles: [], unauthenticated: true, token: null },
];
const tokenOf = (name: string) => CALLERS.find((c) => c.name === name)?.token ?? null;

let n = 0;
const uid = (prefix: string) => `${prefix}-${++n}`;
/** A license of `org`, applied for by the bootstrap admin; approved by both approvers when asked. */
async function license(org: string, approved = false): Promise<string> {
  const id = uid("LIC-MATRIX");
  await asAdmin(t, "POST", "/admin/v1/licenses", application({ id, licensee: { organization: org } }));
  if (approved) {
    for (const a of ["approver-1", "approver-2"]) {
      const r = await call(t, tokenOf(a), "POST", `/admin/v1/licenses/${id}/approve`, {});
      expect(r.status).toBe(200);
    }
  }
  return id;
}
/** An open alert, as a detector would raise it. */
async function alert(): Promise<string> {
  const id = uid("matrix-alert");
  const raised = await t.gateway.store.alerts.raise(
    {
      dedupeKey: id,
      detector: "key-sharing",
      severity: "high",
      subject: { kind: "key", id },
      summary: "role matrix",
      evidence: { audit_indexes: [], details: {} },
      raisedAt: new Date().toISOString(),
      deliver: false,
    },
    "detector:key-sharing",
  );
  return raised.alert.id;
}
const ownOrg = (c: Caller) => c.org ?? "bw-cyber";
const reason = { reason: "role matrix test" };

/** Per route (`METHOD path`): the placeholders filled with real ids, and a valid body. */
type Setup = (c: Caller) => Promise<{ params?: Record<string, string>; body?: unknown }>;
const none: Setup = async () => ({});
const CASES: Record<string, Setup> = {
  "GET /admin/v1/principals": none,
  "POST /admin/v1/principals": async () => ({
    body: { id: uid("matrix-p"), citizenships: [{ country: "FR" }], residence: "FR", assurance: "self" },
  }),
  "GET /admin/v1/principals/{id}": async () => ({ params: { id: "alice" } }),
  "DELETE /admin/v1/principals/{id}": async () => {
    const id = uid("matrix-gone");
    await asAdmin(t, "POST", "/admin/v1/principals", { id, citizenships: [{ country: "FR" }] });
    return { params: { id } };
  },
  "GET /admin/v1/keys": none,
  "POST /admin/v1/keys": async () => ({ body: { principal: "alice", label: "matrix" } }),
  "POST /admin/v1/keys/{id}/revoke": async () => ({
    params: { id: (await asAdmin(t, "POST", "/admin/v1/keys", { principal: "alice" })).id as string },
  }),
  "GET /admin/v1/me": none,
  "GET /admin/v1/identities": none,
  "POST /admin/v1/identities": async () => ({ body: { id: uid("matrix-id"), name: "M", roles: ["viewer"] } }),
  "POST /admin/v1/identities/{id}/revoke": async () => {
    const id = uid("matrix-rev");
    await createIdentity(t, id, ["viewer"]);
    return { params: { id } };
  },
  "GET /admin/v1/partners": none,
  "GET /admin/v1/partners/{id}": async () => ({ params: { id: "uk-aisi" } }),
  "POST /admin/v1/partners": async () => ({ body: orgPartner(uid("matrix-org")) }),
  "POST /admin/v1/partners/{id}/status": async () => {
    const id = uid("matrix-partner");
    await asAdmin(t, "POST", "/admin/v1/partners", orgPartner(id));
    return { params: { id }, body: { status: "active", reason: "matrix" } };
  },
  "GET /admin/v1/identity-providers": none,
  "GET /admin/v1/partners/{id}/identity-providers": async () => ({ params: { id: "g7-fvey" } }),
  "POST /admin/v1/partners/{id}/identity-providers": async () => ({
    params: { id: "g7-fvey" },
    body: idpBody(uid("matrix-idp")),
  }),
  "GET /admin/v1/partners/{id}/identity-providers/{provider}": async () => ({
    params: { id: "g7-fvey", provider: await idp() },
  }),
  "POST /admin/v1/partners/{id}/identity-providers/{provider}": async () => ({
    params: { id: "g7-fvey", provider: await idp() },
    body: { name: "renamed" },
  }),
  "DELETE /admin/v1/partners/{id}/identity-providers/{provider}": async () => ({
    params: { id: "g7-fvey", provider: await idp() },
  }),
  "GET /admin/v1/federated-principals": none,
  "GET /admin/v1/federated-principals/{id}": async () => ({ params: { id: await federated() } }),
  "POST /admin/v1/federated-principals/{id}/block": async () => ({
    params: { id: await federated() },
    body: reason,
  }),
  "POST /admin/v1/federated-principals/{id}/unblock": async () => ({
    params: { id: await federated() },
    body: reason,
  }),
  "GET /admin/v1/licenses": none,
  "GET /admin/v1/licenses/{id}": async (c) => ({ params: { id: await license(ownOrg(c)) } }),
  "GET /admin/v1/licenses/{id}/usage": async (c) => ({ params: { id: await license(ownOrg(c)) } }),
  "POST /admin/v1/licenses": async (c) => ({
    body: application({ id: uid("LIC-APPLY"), licensee: { organization: ownOrg(c) } }),
  }),
  "POST /admin/v1/licenses/{id}/approve": async () => ({
    params: { id: await license("bw-cyber") },
    body: {},
  }),
  "POST /admin/v1/licenses/{id}/deny": async () => ({
    params: { id: await license("bw-cyber") },
    body: reason,
  }),
  "POST /admin/v1/licenses/{id}/suspend": async () => ({
    params: { id: await license("bw-cyber", true) },
    body: reason,
  }),
  "POST /admin/v1/licenses/{id}/reinstate": async () => {
    const id = await license("bw-cyber", true);
    await asAdmin(t, "POST", `/admin/v1/licenses/${id}/suspend`, reason);
    return { params: { id }, body: reason };
  },
  "POST /admin/v1/licenses/{id}/revoke": async () => ({
    params: { id: await license("bw-cyber", true) },
    body: reason,
  }),
  "GET /admin/v1/schemes": none,
  "POST /admin/v1/schemes": async () => ({
    body: { yaml: readFileSync("examples/g7-trusted-partners.yaml", "utf8") },
  }),
  "GET /admin/v1/schemes/{version}": async () => ({ params: { version: "1" } }),
  // Re-activating the version in force changes nothing the other tests see.
  "POST /admin/v1/schemes/{version}/activate": async () => ({ params: { version: "1" }, body: reason }),
  "GET /admin/v1/models": none,
  "GET /admin/v1/usage": none,
  "GET /admin/v1/screening/lists": none,
  "GET /admin/v1/screening/lists/{list}/versions/{version}": async () => {
    await screeningList();
    return { params: { list: "ofac-sdn", version: "active" } };
  },
  "POST /admin/v1/screening/lists": async () => ({ body: { files: OFAC_FILES } }),
  "POST /admin/v1/screening/search": async () => ({ body: { name: "Ivan Petrov", type: "person" } }),
  "GET /admin/v1/screening/matches": none,
  "GET /admin/v1/screening/matches/{id}": async () => ({ params: { id: await screeningMatch() } }),
  "POST /admin/v1/screening/matches/{id}/confirm": async () => ({
    params: { id: await screeningMatch() },
    body: reason,
  }),
  "POST /admin/v1/screening/matches/{id}/clear": async () => ({
    params: { id: await screeningMatch() },
    body: reason,
  }),
  "POST /admin/v1/screening/rescreen": none,
  // A footprint of an empty log is refused (an empty period): one decision first.
  "GET /admin/v1/reports/footprint": async () => {
    await ask(t, "alice", "US");
    await t.gateway.audit.log.publish();
    return {};
  },
  "POST /admin/v1/schemes/{version}/what-if": async () => ({ params: { version: "1" }, body: {} }),
  "GET /admin/v1/alerts": none,
  "GET /admin/v1/alerts/count": none,
  "GET /admin/v1/alerts/{id}": async () => ({ params: { id: await alert() } }),
  "POST /admin/v1/alerts/{id}/acknowledge": async () => ({
    params: { id: await alert() },
    body: { note: "seen" },
  }),
  "POST /admin/v1/alerts/{id}/resolve": async () => ({ params: { id: await alert() }, body: {} }),
};
/** A small OFAC list (the screening fixtures), base64 as the import route takes it. */
const OFAC_FILES = ["sdn.csv", "alt.csv", "add.csv"].map((name) => ({
  name,
  content_base64: readFileSync(`src/screening/fixtures/ofac/${name}`).toString("base64"),
}));
async function screeningList(): Promise<void> {
  await asAdmin(t, "POST", "/admin/v1/screening/lists", { files: OFAC_FILES }, 201);
}
/** A new principal named like a listed person: its potential screening match's id. */
async function screeningMatch(): Promise<string> {
  await screeningList();
  const id = uid("matrix-ivan");
  await asAdmin(t, "POST", "/admin/v1/principals", {
    id,
    name: "Ivan Petrov",
    birth_date: "1965-01-12",
    citizenships: [{ country: "FR" }],
  });
  const page = await asAdmin(t, "GET", `/admin/v1/screening/matches?subject=${id}`);
  return page.data[0].id as string;
}
function idpBody(id: string) {
  return { id, issuer: `https://${id}.example`, audiences: ["urn:clearance"] };
}
/** A registered identity provider of g7-fvey. */
async function idp(): Promise<string> {
  const id = uid("matrix-idp");
  await asAdmin(t, "POST", "/admin/v1/partners/g7-fvey/identity-providers", idpBody(id), 201);
  return id;
}
/** A federated principal as a partner token would have created it. */
async function federated(): Promise<string> {
  const id = `fed:matrix:${uid("person")}`;
  const at = new Date().toISOString();
  await t.gateway.store.federated.record([
    {
      id,
      provider: "matrix",
      partner: "g7-fvey",
      issuer: "https://matrix.example",
      subject: id.slice(11),
      display_name: null,
      principal: { id, citizenships: [{ country: "DE", since: null }] },
      first_seen: at,
      last_seen: at,
      issued_at: 1,
    },
  ]);
  return id;
}
function orgPartner(id: string) {
  return {
    kind: "organization",
    partner: {
      id,
      country: "FR",
      assurance: "verified",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    },
    reason: "matrix",
  };
}
const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
const fill = (path: string, params: Record<string, string> = {}) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? `missing-${name}`));

beforeAll(async () => {
  t = await startTestGateway();
  for (const c of IDENTITIES) c.token = await createIdentity(t, `${c.name}@test`, c.roles, c.org);
  const revoked = CALLERS.find((c) => c.name === "revoked")!;
  revoked.token = await createIdentity(t, "revoked@test", ["admin"]);
  await asAdmin(t, "POST", "/admin/v1/identities/revoked@test/revoke");
});
afterAll(() => t.gateway.close());

describe("the role matrix: every route × every caller", () => {
  it("every route has a matrix entry, and every entry a route", () => {
    expect(Object.keys(CASES).sort()).toEqual(ROUTES.map(key).sort());
  });

  it.each(ROUTES.map((r) => [key(r), r] as const))("%s", async (name, route) => {
    const setup = CASES[name];
    expect(setup, `no matrix entry for ${name}: add one to CASES`).toBeDefined();
    const seen: string[] = [];
    const wanted: string[] = [];
    for (const c of CALLERS) {
      const allowed = !c.unauthenticated && route.roles.some((r) => c.roles.includes(r));
      const { params, body } = await setup!(c);
      const r = await call(t, c.token, route.method, fill(route.path, params), body);
      const expected = c.unauthenticated
        ? "401 invalid_admin_token"
        : allowed
          ? String(route.status ?? 200)
          : "403 forbidden";
      const got = r.status >= 400 ? `${r.status} ${r.body?.error?.code}` : String(r.status);
      wanted.push(`${c.name}: ${expected}`);
      seen.push(
        `${c.name}: ${got}${got === expected || r.status < 400 ? "" : ` (${r.body?.error?.message})`}`,
      );
    }
    expect(seen).toEqual(wanted);
  });
});

describe("applicants see and act for their own organization only", () => {
  let foreign: string;
  beforeAll(async () => {
    foreign = (
      await asAdmin(t, "POST", "/admin/v1/licenses", application({ licensee: { organization: "inria" } }))
    ).id as string;
  });

  it("lists only its organization's licenses", async () => {
    const own = await call(t, tokenOf("applicant"), "GET", "/admin/v1/licenses?limit=500");
    expect(own.status).toBe(200);
    const orgs = new Set(own.body.data.map((l: Json) => l.licensee.organization));
    expect([...orgs]).toEqual(["bw-cyber"]);
    expect(own.body.data.map((l: Json) => l.id)).toContain("BIS-2026-0001");
    const filtered = await call(t, tokenOf("applicant"), "GET", "/admin/v1/licenses?organization=inria");
    expect(filtered.body.data).toEqual([]);
    const all = await call(t, tokenOf("viewer"), "GET", "/admin/v1/licenses?limit=500");
    expect(all.body.data.map((l: Json) => l.id)).toContain(foreign);
  });

  it("another organization's license does not exist for it (404)", async () => {
    for (const path of [`/admin/v1/licenses/${foreign}`, `/admin/v1/licenses/${foreign}/usage`]) {
      const r = await call(t, tokenOf("applicant"), "GET", path);
      expect(r.status, path).toBe(404);
      expect(r.body.error.code).toBe("not_found");
    }
    const theirs = await call(t, tokenOf("other-applicant"), "GET", "/admin/v1/licenses/BIS-2026-0001");
    expect(theirs.status).toBe(404);
  });

  it("cannot apply for another organization, nor for a principal (403)", async () => {
    for (const licensee of [{ organization: "inria" }, { principal: "erik" }]) {
      const r = await call(t, tokenOf("applicant"), "POST", "/admin/v1/licenses", application({ licensee }));
      expect(r.status, JSON.stringify(licensee)).toBe(403);
      expect(r.body.error.code).toBe("forbidden");
    }
  });

  // BUG: src/admin/routes/licenses.ts:185-193 (onlyApplicant) only restricts callers whose roles are all
  // "applicant". An identity with roles [applicant, approver] may apply only through its applicant
  // role (approvers are not among the applying roles), yet it may apply for any organization.
  it("an applicant that also approves still applies only for its own organization", async () => {
    const token = await createIdentity(t, "applicant-approver@test", ["applicant", "approver"], "bw-cyber");
    const r = await call(
      t,
      token,
      "POST",
      "/admin/v1/licenses",
      application({ licensee: { organization: "inria" } }),
    );
    expect(r.status).toBe(403);
  });

  it("an applicant identity needs an organization", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities", {
      id: "a",
      name: "A",
      roles: ["applicant"],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.problems[0].path).toBe("organization");
  });

  // Judgment call, reported: an identity may be created with the id "admin", which is the actor
  // name of the bootstrap token (src/admin/auth.ts:33), or "scheme-file", the actor of seeded
  // records; the audit log then cannot tell who made a change, and such an identity counts as the
  // applicant of everything the bootstrap admin (or the scheme file) applied for.
  it("an identity cannot take the name of the bootstrap admin or the scheme file", async () => {
    for (const id of ["admin", "scheme-file"]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities", {
        id,
        name: "X",
        roles: ["viewer"],
      });
      expect(r.status, id).toBeGreaterThanOrEqual(400);
    }
  });

  it("usage shows only its own organization and its licenses", async () => {
    const erik = await ask(t, "erik", "DE", { model: "fable-5", purpose: "cyber-defense" });
    expect(erik.reason).toBe("license");
    expect((await ask(t, "benoit", "FR")).reason).toBe("partner-country");
    await t.gateway.meter.flush();
    const own = await call(t, tokenOf("applicant"), "GET", "/admin/v1/usage");
    expect(own.status).toBe(200);
    expect(Object.keys(own.body.byOrganization)).toEqual(["bw-cyber"]);
    expect(Object.keys(own.body.byLicense)).toContain("BIS-2026-0001");
    const ownLicenses = new Set(
      (await call(t, tokenOf("applicant"), "GET", "/admin/v1/licenses?limit=500")).body.data.map(
        (l: Json) => l.id,
      ),
    );
    for (const id of Object.keys(own.body.byLicense)) expect(ownLicenses).toContain(id);
    expect(own.body.byPrincipal).toBeUndefined();
    const other = await call(t, tokenOf("other-applicant"), "GET", "/admin/v1/usage");
    expect(other.body).toEqual({ byOrganization: {}, byLicense: {} });
    const all = await call(t, tokenOf("viewer"), "GET", "/admin/v1/usage");
    expect(Object.keys(all.body.byOrganization)).toEqual(expect.arrayContaining(["bw-cyber", "inria"]));
  });

  it("cannot use the decision API; a viewer can", async () => {
    const input = {
      principal: { id: "x", citizenships: [{ country: "US" }] },
      request: { model: "mythos-5", action: "infer", location: "US", time: new Date().toISOString() },
    };
    const r = await call(t, tokenOf("applicant"), "POST", "/v1/decisions", input);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("forbidden");
    const v = await call(t, tokenOf("viewer"), "POST", "/v1/decisions", input);
    expect(v.status).toBe(200);
    expect(v.body).toMatchObject({ decision: "allow", reason: "home-person" });
    // The gateway's decision API refuses a repeated member as the standalone one does.
    const twice = await fetch(`${t.url}/v1/decisions`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenOf("viewer")}`, "content-type": "application/json" },
      body: JSON.stringify(input).replace('"location":"US"', '"location":"IR","location":"US"'),
    });
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as Json).error).toMatchObject({ code: "duplicate_member" });
  });

  it("the decision API answers only those who read every license, as /admin/v1/licenses decides scope", async () => {
    const input = {
      principal: { id: "x", citizenships: [{ country: "US" }] },
      request: { model: "mythos-5", action: "infer", location: "US", time: new Date().toISOString() },
    };
    const status = async (roles: string[], org?: string) => {
      const token = await createIdentity(t, uid(`decider-${roles.join(".")}`), roles, org);
      const licenses = await call(t, token, "GET", "/admin/v1/licenses?limit=1");
      const decision = await call(t, token, "POST", "/v1/decisions", input);
      return `${licenses.status} ${decision.status}`;
    };
    // A reviewer may not read licenses at all; with applicant it reads its own only: no decisions.
    expect(await status(["reviewer"])).toBe("403 403");
    expect(await status(["applicant", "reviewer"], "bw-cyber")).toBe("200 403");
    // An unscoped license reader role lifts the scope on both.
    expect(await status(["compliance-officer"])).toBe("200 200");
    expect(await status(["applicant", "approver"], "bw-cyber")).toBe("200 200");
  });
});

describe("the OpenAPI document is the route table", () => {
  let doc: Json;
  beforeAll(async () => {
    const r = await call(t, null, "GET", "/admin/openapi.json");
    expect(r.status).toBe(200);
    doc = r.body;
  });

  it("is OpenAPI 3.1 with every route, its method, parameters and request body", () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map(key).sort());
    for (const r of ROUTES) {
      const op = doc.paths[r.path][r.method.toLowerCase()];
      expect(op.responses[String(r.status ?? 200)], key(r)).toBeDefined();
      expect(op.description, key(r)).toContain(r.roles.join(", "));
      const names = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const inPath = (op.parameters ?? []).filter((p: Json) => p.in === "path").map((p: Json) => p.name);
      expect(inPath, key(r)).toEqual(names);
      if (r.body === undefined) expect(op.requestBody, key(r)).toBeUndefined();
      else {
        const schema = op.requestBody?.content?.["application/json"]?.schema;
        expect(schema, key(r)).toBeTypeOf("object");
        expect(schema.type ?? schema.anyOf ?? schema.oneOf, key(r)).toBeDefined();
      }
    }
  });

  it("a body that breaks the documented schema is refused with 400 and the field's path", async () => {
    const problems: string[] = [];
    for (const r of ROUTES.filter((x) => x.body !== undefined)) {
      const name = key(r);
      const caller = CALLERS.find(
        (c) => !c.unauthenticated && r.roles.some((role) => c.roles.includes(role)),
      )!;
      const { params, body } = await CASES[name]!(caller);
      const root = doc.paths[r.path][r.method.toLowerCase()].requestBody.content["application/json"].schema;
      const sample = body as Record<string, unknown>;
      // For a union, the variant the sample is (by its constant fields, e.g. kind).
      const schema =
        ((root.oneOf ?? root.anyOf ?? [root]) as Json[]).find((v) =>
          Object.entries(v.properties ?? {}).every(
            ([k, p]: [string, Json]) => !("const" in p) || p.const === sample[k],
          ),
        ) ?? root;
      const variants: [string, Record<string, unknown>][] = [];
      for (const field of schema.required ?? []) {
        const { [field]: _gone, ...rest } = sample;
        variants.push([field, rest]);
      }
      if (schema.additionalProperties === false)
        variants.push(["not_a_field", { ...sample, not_a_field: 1 }]);
      for (const [field, prop] of Object.entries(schema.properties ?? {}) as [string, Json][]) {
        if (prop.type === "string") variants.push([field, { ...sample, [field]: 12345 }]);
        if (prop.type === "array") variants.push([field, { ...sample, [field]: "not a list" }]);
      }
      expect(variants.length, name).toBeGreaterThan(0);
      for (const [field, broken] of variants) {
        const res = await call(t, caller.token, r.method, fill(r.path, params), broken);
        const paths = (res.body?.error?.problems ?? []).map((p: Json) => p.path as string);
        if (res.status !== 400 || !paths.some((p: string) => p === field || p.startsWith(`${field}.`)))
          problems.push(`${name} ${field}: ${res.status} ${JSON.stringify(paths)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
