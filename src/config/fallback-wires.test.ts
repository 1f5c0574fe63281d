/**
 * Where the config's upstreams meet the scheme's fallbacks: a fallback routed to a provider that
 * shares no wire format with its model's could never be served (every request for the model would
 * be decided a fallback, then refused with 404 `wrong_wire_format`). Refused when the config is
 * loaded, with the route's path and line, and when a scheme version bringing one is activated.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import { call } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { parseConfig } from "./index.js";

const PROVIDERS = `providers:
  demo: { type: demo }
  upa: { type: anthropic, base_url: "http://127.0.0.1:9" }
  upo: { type: openai, base_url: "http://127.0.0.1:9/v1" }
`;

function problems(text: string, file = join("examples", "test.yaml")) {
  try {
    parseConfig(text, file, {});
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems.map((p) => ({ ...p }));
    throw err;
  }
  return [];
}

describe("a fallback whose upstream shares no wire format with its model's", () => {
  it("is refused at config load, at the model's route, naming both providers and formats", () => {
    const found = problems(`scheme: g7-trusted-partners.yaml
${PROVIDERS}default_provider: demo
models:
  mythos-5: { provider: upa }
  mythos-4: { provider: upo }
`);
    expect(found).toEqual([
      expect.objectContaining({
        code: "fallback_wire_mismatch",
        path: ["models", "mythos-5", "provider"],
        line: 8,
        message: expect.stringMatching(
          /mythos-5 falls back to mythos-4, but mythos-5 is served by provider upa \(anthropic\) and mythos-4 by provider upo \(openai\): no wire format in common/,
        ) as unknown,
      }),
    ]);
    // Sharing one format is enough: the list leaves out what a request's wire cannot reach.
    expect(
      problems(`scheme: g7-trusted-partners.yaml
${PROVIDERS}default_provider: demo
models:
  mythos-5: { provider: demo }
  mythos-4: { provider: upo }
  fable-5: { provider: upa }
`),
    ).toEqual([]);
  });

  it("names the fallback's route when the model's comes from default_provider", () => {
    const found = problems(`scheme: g7-trusted-partners.yaml
${PROVIDERS}default_provider: upa
models:
  mythos-4: { provider: upo }
`);
    // mythos-5 and eu-mythos-5 (both on the default, anthropic) fall back to mythos-4 (openai).
    expect(found.map((p) => [p.code, p.path.join(".")])).toEqual([
      ["fallback_wire_mismatch", "models.mythos-4.provider"],
      ["fallback_wire_mismatch", "models.mythos-4.provider"],
    ]);
    expect(found.map((p) => p.message.split(",")[0])).toEqual([
      "scheme g7-trusted-partners: mythos-5 falls back to mythos-4",
      "scheme g7-trusted-partners: eu-mythos-5 falls back to mythos-4",
    ]);
  });

  it("is found down a chain: a denied fallback passes the request on to the next", () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-chain-"));
    writeFileSync(
      join(dir, "chain.yaml"),
      `version: 1
name: chain
home: [US]
models:
  a: { control: controlled, fallback: b }
  b: { control: controlled, fallback: c }
  c: { control: open }
`,
    );
    // a and b share a format through the demo provider; a and c share none.
    const found = problems(
      `scheme: chain.yaml
${PROVIDERS}models:
  a: { provider: upa }
  b: { provider: demo }
  c: { provider: upo }
`,
      join(dir, "clearance.yaml"),
    );
    expect(found.map((p) => [p.code, p.path.join("."), p.message.split(",")[0]])).toEqual([
      ["fallback_wire_mismatch", "models.a.provider", "scheme chain: a falls back to c"],
    ]);
  });
});

describe("activating a scheme version with such a fallback", () => {
  let t: TestGateway;
  beforeAll(async () => {
    // The example scheme fits: mythos-5 (anthropic) falls back to mythos-4 (the demo: both formats).
    t = await startTestGateway({
      providers: `  upa: { type: anthropic, base_url: "http://127.0.0.1:9" }\n  upo: { type: openai, base_url: "http://127.0.0.1:9/v1" }`,
      models: "  mythos-5: { provider: upa }\n  fable-4: { provider: upo }",
    });
  });
  afterAll(() => t.gateway.close());

  it("is refused with 409, naming the fallback; the version in force stays", async () => {
    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const yaml = example.replace(
      'mythos-5: { control: controlled, fallback: mythos-4, description: "frontier general model" }',
      'mythos-5: { control: controlled, fallback: fable-4, description: "frontier general model" }',
    );
    expect(yaml).not.toBe(example);
    const digest = t.gateway.snapshot.current.control.scheme.digest;
    const up = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml });
    expect(up.status).toBe(201);
    const r = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${up.body.version}/activate`, {
      reason: "try it",
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("fallback_wire_mismatch");
    expect(r.body.error.message).toMatch(
      /cannot be activated: scheme g7-trusted-partners: mythos-5 falls back to fable-4, but mythos-5 is served by provider upa \(anthropic\) and fable-4 by provider upo \(openai\)/,
    );
    expect(t.gateway.snapshot.current.control.scheme.digest).toBe(digest);
  });
});
