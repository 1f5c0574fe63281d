/**
 * A partner's federated principal is screened in memory on its first token on every node, not only
 * on the one node running the background pass (`screening.background: false` is the README's advice
 * for all the others): each node keeps the active lists in memory, loaded before it serves.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { importInput } from "./lists.js";
import { finishRescreens } from "./rescreen.js";
import type { ListEntry } from "./types.js";

const ISSUER = "https://login.de.example";
const AUD = "urn:clearance:gateway";
let gw: TestGateway;
let key: CryptoKey;

const salek: ListEntry = {
  id: "sdn-1",
  type: "person",
  names: [{ name: "SALEK, Abdulhai", strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
};

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const pub = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  gw = await startTestGateway({
    // Imported by the CLI (or through another node) before this node started.
    seed: async (s) => {
      const parsed = { list: "sdn", format: "ofac-csv" as const, published: null, digest: "v1" };
      await s.screening.importList(importInput({ ...parsed, files: ["sdn.csv"], entries: [salek] }), "ops");
      await finishRescreens(s, "ops", { force: true });
    },
    extra: `screening: { background: false }
identity:
  providers:
    - { partner: g7-fvey, id: de-login, issuer: "${ISSUER}", jwks: { keys: [${JSON.stringify(pub)}] }, audiences: [${AUD}], claims: { citizenships: nationality, display_name: name }, assurance: { level: attested }, max_assurance: attested }
`,
  });
}, 30_000);
afterAll(() => gw?.gateway.close());

const token = (sub: string, name: string) =>
  new SignJWT({ nationality: ["DE"], name })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setAudience(AUD)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key);

/** A call for mythos-5 (controlled): the decision's reason and the model served. */
async function chat(jwt: string): Promise<{ reason: string | null; served: string | null }> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  await res.text();
  return {
    reason: res.headers.get("x-clearance-reason"),
    served: res.headers.get("x-clearance-served-model"),
  };
}

it("withholds a listed name's first request on a node without the background pass", async () => {
  // Before the fix: mythos-5 served — this node never loaded the lists, so no token was screened.
  const listed = await chat(await token("abdulhai", "Abdulhai Salek"));
  expect(listed.reason).toBe("screening-review");
  expect(listed.served).not.toBe("mythos-5");
  expect(await chat(await token("jane", "Jane Smith"))).toMatchObject({ served: "mythos-5" });
});
