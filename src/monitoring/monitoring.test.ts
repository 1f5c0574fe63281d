/**
 * Metrics and the access log, against a running gateway: /metrics behind an admin token, accepted
 * by `promtool check metrics` and scraped by a real Prometheus when installed; one access line per
 * request, with no secret or prompt in it; metrics on a listener of their own.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
const lines: string[] = [];
const PROMPT = "the secret recipe for the launch codes";

const chat = (key: string | null, model: string, country: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-test-country": country,
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: PROMPT }] }),
  });

const scrape = (token: string | null, url = `${t.url}/metrics`) =>
  fetch(url, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  t = await startTestGateway({ accessLog: (l) => lines.push(l) });
});
afterAll(() => t.gateway.close());

const ids: string[] = [];
describe("metrics and access log", () => {
  beforeAll(async () => {
    const alice = t.keys.get("alice") as string;
    for (const r of [
      await chat(alice, "mythos-5", "US"), // allow
      await chat(alice, "mythos-5", "IR"), // embargoed-location
      await chat(alice, "no-such-model-xyz", "US"), // unknown-model, a made-up label
      await chat(null, "mythos-5", "US"), // no key
      await chat(`${alice}x`, "mythos-5", "US"), // wrong key
      await chat(t.keys.get("devi") as string, "mythos-5", "IN", { traceparent: "garbage" }),
    ]) {
      ids.push(r.headers.get("x-clearance-request-id") as string);
      await r.text();
    }
  });

  it("asks for an admin token on the gateway's listener", async () => {
    const none = await scrape(null);
    expect([none.status, ((await none.json()) as { error: { code: string } }).error.code]).toEqual([
      401,
      "invalid_admin_token",
    ]);
    const wrong = await scrape("not-a-token");
    expect(wrong.status).toBe(401);
    await wrong.text();
    const ok = await scrape(ADMIN_TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    await ok.text();
  });

  it("shows every organization's figures only to a reader of the whole control plane", async () => {
    const status = async (roles: string[], organization?: string) => {
      const token = await createIdentity(t, `metrics-${roles.join("-")}`, roles, organization);
      const r = await scrape(token);
      await r.text();
      return r.status;
    };
    // An applicant reads its own organization's licenses; /metrics names every organization's.
    expect(await status(["applicant"], "bw-cyber")).toBe(403);
    expect(await status(["partner"], "bw-cyber")).toBe(403);
    expect(await status(["reviewer"])).toBe(403);
    expect(await status(["viewer"])).toBe(200);
    expect(await status(["applicant", "compliance-officer"], "bw-cyber")).toBe(200);
  });

  it("counts decisions by outcome, reason, model and location, with bounded labels", async () => {
    const text = await (await scrape(ADMIN_TOKEN)).text();
    expect(text).toMatch(
      /clearance_decisions_total\{decision="allow",reason="home-person",model="mythos-5",served_model="mythos-5",action="infer"\} 1/,
    );
    expect(text).toMatch(/clearance_decisions_total\{decision="deny",reason="embargoed-location",[^}]*\} 1/);
    expect(text).toMatch(/clearance_decisions_by_location_total\{decision="deny",country="IR"\} 1/);
    // A model name the client made up is never a label of its own.
    expect(text).not.toContain("no-such-model-xyz");
    expect(text).toMatch(/clearance_decisions_total\{decision="deny",reason="unknown-model",model="other"/);
    expect(text).toMatch(/clearance_http_requests_total\{route="chat.completions",code="401"\} 2/);
    expect(text).toMatch(
      /gen_ai_client_token_usage_sum\{[^}]*gen_ai_request_model="mythos-5",gen_ai_token_type="output"\} [1-9]/,
    );
    expect(text).toMatch(/clearance_gateway_overhead_seconds_count\{decision="allow"\} 1/);
    expect(text).toMatch(/clearance_upstream_latency_seconds_count\{served_model="mythos-5"\} 1/);
    expect(text).toMatch(/gen_ai_client_token_usage_bucket\{[^}]*gen_ai_token_type="input"/);
    expect(text).toMatch(/clearance_audit_append_seconds_count [1-9]/);
    expect(text).toMatch(/clearance_audit_log_entries [1-9]/);
    expect(text).toMatch(/clearance_snapshot_age_seconds \d/);
    expect(text).toMatch(/clearance_license_quota_limit_tokens\{license="BIS-2026-0001",period="\w+"\} \d+/);
    // Read in the same scrape as the limit (prom-client reads every metric at once): it has a sample.
    expect(text).toMatch(/clearance_license_quota_used_tokens\{license="BIS-2026-0001",period="\w+"\} \d+/);
    expect(text).toMatch(/clearance_screening_queue_length 0/);
    expect(text).toMatch(/clearance_counters_unavailable 0/);
    // No principal, organization or key as a label.
    for (const secretish of [
      "alice",
      "devi",
      "frontier-lab",
      ...[...t.keys.values()].map((k) => k.split("_")[1]),
    ]) {
      expect(text).not.toContain(`"${secretish}"`);
    }
  });

  it("writes one access line per request, with its id, decision, reason and timings", () => {
    const gateway = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => ids.includes(l.request_id as string));
    expect(gateway).toHaveLength(ids.length);
    const allow = gateway.find((l) => l.request_id === ids[0]) as {
      ms_total: number;
      ms_upstream: number;
      output_tokens: number;
      audit_index: unknown;
      key: string;
    };
    expect(allow).toMatchObject({
      msg: "request",
      status: 200,
      decision: "allow",
      reason: "home-person",
      model: "mythos-5",
      principal: "alice",
      location: "US",
    });
    expect(allow.ms_total).toBeGreaterThan(0);
    expect(allow.ms_upstream).toBeGreaterThanOrEqual(0);
    expect(allow.output_tokens).toBeGreaterThan(0);
    expect(typeof allow.audit_index).toBe("number");
    expect(allow.key).toBe((t.keys.get("alice") as string).split("_")[1]);
    expect(gateway.find((l) => l.request_id === ids[3])).toMatchObject({
      status: 401,
      decision: "none",
      reason: "missing_api_key",
    });
  });

  it("never logs keys, tokens or prompts", async () => {
    await (await scrape(ADMIN_TOKEN)).text();
    const all = lines.join("\n");
    for (const key of t.keys.values()) {
      expect(all).not.toContain(key);
      expect(all).not.toContain(key.split("_").slice(2).join("_")); // the secret part alone
    }
    expect(all).not.toContain(ADMIN_TOKEN);
    expect(all).not.toContain(PROMPT);
    expect(all).not.toMatch(/bearer/i);
  });

  it("times a streamed answer's first chunk, in the access log and the first-token histogram", async () => {
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-test-country": "US",
        authorization: `Bearer ${t.keys.get("alice") as string}`,
      },
      body: JSON.stringify({ model: "mythos-5", stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(r.status).toBe(200);
    await r.text();
    const id = r.headers.get("x-clearance-request-id");
    const line = await eventually(
      async () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === id),
      (l) => l !== undefined,
    );
    expect(line?.ms_first_chunk).toEqual(expect.any(Number));
    expect(line?.ms_first_chunk as number).toBeLessThanOrEqual(line?.ms_total as number);
    const text = await (await scrape(ADMIN_TOKEN)).text();
    expect(text).toMatch(
      /gen_ai_server_time_to_first_token_seconds_count\{gen_ai_operation_name="chat",gen_ai_request_model="mythos-5"\} 1/,
    );
  });

  const promtool = spawnSync("promtool", ["--version"]).status === 0;
  it.skipIf(!promtool)(
    "is accepted by promtool check metrics (skipped: promtool not installed)",
    async () => {
      const text = await (await scrape(ADMIN_TOKEN)).text();
      const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(r.stderr + r.stdout).toBe("");
      expect(r.status).toBe(0);
    },
  );

  const prometheus = spawnSync("prometheus", ["--version"]).status === 0;
  it.skipIf(!prometheus)(
    "is scraped by a real Prometheus (skipped: prometheus not installed)",
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "clearance-prom-"));
      const target = new URL(t.url).host;
      writeFileSync(
        join(dir, "prometheus.yml"),
        `global: { scrape_interval: 1s }
scrape_configs:
  - job_name: clearance
    authorization: { credentials: ${ADMIN_TOKEN} }
    static_configs: [{ targets: ["${target}"] }]
`,
      );
      const port = await freePort();
      const child = spawn(
        "prometheus",
        [
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: "ignore" },
      );
      try {
        const query = async (q: string) => {
          const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
          return ((await r.json()) as { data: { result: { value: [number, string] }[] } }).data.result;
        };
        // Once Prometheus is up and has scraped the gateway (its scrape interval is set in its config).
        const result = await eventually(
          () =>
            query('clearance_decisions_total{reason="embargoed-location"}').catch(
              (): { value: [number, string] }[] => [],
            ),
          (r) => r.length > 0,
        );
        expect(result[0]?.value[1]).toBe("1");
        expect((await query('up{job="clearance"}'))[0]?.value[1]).toBe("1");
      } finally {
        // Its keep-alive connection to the gateway closes with it.
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  );
});

describe("metrics on a listener of their own", () => {
  it("serves /metrics there without a token, and not on the gateway's listener", async () => {
    const own = await startTestGateway({
      monitoring: "{ metrics: { listen: { host: 127.0.0.1, port: 0 } }, access_log: { enabled: false } }",
    });
    try {
      const url = own.gateway.monitoring.metricsUrl as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const r = await fetch(url);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("clearance_http_requests_total");
      expect((await fetch(`${own.url}/metrics`)).status).not.toBe(200);
    } finally {
      await own.gateway.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
