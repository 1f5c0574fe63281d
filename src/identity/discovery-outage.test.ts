/**
 * A partner's discovery endpoint down while its key set answers, with a real OpenID provider
 * (oidc-provider on loopback, registered by its issuer: keys by discovery): a key it rotates
 * meanwhile is fetched at the jwks_uri its discovery document last named, and its tokens accepted.
 * The staleness bound on that URL is `src/identity/discovery.test.ts`'s (the test's clock).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { keysFetched } from "../testing/key-sets.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";

let idp: TestIdp;
let gw: TestGateway;

beforeAll(async () => {
  idp = await startTestIdp({ people: { "de-anna": { nationality: ["DE"] } } });
  gw = await startTestGateway({
    extra: `identity:
  key_fetch_cooldown_ms: 1
  providers:
    - { partner: g7-fvey, id: de-gov, issuer: "${idp.issuer}", audiences: [${AUDIENCE}], claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested }
`,
  });
  await keysFetched(gw.gateway.identity.keySet("de-gov"), "de-gov");
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await idp?.close();
});

describe("a partner's discovery endpoint down", () => {
  it("does not stop a rotated key from being fetched at the key set's URL, nor its tokens", async () => {
    const auth = (token: string) =>
      gw.gateway.identity.authenticate(token).then(
        (c) => c.principal.id,
        (err: { code?: string }) => err.code,
      );
    expect(await auth(await idp.token("de-anna"))).toBe("fed:de-gov:de-anna");
    idp.discoveryDown = true;
    try {
      const kid = await idp.rotate();
      const before = idp.jwksRequests;
      // Before the fix: the fetch stopped at the discovery document's 503, the new kid was never
      // fetched, and the token was refused as unknown-signing-key.
      expect(await auth(await idp.token("de-anna"))).toBe("fed:de-gov:de-anna");
      const keys = gw.gateway.identity.keySet("de-gov")!;
      expect(idp.jwksRequests).toBeGreaterThan(before);
      expect(keys.kids).toContain(kid);
      expect(keys.lastError).toMatch(/discovery document cannot be read .*503/);
    } finally {
      idp.discoveryDown = false;
    }
  });
});
