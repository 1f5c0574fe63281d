/**
 * A change landing while a token is being verified: the partner suspended, its provider removed, the
 * person blocked between the moment the token's issuer was looked up and the moment its signature
 * checked out. The token is judged by the records in force when verification ends, and what the
 * verified-token cache keeps is never bound to records already replaced. Tokens and keys come from
 * a real OpenID provider on loopback; the records and policy are swapped between the call and its
 * answer (the signature check awaits WebCrypto, so the swap lands there, as another request's
 * snapshot refresh would).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import type { Store, StoredRecord } from "../store/index.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";
import { keysFetched } from "../testing/key-sets.js";
import { TEST_SCHEME_YAML } from "../testing/schemes.js";
import { Federation } from "./federation.js";
import type { FederationRecords } from "./records.js";
import { providerInputSchema, type PrincipalBlock, type ProviderRecord } from "./schema.js";

let idp: TestIdp;
let provider: StoredRecord<ProviderRecord>;
const active = parseScheme(TEST_SCHEME_YAML);
const suspended = parseScheme(
  TEST_SCHEME_YAML.replace(
    "{id: g7, countries: [trusted],",
    "{id: g7, status: suspended, countries: [trusted],",
  ),
);

beforeAll(async () => {
  idp = await startTestIdp({ people: { ada: { nationality: ["GB"] } } });
  const input = providerInputSchema.parse({
    id: "gb-gov",
    issuer: idp.issuer,
    audiences: [AUDIENCE],
    claims: { citizenships: "nationality" },
    assurance: { level: "attested" },
    max_assurance: "attested",
  });
  provider = {
    collection: "identity-provider",
    id: "gb-gov",
    revision: 1,
    updatedAt: "2026-07-01T00:00:00Z",
    document: { ...input, partner: "g7", created_at: "", created_by: "test", removed: null },
  };
}, 30_000);

afterAll(async () => {
  await idp?.close();
});

const records = (
  providers: StoredRecord<ProviderRecord>[],
  blocked: [string, PrincipalBlock][] = [],
): FederationRecords => ({ providers, blocked: new Map(blocked) });

/** A federation over swappable records and policy, its provider's keys fetched. */
async function swappable() {
  let current: { federation: FederationRecords; scheme: CompiledScheme } = {
    federation: records([provider]),
    scheme: active,
  };
  // Storming: the records are new each time they are read (changed under every check).
  let storming = false;
  const federation = new Federation({
    source: () => (storming ? { ...current, federation: records([provider]) } : current),
    store: { federated: { record: async () => {} } } as unknown as Store,
    maxTokenBytes: 8192,
    cooldownMs: 1,
    fetchTimeoutMs: 5000,
    allowHttpLoopback: true,
    tokenCache: 100,
    maintainMs: 60_000,
  });
  federation.maintain();
  await keysFetched(federation.keySet("gb-gov"), "gb-gov");
  const swap = (next: typeof current) => {
    current = next;
    // What any other request does first: the federation reads the snapshot in force.
    federation.keySet("gb-gov");
  };
  const storm = (on: boolean) => (storming = on);
  return { federation, swap, storm };
}

/** "accepted", or the refusal's code. */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (err: unknown) => (err as { code: string }).code,
  );

describe("a change landing while a token is verified", () => {
  it("a partner suspended meanwhile: the token is refused, now and from the cache", async () => {
    const { federation, swap } = await swappable();
    const token = await idp.token("ada");
    const verifying = outcome(federation.authenticate(token));
    swap({ federation: records([provider]), scheme: suspended });
    expect(await verifying).toBe("partner-not-active");
    expect(await outcome(federation.authenticate(token))).toBe("partner-not-active");
    // Active again: the same token is served.
    swap({ federation: records([provider]), scheme: active });
    expect(await outcome(federation.authenticate(token))).toBe("accepted");
  });

  it("a provider removed meanwhile: unknown-issuer, now and from the cache", async () => {
    const { federation, swap } = await swappable();
    const token = await idp.token("ada");
    const verifying = outcome(federation.authenticate(token));
    swap({ federation: records([]), scheme: active });
    expect(await verifying).toBe("unknown-issuer");
    expect(await outcome(federation.authenticate(token))).toBe("unknown-issuer");
  });

  it("the person blocked meanwhile: principal-blocked", async () => {
    const { federation, swap } = await swappable();
    const token = await idp.token("ada");
    const verifying = outcome(federation.authenticate(token));
    const block: PrincipalBlock = { blocked: true, reason: "left", at: "", by: "officer" };
    swap({ federation: records([provider], [["fed:gb-gov:ada", block]]), scheme: active });
    expect(await verifying).toBe("principal-blocked");
  });

  it("records replaced during every check: refused as unavailable after a few tries (was: checked again without end)", async () => {
    const { federation, storm } = await swappable();
    const token = await idp.token("ada");
    storm(true);
    expect(await outcome(federation.authenticate(token))).toBe("identity-provider-unavailable");
    storm(false);
    // Calm again: the same token is served.
    expect(await outcome(federation.authenticate(token))).toBe("accepted");
  });
});
