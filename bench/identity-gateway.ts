/**
 * Clearance under test in `npm run bench:identity`, in its own process: the example scheme, one
 * `openai` provider pointing at the mock upstream, a fresh SQLite data dir holding `anna` (a German
 * citizen, attested, with an API key) and the G7 partner's identity provider (inline keys, from the
 * config's bootstrap list). Both ways in reach the same decision (partner-country).
 *
 * argv[2]: the mock's base URL; argv[3]: identity.token_cache. Sends `{ port, key, tokens }` over IPC.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseConfig } from "../src/config/index.js";
import { startGateway } from "../src/gateway/server.js";
import { openStore } from "../src/store/index.js";
import { repoRoot } from "./gateway-procs.js";
import { ALGS, partnerKeys } from "./identity-keys.js";

async function main(): Promise<void> {
  const [baseUrl, cache = "10000"] = process.argv.slice(2);
  if (baseUrl === undefined) throw new Error("usage: identity-gateway <upstream base URL> [token_cache]");
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-bench-identity-"));
  const store = await openStore({ dataDir });
  await store.principals.put({ id: "anna", citizenships: [{ country: "DE" }], assurance: "attested" });
  const { key } = await store.keys.create("anna", "bench");
  const partner = await partnerKeys();
  const text = `scheme: ${JSON.stringify(resolve(repoRoot(), "examples", "g7-trusted-partners.yaml"))}
data_dir: ${JSON.stringify(dataDir)}
listen: { host: 127.0.0.1, port: 0 }
providers:
  mock: { type: openai, base_url: ${JSON.stringify(baseUrl)} }
default_provider: mock
location: { header: x-demo-country, trusted_proxies: [127.0.0.1/32] }
identity:
  token_cache: ${Number(cache)}
  allow_http_loopback: true # the bench's partner IdP listens on loopback
  providers:
    - ${JSON.stringify({ partner: "g7-fvey", ...partner.provider })}
`;
  const configPath = join(dataDir, "clearance.yaml");
  writeFileSync(configPath, text);
  const gateway = await startGateway(parseConfig(text, configPath, {}), {
    dataDir,
    store,
    port: 0,
    log: (line) => {
      if (!/AbortError/.test(line)) process.stderr.write(`${line}\n`);
    },
  });
  const tokens = Object.fromEntries(
    await Promise.all(ALGS.map(async (alg) => [alg, await partner.sign(alg, `anna-${alg}`)] as const)),
  );
  const stop = async () => {
    await gateway.close().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("disconnect", () => void stop());
  process.send?.({ port: (gateway.server.address() as AddressInfo).port, key, tokens });
}

main().catch((err: unknown) => {
  process.stderr.write(`identity-gateway: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
