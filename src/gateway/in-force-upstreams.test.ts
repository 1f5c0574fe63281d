/**
 * The version in force meets this node's upstreams wherever the node installs it, not only when a
 * scheme file is loaded or a version activated here: a version activated through the admin API (or
 * on another node, or before the config changed) that these upstreams could not serve as decided —
 * an open model answered by a controlled model's upstream model — refuses start-up, naming both
 * models, and on a reload is not taken (the policy before stays, the reload said failed).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activateVersion, addVersion } from "../control/seed.js";
import { call } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
/** The example with a controlled model the default provider serves under its own name. */
const WITH_FRONTIER = EXAMPLE.replace(
  "  fable-4: { control: open }\n",
  "  fable-4: { control: open }\n  frontier-x: { control: controlled }\n",
);
/** The operator's later route: the open fable-4 answered by the upstream model frontier-x. */
const FABLE_ON_FRONTIER =
  "  mythos-5: { provider: demo }\n  fable-4: { provider: demo, upstream_model: frontier-x }";
const SHARED =
  /fable-4 \(open\) and frontier-x \(controlled\) are both routed to provider demo as frontier-x: a request for fable-4 would be answered by frontier-x's upstream model without frontier-x's checks/;

describe("a version activated through the admin API, then a config routing an open model to its upstream model", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-in-force-"));

  beforeAll(async () => {
    expect(WITH_FRONTIER).not.toBe(EXAMPLE);
    const t = await startTestGateway({ dataDir });
    try {
      const up = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml: WITH_FRONTIER });
      expect(up.status).toBe(201);
      const r = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${up.body.version}/activate`, {
        reason: "frontier-x",
      });
      expect(r.status).toBe(200);
    } finally {
      await t.gateway.close();
    }
  });

  it("refuses start-up, naming both models and the version in force", async () => {
    const started = startTestGateway({ dataDir, models: FABLE_ON_FRONTIER });
    await expect(started).rejects.toThrow(SHARED);
    await expect(started).rejects.toMatchObject({
      name: "SetupError",
      message: expect.stringMatching(
        /^scheme version 2, in force in the store, cannot be served with this config's upstreams: /,
      ) as unknown,
    });
  });

  it("starts as before with the config that served it, the version still in force", async () => {
    const t = await startTestGateway({ dataDir });
    try {
      expect(t.gateway.snapshot.current.control.active.document.version).toBe(2);
      expect(t.gateway.snapshot.current.control.scheme.models.has("frontier-x")).toBe(true);
    } finally {
      await t.gateway.close();
    }
  });
});

describe("such a version activated on another node while this one runs", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ models: FABLE_ON_FRONTIER });
  });
  afterAll(() => t.gateway.close());

  it("is not taken: the policy before stays, the reload is said failed, naming both models", async () => {
    const before = t.gateway.snapshot.current.control;
    expect(before.scheme.models.has("frontier-x")).toBe(false);
    // Another node, whose config routes fable-4 elsewhere, activated it (its own check passed).
    const store = t.gateway.store;
    const now = new Date().toISOString();
    const { version } = await addVersion(store, WITH_FRONTIER, "admin-elsewhere", now);
    await activateVersion(store, version, "admin-elsewhere", now);
    await t.gateway.snapshot.refresh();
    const after = t.gateway.snapshot.current.control;
    expect(after.scheme.models.has("frontier-x")).toBe(false);
    expect(after.scheme.digest).toBe(before.scheme.digest);
    expect(after.reloadFailure).toMatch(SHARED);
    expect(t.gateway.snapshot.lastFailure?.code).toBe("policy_not_loaded");
    // frontier-x is not a model here: nobody is served it, through fable-4 or by name.
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.keys.get("alice")!}`,
        "content-type": "application/json",
        "x-test-country": "US",
      },
      body: JSON.stringify({ model: "frontier-x", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("x-clearance-reason")).toBe("unknown-model");
  });
});
