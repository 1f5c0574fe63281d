/**
 * Managing identity providers: the CLI (`clearance remote partners idp …`, `remote federated …`)
 * against a running gateway and a real OpenID provider; every change an audit entry; removing a
 * provider, suspending its partner or blocking one principal refuses tokens from then on; bad
 * configurations refused, naming the field.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBundle } from "../audit/tiles.js";
import { parseConfig } from "../config/index.js";
import { asAdmin, call } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";
import { remoteCli } from "../testing/remote-cli.js";

let idp: TestIdp;
let t: TestGateway;

beforeAll(async () => {
  idp = await startTestIdp({
    people: {
      ada: { nationality: ["GB"], acr: "high" },
      bea: { nationality: ["GB"], acr: "high" },
    },
  });
  t = await startTestGateway();
}, 30_000);
afterAll(async () => {
  await t?.gateway.close();
  await idp?.close();
});

const cli = (args: string[]) => remoteCli(t.url, args);

async function ask(person: string, token?: string) {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token ?? (await idp.token(person))}`,
      "content-type": "application/json",
      "x-test-country": "GB",
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, reason: res.headers.get("x-clearance-reason"), code: body.error?.code };
}

async function adminEntries(): Promise<{ action: string; object: { id: string }; actor: string }[]> {
  await t.gateway.audit.log.publish();
  const size = t.gateway.audit.log.published!.size;
  const out: { type: string; action: string; object: { id: string }; actor: string }[] = [];
  for (let i = 0n; i * 256n < size; i++) {
    const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
    const path = `tile/entries/${String(i).padStart(3, "0")}${width === 256 ? "" : `.p/${width}`}`;
    const res = await fetch(`${t.url}/audit/${path}`);
    for (const e of decodeBundle(Buffer.from(await res.arrayBuffer()), width))
      out.push(JSON.parse(e.toString()));
  }
  return out.filter((e) => e.type === "admin");
}

describe("clearance remote partners idp", () => {
  it("adds a provider by OIDC discovery; its tokens are accepted; show names the keys the gateway holds", async () => {
    const add = await cli([
      "remote",
      "partners",
      "idp",
      "add",
      "g7-fvey",
      "--id",
      "uk-gov",
      "--issuer",
      idp.issuer,
      "--audience",
      AUDIENCE,
      "--max-assurance",
      "attested",
    ]);
    expect(add.err).toBe("");
    expect(add.code).toBe(0);
    expect(add.out).toMatch(/registered identity provider uk-gov for partner g7-fvey/);
    // The mapping by file: claims and assurance.
    const upd = await cli([
      "remote",
      "partners",
      "idp",
      "update",
      "g7-fvey",
      "uk-gov",
      "--file",
      mappingFile(),
      "--reason",
      "claims",
    ]);
    expect(upd.code).toBe(0);
    const r = await ask("ada");
    expect(r).toMatchObject({ status: 200, reason: "partner-country" });
    const list = await cli(["remote", "partners", "idp", "list", "g7-fvey"]);
    expect(list.out).toMatch(
      /uk-gov\s+http:\/\/127\.0\.0\.1:\d+\s+urn:clearance:gateway\s+OIDC discovery\s+attested/,
    );
    const show = await cli(["remote", "partners", "idp", "show", "g7-fvey", "uk-gov"]);
    expect(show.out).toMatch(/keys held\s+key-1/);
  });

  it("changes a provider's key source: discovery to a JWKS URL and back, its tokens accepted throughout", async () => {
    const path = "/admin/v1/partners/g7-fvey/identity-providers/uk-gov";
    const config = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
      jwks_uri: string;
    };
    const toUri = await asAdmin(t, "POST", path, { jwks_uri: config.jwks_uri, reason: "pin the key set" });
    expect(toUri.jwks_uri).toBe(config.jwks_uri);
    expect(toUri).not.toHaveProperty("discovery");
    expect(await ask("ada")).toMatchObject({ status: 200, reason: "partner-country" });
    // Two sources in one change are still refused, naming the rule.
    const both = await call(t, ADMIN_TOKEN, "POST", path, { discovery: true, jwks_uri: config.jwks_uri });
    expect(both.status).toBe(400);
    expect(JSON.stringify(both.body)).toMatch(/one key source/);
    const back = await asAdmin(t, "POST", path, {
      discovery: true,
      reason: "follow the provider's rotation",
    });
    expect(back.discovery).toBe(true);
    expect(back).not.toHaveProperty("jwks_uri");
    expect(await ask("ada")).toMatchObject({ status: 200, reason: "partner-country" });
  });

  it("lists the federated principal with its source, blocks it alone, and unblocks it", async () => {
    await t.gateway.identity.flush();
    const list = await cli(["remote", "federated", "list", "--provider", "uk-gov"]);
    expect(list.out).toMatch(/fed:uk-gov:ada\s+g7-fvey\s+GB\s+-\s+attested/);
    const show = await cli(["remote", "federated", "show", "fed:uk-gov:ada"]);
    expect(show.out).toMatch(/source\s+identity provider uk-gov \(partner g7-fvey/);
    // A token verified before the block (now in the verified-token cache) is refused too.
    const held = await idp.token("ada");
    expect(await ask("ada", held)).toMatchObject({ status: 200 });
    expect(
      (await cli(["remote", "federated", "block", "fed:uk-gov:ada", "--reason", "left the agency"])).code,
    ).toBe(0);
    expect(await ask("ada", held)).toMatchObject({ status: 401, code: "principal-blocked" });
    expect(await ask("ada")).toMatchObject({ status: 401, code: "principal-blocked" });
    expect(await ask("bea")).toMatchObject({ status: 200 });
    await cli(["remote", "federated", "unblock", "fed:uk-gov:ada", "--reason", "back"]);
    expect(await ask("ada")).toMatchObject({ status: 200 });
  });

  it("refuses the partner's tokens while the partner is suspended", async () => {
    await asAdmin(t, "POST", "/admin/v1/partners/g7-fvey/status", { status: "suspended", reason: "review" });
    expect(await ask("ada")).toMatchObject({ status: 401, code: "partner-not-active" });
    await asAdmin(t, "POST", "/admin/v1/partners/g7-fvey/status", { status: "active", reason: "cleared" });
    expect(await ask("ada")).toMatchObject({ status: 200 });
  });

  it("removes a provider: its tokens are refused from then on", async () => {
    const rm = await cli([
      "remote",
      "partners",
      "idp",
      "remove",
      "g7-fvey",
      "uk-gov",
      "--reason",
      "replaced",
    ]);
    expect(rm.code).toBe(0);
    expect(await ask("ada")).toMatchObject({ status: 401, code: "unknown-issuer" });
    const gone = await cli(["remote", "partners", "idp", "show", "g7-fvey", "uk-gov"]);
    expect(gone.code).toBe(1);
  });

  it("records every change in the audit log", async () => {
    const actions = (await adminEntries()).map((e) => `${e.action} ${e.object.id}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        "identity-provider.add uk-gov",
        "identity-provider.update uk-gov",
        "identity-provider.remove uk-gov",
        "federated-principal.block fed:uk-gov:ada",
        "federated-principal.unblock fed:uk-gov:ada",
      ]),
    );
  });
});

describe("bad configurations are refused, naming the field", () => {
  it("HS256 and none can never be configured", async () => {
    for (const alg of ["HS256", "none"]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/g7-fvey/identity-providers", {
        id: "bad",
        issuer: "https://bad.example",
        audiences: ["x"],
        algorithms: [alg],
      });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toMatch(
        /"path":"algorithms\[0\]","message":"(HS256|none) cannot be configured/,
      );
    }
  });

  it("an administrator's principal may not take a federated id (fed:…), naming the field", async () => {
    // It would be treated as a partner's person: an alert would block it instead of revoking its keys.
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/principals", {
      id: "fed:de-gov:mallory",
      citizenships: [{ country: "GB" }],
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/"path":"id","message":"[^"]*fed:/);
    expect(await t.gateway.store.principals.get("fed:de-gov:mallory")).toBeUndefined();
  });

  it("an issuer or key URL holding a control character is refused at its field, nothing stored", async () => {
    // URL parsing drops a NUL at the end, so it passed; the issuer was then every federated
    // principal's stored issuer, which PostgreSQL's text cannot hold (each write failed there).
    // Now refused as in any admin body (was the URL's own check: "expected a URL without control
    // characters").
    for (const [field, url] of [
      ["issuer", "https://nul.example/\u0000"],
      ["jwks_uri", "https://nul.example/keys\u0000"],
    ] as const) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/g7-fvey/identity-providers", {
        id: "nul",
        issuer: "https://nul.example",
        audiences: ["x"],
        [field]: url,
      });
      expect(r.status, JSON.stringify(url)).toBe(400);
      expect(r.body.error.problems).toEqual([
        expect.objectContaining({
          code: "control_character",
          path: field,
          message: expect.stringContaining(`${field} holds U+0000 (null)`) as unknown,
        }),
      ]);
    }
    expect(await t.gateway.store.records.get("identity-provider", "nul")).toBeUndefined();
  });

  it("an issuer or key URL holding a tab, a line break or surrounding whitespace is refused at its field, not stored without it", async () => {
    // z.url() trimmed the text and took out tabs and line breaks: "https://tab.exa\tmple" was
    // registered as https://tab.example, an issuer other than the one given, without a word.
    const add = (field: "issuer" | "jwks_uri", url: string) =>
      call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/g7-fvey/identity-providers", {
        id: "tab",
        issuer: "https://tab.example",
        audiences: ["x"],
        [field]: url,
      });
    for (const [field, url, char] of [
      ["issuer", "https://tab.exa\tmple", "U+0009 (tab)"],
      ["issuer", "https://tab.example/\n", "U+000A (line feed)"],
      ["jwks_uri", "https://tab.example/ke\rys", "U+000D (carriage return)"],
      ["jwks_uri", "\thttps://tab.example/keys", "U+0009 (tab)"],
    ] as const) {
      const r = await add(field, url);
      expect(r.status, JSON.stringify(url)).toBe(400);
      expect(r.body.error.problems, JSON.stringify(url)).toEqual([
        {
          code: "control_character",
          path: field,
          message: expect.stringContaining(`the URL holds ${char}`) as unknown,
        },
      ]);
    }
    for (const url of [" https://tab.example", "https://tab.example\u00a0"]) {
      const r = await add("issuer", url);
      expect(r.status, JSON.stringify(url)).toBe(400);
      // Its code as a URL that cannot be read has it (was zod's "custom").
      expect(r.body.error.problems).toEqual([
        {
          code: "invalid_url",
          path: "issuer",
          message: expect.stringContaining("whitespace") as unknown,
        },
      ]);
    }
    expect(await t.gateway.store.records.get("identity-provider", "tab")).toBeUndefined();
    // A change is checked alike: the provider keeps its key source.
    await asAdmin(
      t,
      "POST",
      "/admin/v1/partners/g7-fvey/identity-providers",
      { id: "tab", issuer: "https://tab.example", audiences: ["x"], jwks_uri: "https://tab.example/keys" },
      201,
    );
    const change = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/g7-fvey/identity-providers/tab", {
      jwks_uri: "https://tab.example/other\tkeys",
    });
    expect(change.status).toBe(400);
    expect(change.body.error.problems).toEqual([
      expect.objectContaining({ code: "control_character", path: "jwks_uri" }),
    ]);
    expect(
      (await t.gateway.store.records.get<{ jwks_uri: string }>("identity-provider", "tab"))?.document
        .jwks_uri,
    ).toBe("https://tab.example/keys");
  });

  it("one provider per issuer; an unknown partner is 404", async () => {
    const body = { id: "first", issuer: "https://same.example", audiences: ["x"] };
    await asAdmin(t, "POST", "/admin/v1/partners/g7-fvey/identity-providers", body, 201);
    const clash = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/uk-aisi/identity-providers", {
      ...body,
      id: "second",
    });
    expect(clash.status).toBe(400);
    expect(JSON.stringify(clash.body)).toMatch(/already registered as first/);
    // The same issuer written differently is the same issuer (host case, default port, a trailing /, an empty ? or #).
    for (const [i, issuer] of [
      "https://same.example/",
      "https://SAME.example",
      "https://same.example:443",
      "https://same.example/?",
      "https://same.example#",
    ].entries()) {
      const again = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/uk-aisi/identity-providers", {
        ...body,
        id: `again-${i}`,
        issuer,
      });
      expect(again.status, issuer).toBe(400);
      expect(JSON.stringify(again.body), issuer).toMatch(/"path":"issuer".*already registered as first/);
    }
    const unknown = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/nobody/identity-providers", {
      ...body,
      id: "third",
      issuer: "https://third.example",
    });
    expect(unknown.status).toBe(404);
  });

  it("the config file's bootstrap list is checked when the config is loaded", () => {
    const text = `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
identity:
  providers:
    - { partner: g7-fvey, id: x, issuer: "https://x.example", audiences: [a], algorithms: [HS256] }
`;
    expect(() => parseConfig(text, join("examples", "idp.yaml"), {})).toThrow(
      /idp\.yaml:6:\d+: identity\.providers\[0\]\.algorithms\[0\]: HS256 cannot be configured/,
    );
  });

  it("the config file's bootstrap list refuses a tab in a provider's URL, naming the field and its line", () => {
    for (const [field, value] of [
      ["issuer", '"https://x.exa\\tmple"'],
      ["jwks_uri", '"https://x.example/keys\\r\\n"'],
    ]) {
      const extra = field === "issuer" ? "" : `, jwks_uri: ${value}`;
      const issuer = field === "issuer" ? value : '"https://x.example"';
      const text = `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
identity:
  providers:
    - { partner: g7-fvey, id: x, issuer: ${issuer}, audiences: [a]${extra} }
`;
      expect(() => parseConfig(text, join("examples", "idp.yaml"), {})).toThrow(
        new RegExp(`idp\\.yaml:6:\\d+: identity\\.providers\\[0\\]\\.${field}: the URL holds U\\+000[9D] `),
      );
    }
  });

  it("the admin API's OpenAPI document describes the identity-provider routes", async () => {
    const doc = (await (await fetch(`${t.url}/admin/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/admin/v1/partners/{id}/identity-providers",
        "/admin/v1/partners/{id}/identity-providers/{provider}",
        "/admin/v1/federated-principals",
        "/admin/v1/federated-principals/{id}/block",
      ]),
    );
  });
});

function mappingFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "clearance-idp-"));
  const path = join(dir, "mapping.json");
  writeFileSync(
    path,
    JSON.stringify({ claims: { citizenships: "nationality" }, assurance: { acr: { high: "attested" } } }),
  );
  return path;
}
