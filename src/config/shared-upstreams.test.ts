/**
 * Two scheme models routed to one upstream model: a request is decided for the model it names and
 * answered by that model's upstream, so an open model routed to a controlled model's upstream (a
 * copied `upstream_model`) served the controlled model to anyone, on the open model's allow.
 * Refused when the config is loaded, at the laxer model's route, and when a scheme version making
 * such models differ in control is activated.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../testing/admin.js";
import { refusedWith } from "../testing/config.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { parseConfig } from "./index.js";

const HEAD = `scheme: g7-trusted-partners.yaml
providers:
  demo: { type: demo }
  up: { type: openai, base_url: "http://127.0.0.1:9/v1" }
default_provider: demo
models:
`;
const parse = (models: string) => parseConfig(HEAD + models, join("examples", "test.yaml"), {});

describe("two scheme models routed to one upstream model", () => {
  it("is refused when an open model would be answered by a controlled model's upstream", () => {
    const found = refusedWith(() =>
      parse(
        "  mythos-5: { provider: up, upstream_model: mythos-5-instruct }\n" +
          "  mythos-4: { provider: up, upstream_model: mythos-5-instruct }\n",
      ),
    );
    expect(found).toEqual([
      expect.objectContaining({
        code: "shared_upstream_model",
        path: ["models", "mythos-4", "upstream_model"],
        line: 8,
        message: expect.stringMatching(
          /mythos-4 \(open\) and mythos-5 \(controlled\) are both routed to provider up as mythos-5-instruct: a request for mythos-4 would be answered by mythos-5's upstream model without mythos-5's checks/,
        ) as unknown,
      }),
    ]);
  });

  it("is refused through an upstream_model naming a model the default provider serves under its own name", () => {
    const found = refusedWith(() =>
      parseConfig(
        HEAD.replace("default_provider: demo", "default_provider: up") +
          "  fable-4: { provider: up, upstream_model: mythos-5-weights }\n",
        join("examples", "test.yaml"),
        {},
      ),
    );
    expect(found.map((p) => [p.code, p.path.join("."), p.message.split(":")[1]?.trim()])).toEqual([
      [
        "shared_upstream_model",
        "models.fable-4.upstream_model",
        "fable-4 (open) and mythos-5-weights (home-only) are both routed to provider up as mythos-5-weights",
      ],
    ]);
  });

  it.each([
    ["the same base_url", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"],
    ["a trailing slash", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/"],
    ["the host's case and the default port", "https://api.example.com/v1", "HTTPS://API.Example.com:443/v1"],
  ])("is refused through two provider names for one upstream (%s)", (_, a, b) => {
    const found = refusedWith(() =>
      parseConfig(
        `scheme: g7-trusted-partners.yaml
providers:
  demo: { type: demo }
  vllm: { type: openai, base_url: "${a}" }
  vllm-open: { type: openai, base_url: "${b}" }
default_provider: demo
models:
  mythos-5: { provider: vllm, upstream_model: frontier }
  mythos-4: { provider: vllm-open, upstream_model: frontier }
`,
        join("examples", "test.yaml"),
        {},
      ),
    );
    expect(found).toEqual([
      expect.objectContaining({
        code: "shared_upstream_model",
        path: ["models", "mythos-4", "upstream_model"],
        line: 9,
        message: expect.stringContaining(
          "mythos-4 (open) and mythos-5 (controlled) are both routed to frontier at one upstream (providers vllm-open and vllm, ",
        ) as unknown,
      }),
    ]);
  });

  it("loads providers at different upstreams, and demo providers, sharing an upstream model name", () => {
    const config = parseConfig(
      `scheme: g7-trusted-partners.yaml
providers:
  demo: { type: demo }
  demo2: { type: demo }
  a: { type: openai, base_url: "http://127.0.0.1:9/v1" }
  b: { type: openai, base_url: "http://127.0.0.1:9/v2" }
  c: { type: openai, base_url: "http://127.0.0.1:10/v1" }
default_provider: demo
models:
  mythos-5: { provider: a, upstream_model: frontier }
  mythos-4: { provider: b, upstream_model: frontier }
  fable-4: { provider: c, upstream_model: frontier }
  fable-5: { provider: demo, upstream_model: x }
  eu-mythos-5: { provider: demo2, upstream_model: x }
`,
      join("examples", "test.yaml"),
      {},
    );
    expect(config.route("fable-4")).toEqual({ provider: "c", upstreamModel: "frontier" });
  });

  it("loads models of one control level sharing an upstream model, and models on other providers", () => {
    expect(
      parse(
        "  mythos-5: { provider: up, upstream_model: frontier }\n" +
          "  eu-mythos-5: { provider: up, upstream_model: frontier }\n" +
          "  mythos-4: { provider: demo, upstream_model: frontier }\n",
      ).route("mythos-4"),
    ).toEqual({ provider: "demo", upstreamModel: "frontier" });
  });
});

describe("activating a scheme version that changes the control of models sharing an upstream model", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      providers: `  up: { type: openai, base_url: "http://127.0.0.1:9/v1" }`,
      models:
        "  mythos-4: { provider: up, upstream_model: previous }\n  fable-4: { provider: up, upstream_model: previous }",
    });
  });
  afterAll(() => t.gateway.close());

  it("is refused with 409, naming both models; the version in force stays", async () => {
    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const yaml = example.replace("fable-4: { control: open }", "fable-4: { control: controlled }");
    expect(yaml).not.toBe(example);
    const digest = t.gateway.snapshot.current.control.scheme.digest;
    const up = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml });
    expect(up.status).toBe(201);
    const r = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${up.body.version}/activate`, {
      reason: "try it",
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("shared_upstream_model");
    expect(r.body.error.message).toMatch(
      /cannot be activated: scheme g7-trusted-partners: mythos-4 \(open\) and fable-4 \(controlled\) are both routed to provider up as previous/,
    );
    expect(t.gateway.snapshot.current.control.scheme.digest).toBe(digest);
  });
});

describe("activating such a version when the models are on two provider names for one upstream", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      providers: `  up: { type: openai, base_url: "http://127.0.0.1:9/v1" }\n  up-too: { type: openai, base_url: "http://127.0.0.1:9/v1/" }`,
      models:
        "  mythos-4: { provider: up, upstream_model: previous }\n  fable-4: { provider: up-too, upstream_model: previous }",
    });
  });
  afterAll(() => t.gateway.close());

  it("is refused with 409, naming both providers and the upstream", async () => {
    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const yaml = example.replace("fable-4: { control: open }", "fable-4: { control: controlled }");
    const up = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml });
    expect(up.status).toBe(201);
    const r = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${up.body.version}/activate`, {
      reason: "try it",
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("shared_upstream_model");
    expect(r.body.error.message).toContain(
      "mythos-4 (open) and fable-4 (controlled) are both routed to previous at one upstream (providers up and up-too, http://127.0.0.1:9/v1)",
    );
  });
});
