/**
 * The gateway the hardening suites attack: the example scheme and principals, a mock upstream on a
 * real socket for every model (OpenAI and Anthropic providers, with an upstream API key), locations
 * from a MaxMind database built here and a CDN country header believed only from 127.0.0.2 (the
 * "trusted proxy"), short request timeouts (so slow clients are cut off quickly), a small body limit,
 * and every log line kept for the secret oracle.
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeCountryMmdb } from "../location/mmdb-writer.js";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import { parsePrincipal, type Principal } from "../policy/index.js";
import { readdirSync } from "node:fs";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { startMockUpstream, type MockUpstream } from "./upstream.js";

export const TRUSTED_PROXY = "127.0.0.2";
export const UNTRUSTED_PEER = "127.0.0.1";
export const COUNTRY_HEADER = "cf-ipcountry";
export const BODY_LIMIT = 64 * 1024;
export const UPSTREAM_KEY = "sk-upstream-4f1c9a0e7b2d4c55a1e0";

/** Addresses a forwarded-for chain may name, and their country in the test database. */
export const ADDRESS_COUNTRY: Readonly<Record<string, string>> = {
  "127.0.0.1": "IN", // the untrusted loopback peer: not a partner country, so a spoofed header would matter
  "127.0.0.2": "IN",
  "203.0.113.7": "IR",
  "198.51.100.4": "US",
  "192.0.2.9": "FR",
  "100.64.0.5": "GB",
};

/** Model → provider and upstream name, as configured below (the differential oracle reads it). */
export const ROUTES: Readonly<Record<string, { provider: "up" | "upa"; upstream: string }>> = {
  "mythos-5": { provider: "up", upstream: "mythos-5-instruct" },
  "mythos-4": { provider: "up", upstream: "mythos-4" },
  "eu-mythos-5": { provider: "up", upstream: "eu-mythos-5" },
  "mythos-5-weights": { provider: "up", upstream: "mythos-5-weights" },
  "fable-5": { provider: "upa", upstream: "fable-5-upstream" },
  "fable-4": { provider: "upa", upstream: "fable-4" },
};

export interface Target {
  readonly t: TestGateway;
  readonly upstream: MockUpstream;
  readonly host: string;
  readonly port: number;
  readonly scheme: CompiledScheme;
  readonly principals: ReadonlyMap<string, Principal>;
  /** API key → principal id, for every live key. */
  readonly keyOwner: ReadonlyMap<string, string>;
  /** A key that was revoked (must never authenticate). */
  readonly revokedKey: string;
  /** Tokens of admin identities by role, besides the bootstrap token. */
  readonly tokens: Readonly<Record<string, string>>;
  /** Every secret that must never appear in an answer or a log line. */
  readonly secrets: readonly string[];
  readonly logLines: string[];
  /** The console build served at /console/ (see consoleBuild). */
  readonly console: ConsoleBuild;
  close(): Promise<void>;
}

/**
 * A console build made here: index.html and two hashed assets, a symbolic link inside the build
 * pointing at a file beside it, and that file, whose text must never be served.
 */
export interface ConsoleBuild {
  readonly dir: string;
  /** The content of every file inside the build: the only bodies a 200 may carry. */
  readonly files: readonly Buffer[];
  readonly asset: string;
  readonly escape: string;
  readonly outside: string;
  /** Text of the file outside the build. */
  readonly marker: string;
}

function consoleBuild(root: string): ConsoleBuild {
  const dir = join(root, "console");
  mkdirSync(join(dir, "assets"), { recursive: true });
  const marker = `OUTSIDE-THE-CONSOLE-BUILD-${process.pid}-${Date.now()}`;
  writeFileSync(join(root, "outside.txt"), marker);
  const files = {
    "index.html": `<!doctype html><html><head><script type="module" src="/console/assets/app-3f2a1b.js"></script></head><body><div id="root"></div></body></html>`,
    "assets/app-3f2a1b.js": `console.log("the console");`,
    "assets/style-9c8d7e.css": `body { margin: 0 }`,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  symlinkSync(join(root, "outside.txt"), join(dir, "assets", "escape.js"));
  return {
    dir,
    files: Object.values(files).map((t) => Buffer.from(t)),
    asset: "assets/app-3f2a1b.js",
    escape: "assets/escape.js",
    outside: "../outside.txt",
    marker,
  };
}

export async function startTarget(): Promise<Target> {
  const upstream = await startMockUpstream();
  const dir = mkdtempSync(join(tmpdir(), "clearance-hardening-"));
  const mmdb = join(dir, "country.mmdb");
  await writeCountryMmdb(
    mmdb,
    Object.entries(ADDRESS_COUNTRY).map(([ip, country]) => ({ cidr: `${ip}/32`, country })),
    { ipVersion: 6 },
  );
  const logLines: string[] = [];
  const build = consoleBuild(dir);
  const models = Object.entries(ROUTES)
    .map(([m, r]) => `  ${m}: { provider: ${r.provider}, upstream_model: ${r.upstream} }`)
    .join("\n");
  const t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "${upstream.url}/v1", api_key_env: UPSTREAM_KEY, timeouts: { connect_ms: 1000, first_byte_ms: 15000, idle_ms: 15000 } }
  upa: { type: anthropic, base_url: "${upstream.url}", api_key_env: UPSTREAM_KEY, timeouts: { connect_ms: 1000, first_byte_ms: 15000, idle_ms: 15000 } }`,
    models,
    location: `{ mmdb: ${JSON.stringify(mmdb)}, header: ${COUNTRY_HEADER}, trusted_proxies: ["${TRUSTED_PROXY}/32"] }`,
    listen: "{ host: 127.0.0.1, port: 0, headers_timeout_ms: 1000, request_timeout_ms: 2000 }",
    extra: `limits: { body_bytes: ${BODY_LIMIT} }`,
    env: { UPSTREAM_KEY },
    log: (line) => logLines.push(line),
    consoleDir: build.dir,
  });
  const url = new URL(t.url);
  const post = (path: string, body: unknown) =>
    fetch(`${t.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(async (r) => (await r.json()) as Record<string, string>);
  const revoked = await post("/admin/v1/keys", { principal: "alice" });
  await post(`/admin/v1/keys/${revoked.id}/revoke`, {});
  const tokens: Record<string, string> = {};
  for (const role of ["viewer", "compliance-officer", "approver", "admin"]) {
    tokens[role] = (await post("/admin/v1/identities", { id: `h-${role}`, name: role, roles: [role] }))
      .token as string;
  }
  tokens.applicant = (
    await post("/admin/v1/identities", {
      id: "h-applicant",
      name: "applicant",
      roles: ["applicant"],
      organization: "bw-cyber",
    })
  ).token as string;

  const principals = new Map<string, Principal>();
  for (const file of readdirSync("examples/principals").filter((f) => f.endsWith(".json"))) {
    const p = parsePrincipal(JSON.parse(readFileSync(join("examples/principals", file), "utf8")));
    principals.set(p.id, p);
  }
  const keyOwner = new Map([...t.keys].map(([id, key]) => [key, id]));
  const auditKey = readFileSync(join(t.dataDir, "audit.key"), "utf8").trim();
  const secrets = [
    ADMIN_TOKEN,
    UPSTREAM_KEY,
    auditKey,
    // PRIVATE+KEY+<name>+<key id>+<base64 key>: the key itself, whose base64 may hold "+" too
    // (split on the last "+" alone, a key ending in "+" made the empty string a "secret").
    auditKey.split("+").slice(4).join("+"),
    revoked.key as string,
    ...t.keys.values(),
    ...Object.values(tokens),
  ];
  return {
    t,
    upstream,
    host: url.hostname,
    port: Number(url.port),
    scheme: parseScheme(
      readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
      "g7-trusted-partners.yaml",
    ),
    principals,
    keyOwner,
    revokedKey: revoked.key as string,
    tokens,
    secrets,
    logLines,
    console: build,
    async close() {
      await t.gateway.close();
      await upstream.close();
    },
  };
}
