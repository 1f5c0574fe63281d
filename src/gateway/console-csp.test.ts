/**
 * The gateway serves the console with a connect-src that opens each sign-in provider's token
 * endpoint as its discovery document names it — on another origin than the issuer at Google and
 * Cognito — and nothing else.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin, call, eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let discovery: Server;
let issuer: string;
let tokenOrigin: string;
let reads = 0;

beforeAll(async () => {
  discovery = createServer((req, res) => {
    reads++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ issuer, token_endpoint: `${tokenOrigin}/oauth2/token` }));
  });
  await new Promise<void>((r) => discovery.listen(0, "127.0.0.1", r));
  const port = (discovery.address() as AddressInfo).port;
  issuer = `http://127.0.0.1:${port}`;
  tokenOrigin = "https://auth.aisi.example"; // another origin, as Cognito's token endpoint is
  const dir = mkdtempSync(join(tmpdir(), "clearance-console-"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>Clearance</title>");
  t = await startTestGateway({ consoleDir: dir });
  const { publicKey } = await generateKeyPair("ES256", { extractable: true });
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/uk-aisi/identity-providers",
    {
      id: "aisi-login",
      issuer,
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] },
      audiences: ["urn:clearance:gateway"],
      claims: { display_name: "name" },
      console: { client_id: "clearance-console" },
    },
    201,
  );
  await eventually(
    () => call(t, null, "GET", "/admin/v1/sign-in/providers"),
    (r) => r.body.data.length > 0,
  );
});
afterAll(async () => {
  await t?.gateway.close();
  await new Promise<void>((r) => discovery.close(() => r()));
});

describe("the console's CSP on the gateway", () => {
  it("opens the issuer's origin and its token endpoint's, read once from its discovery document", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${t.url}/console/`);
      expect(res.status).toBe(200);
      const policy = res.headers.get("content-security-policy") ?? "";
      const connect = /(?:^|;)\s*connect-src ([^;]*)/.exec(policy)?.[1]?.trim().split(/\s+/);
      expect(connect).toEqual(["'self'", issuer, tokenOrigin]);
    }
    expect(reads).toBe(1);
  });
});
