/**
 * A federated flush writes what waits in parts a statement can take, and keeps what a store out of
 * reach for a moment did not take (found by a maintainer's read): a batch grown during an outage that
 * timed out whole was kept whole, for ever; a record refused alone as the store busy was set aside.
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { expect, it } from "vitest";
import { parseScheme } from "../scheme/index.js";
import { StoreError, type FederatedPrincipalRecord, type Store } from "../store/index.js";
import { TEST_SCHEME_YAML } from "../testing/schemes.js";
import { Federation } from "./federation.js";
import { providerInputSchema } from "./schema.js";

const ISSUER = "https://eid.parts.example";
const AUD = "urn:clearance:gateway";

/** A federation whose store answers `record` as told, with `people` people's first tokens noted. */
async function noted(
  people: number,
  record: (records: readonly FederatedPrincipalRecord[]) => Promise<void>,
) {
  const pair = await generateKeyPair("ES256", { extractable: true });
  const input = providerInputSchema.parse({
    id: "de-gov",
    issuer: ISSUER,
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] },
    audiences: [AUD],
    claims: { citizenships: "nationality" },
    assurance: { level: "attested" },
    max_assurance: "attested",
  });
  const snapshot = {
    federation: {
      providers: [
        {
          collection: "identity-provider",
          id: "de-gov",
          revision: 1,
          updatedAt: "2026-07-01T00:00:00Z",
          document: { ...input, partner: "g7", created_at: "", created_by: "test", removed: null },
        },
      ],
      blocked: new Map(),
    },
    scheme: parseScheme(TEST_SCHEME_YAML),
  };
  const store = {
    federated: { record, list: async () => [], get: async () => undefined },
  } as unknown as Store;
  let setAside = 0;
  const federation = new Federation({
    source: () => snapshot as never,
    store,
    maxTokenBytes: 8192,
    cooldownMs: 1,
    fetchTimeoutMs: 5000,
    allowHttpLoopback: false,
    tokenCache: 0,
    maintainMs: 60_000,
    onError: () => undefined,
    onSetAside: () => {
      setAside += 1;
    },
  });
  for (let n = 1; n <= people; n++) {
    const sub = `a${n}`;
    const iat = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ nationality: ["DE"] })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(ISSUER)
      .setAudience(AUD)
      .setSubject(sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600)
      .sign(pair.privateKey);
    await federation.authenticate(token);
  }
  return { federation, setAside: () => setAside };
}

it("a batch past the store's statement bound is written in smaller parts, not kept whole for ever", async () => {
  const written = new Set<string>();
  const calls: number[] = [];
  const { federation } = await noted(200, async (records) => {
    calls.push(records.length);
    // As the PostgreSQL store answers a statement cancelled past its bound: more than 100 take too long.
    if (records.length > 100)
      throw new StoreError("timeout", "a statement took over 101 ms; nothing was changed");
    for (const r of records) written.add(r.id);
  });
  await federation.flush();
  // Before: 200 at every flush, nothing ever written.
  expect(calls).toEqual([200, 100, 100]);
  expect(written.size).toBe(200);
});

it("a store that times out whatever is asked is tried a few times a flush, halving down to 64, all kept", async () => {
  const calls: number[] = [];
  let down = true;
  const written = new Set<string>();
  const { federation } = await noted(200, async (records) => {
    calls.push(records.length);
    if (down) throw new StoreError("timeout", "a statement took over 101 ms; nothing was changed");
    for (const r of records) written.add(r.id);
  });
  await federation.flush();
  expect(calls).toEqual([200, 100, 50]);
  down = false;
  await federation.flush();
  expect(written.size).toBe(200);
});

it("a record the store, busy a moment, did not take alone while it took others is kept, not set aside", async () => {
  const written: string[] = [];
  let a2Tries = 0;
  const { federation, setAside } = await noted(6, async (records) => {
    if (records.length > 1) throw new Error("value too long for an index row (54000)");
    if (records[0]!.subject === "a2" && ++a2Tries === 1)
      throw new StoreError("busy", "the store is busy; nothing was changed, try again");
    written.push(...records.map((r) => r.id));
  });
  await federation.flush();
  await federation.flush();
  // Before: set aside as refused on its own, not tried again until its person's next token.
  expect(written).toContain("fed:de-gov:a2");
  expect(setAside()).toBe(0);
});
