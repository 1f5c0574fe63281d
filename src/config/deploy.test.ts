/**
 * The deployment files ship configs no container here runs: each must at least be a valid
 * clearance.yaml (with its scheme), given the environment the manifests provide.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "./index.js";

const ENV = {
  DATABASE_URL: "postgres://clearance@postgres/clearance",
  REDIS_URL: "redis://redis:6379",
  CLEARANCE_AUDIT_KEY: "set",
  CLEARANCE_ADMIN_TOKEN: "an-admin-token-of-at-least-32-characters",
  UPSTREAM_API_KEY: "set",
};

describe("deployment configs", () => {
  it("deploy/clearance.yaml (compose) is valid: PostgreSQL, Redis, a shared audit key", () => {
    const c = parseConfig(
      readFileSync("deploy/clearance.yaml", "utf8"),
      join("examples", "clearance.yaml"),
      ENV,
    );
    expect(c.file).toMatchObject({
      store: { driver: "postgres" },
      counters: { driver: "redis" },
      audit: { key_env: "CLEARANCE_AUDIT_KEY" },
      listen: { host: "0.0.0.0" },
      // Two nodes: each node's detectors see the whole fleet's traffic.
      monitoring: { alerts: { enabled: true, shared: "redis" } },
    });
    expectNoBelievedHeader(c.file.location);
  });

  it("the Kubernetes ConfigMap's clearance.yaml and scheme are valid, and its Secret provides every variable they name", () => {
    const docs = parseAllDocuments(readFileSync("deploy/kubernetes/gateway.yaml", "utf8")).map(
      (d) => d.toJS() as { kind: string; data?: Record<string, string>; stringData?: Record<string, string> },
    );
    const data = docs.find((d) => d.kind === "ConfigMap")?.data ?? {};
    const secret = docs.find((d) => d.kind === "Secret")?.stringData ?? {};
    const dir = mkdtempSync(join(tmpdir(), "clearance-k8s-"));
    for (const [name, text] of Object.entries(data)) writeFileSync(join(dir, name), text);
    // The Secret's placeholder token is too short to start with: it must be replaced.
    expect(() => parseConfig(data["clearance.yaml"] ?? "", join(dir, "clearance.yaml"), secret)).toThrow(
      /CLEARANCE_ADMIN_TOKEN holds 9 characters/,
    );
    const c = parseConfig(data["clearance.yaml"] ?? "", join(dir, "clearance.yaml"), {
      ...secret,
      CLEARANCE_ADMIN_TOKEN: ENV.CLEARANCE_ADMIN_TOKEN,
    });
    expect(c.file).toMatchObject({
      store: { driver: "postgres" },
      counters: { driver: "redis" },
      monitoring: { alerts: { enabled: true, shared: "redis" } },
    });
    expectNoBelievedHeader(c.file.location);
    expect(c.auditKey).not.toBeNull();
    // Its in-cluster model server is plain http: accepted, and said at start (src/config/plain-http.test.ts).
    expect(c.warnings).toEqual([
      expect.stringContaining(
        "provider upstream sends its API key (UPSTREAM_API_KEY) over plain http to vllm.models.svc:8000",
      ),
    ]);
  });
});

/**
 * Nothing in the shipped deployments sets a country header: none is believed, from anyone. (A
 * header trusted from whole private ranges let any peer there claim a country.)
 */
function expectNoBelievedHeader(location: { header?: string; trusted_proxies: readonly string[] }): void {
  expect(location.header).toBeUndefined();
  expect(location.trusted_proxies).toEqual([]);
}
