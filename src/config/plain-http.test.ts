/**
 * A provider sending its API key over plain http to a host other than loopback: still accepted (a
 * model server inside the cluster, as deploy/kubernetes has), but the config says so as a warning
 * naming the provider and host, and the gateway logs it once at start. Loopback, https, and plain
 * http without a key are silent.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startTestGateway } from "../testing/gateway.js";
import { parseConfig } from "./index.js";

const ENV = { UPSTREAM_KEY: "sk-test" };
const warnings = (provider: string) =>
  parseConfig(
    `scheme: g7-trusted-partners.yaml\nproviders:\n  up: ${provider}\ndefault_provider: up\n`,
    join("examples", "test.yaml"),
    ENV,
  ).warnings;

describe("plain http carrying an API key", () => {
  it.each([
    ["http://vllm.models.svc:8000/v1", "vllm.models.svc:8000"],
    ["http://10.0.3.7/v1", "10.0.3.7"],
    ["http://[fd00::7]:8000/v1", "[fd00::7]:8000"],
  ])("%s: accepted, with a warning naming the provider and host", (url, host) => {
    const found = warnings(`{ type: openai, base_url: "${url}", api_key_env: UPSTREAM_KEY }`);
    expect(found).toEqual([
      `provider up sends its API key (UPSTREAM_KEY) over plain http to ${host}, unencrypted: anyone on the network path can read it; use https unless that network is trusted (a cluster's own)`,
    ]);
  });

  it.each([
    ["http://127.0.0.1:8000/v1", "UPSTREAM_KEY"],
    ["http://localhost:8000/v1", "UPSTREAM_KEY"],
    ["http://[::1]:8000/v1", "UPSTREAM_KEY"],
    ["https://api.example.com/v1", "UPSTREAM_KEY"],
    ["http://vllm.models.svc:8000/v1", null],
  ])("%s (key %s): silent", (url, key) => {
    const keyed = key === null ? "" : `, api_key_env: ${key}`;
    expect(warnings(`{ type: anthropic, base_url: "${url}"${keyed} }`)).toEqual([]);
  });

  it("the gateway logs it once at start; the loopback provider beside it is not named", async () => {
    const lines: string[] = [];
    const t = await startTestGateway({
      providers: [
        `  cluster: { type: openai, base_url: "http://vllm.models.svc:8000/v1", api_key_env: UPSTREAM_KEY }`,
        `  local: { type: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: UPSTREAM_KEY }`,
      ].join("\n"),
      env: ENV,
      log: (line) => lines.push(line),
    });
    try {
      const said = lines.filter((l) => l.includes("plain http"));
      expect(said).toEqual([
        "clearance: warning: provider cluster sends its API key (UPSTREAM_KEY) over plain http to vllm.models.svc:8000, unencrypted: anyone on the network path can read it; use https unless that network is trusted (a cluster's own)",
      ]);
    } finally {
      await t.gateway.close();
    }
  });
});
