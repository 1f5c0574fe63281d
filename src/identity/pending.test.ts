/**
 * Federated principals waiting to be written while the store takes none: bounded. Beyond the bound
 * the least recently seen are dropped (counted, the first drop logged once until the store takes a
 * write again), never blocking a token; a person seen again is noted again, and what is kept is
 * written once the store takes it. The store is a real PostgreSQL one, made to refuse every
 * federated principal (a trigger), which the gateway cannot tell from one out of reach; the
 * partner's key is the test's own, inline. Skipped without PostgreSQL.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScheme } from "../scheme/index.js";
import { openStore, type Store, type StoredRecord } from "../store/index.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { TEST_SCHEME_YAML } from "../testing/schemes.js";
import { Federation } from "./federation.js";
import { providerInputSchema, type ProviderRecord } from "./schema.js";

if (skipReason !== undefined) console.warn(`src/identity/pending.test.ts: SKIPPED, ${skipReason}`);

const ISSUER = "https://eid.pending.example";
const AUD = "urn:clearance:gateway";

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? "federated principals waiting for the store"
    : `PostgreSQL: SKIPPED, ${skipReason}`,
  () => {
    let store: Store;
    let schema: string;
    let key: CryptoKey;
    let provider: StoredRecord<ProviderRecord>;

    beforeAll(async () => {
      const pair = await generateKeyPair("ES256", { extractable: true });
      key = pair.privateKey;
      const fresh = await freshSchema();
      schema = fresh.schema;
      store = await openStore({ driver: "postgres", url: fresh.url, dataDir: "" });
      const input = providerInputSchema.parse({
        id: "de-gov",
        issuer: ISSUER,
        jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] },
        audiences: [AUD],
        claims: { citizenships: "nationality" },
        assurance: { level: "attested" },
        max_assurance: "attested",
      });
      provider = {
        collection: "identity-provider",
        id: "de-gov",
        revision: 1,
        updatedAt: "2026-07-01T00:00:00Z",
        document: { ...input, partner: "g7", created_at: "", created_by: "test", removed: null },
      };
    }, 30_000);
    afterAll(async () => {
      await store?.close();
      await dropSchemas();
    });

    /** The store refuses every federated principal (on), or takes them again (off). */
    const outage = async (on: boolean) => {
      const pool = adminPool();
      await pool.query(`DROP TRIGGER IF EXISTS refuse ON ${schema}.federated_principals`);
      if (!on) return;
      await pool.query(
        `CREATE OR REPLACE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'out of reach (the test)'; END $$`,
      );
      await pool.query(
        `CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON ${schema}.federated_principals
         FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse()`,
      );
    };

    it("keeps at most maxPending, the least recently seen dropped, counted, and said once per outage", async () => {
      // One snapshot: records new at each read would be a change under every check.
      const snapshot = {
        federation: { providers: [provider], blocked: new Map() },
        scheme: parseScheme(TEST_SCHEME_YAML),
      };
      const lines: string[] = [];
      let dropped = 0;
      const federation = new Federation({
        source: () => snapshot,
        store,
        maxTokenBytes: 8192,
        cooldownMs: 1,
        fetchTimeoutMs: 5000,
        allowHttpLoopback: false,
        tokenCache: 0,
        maintainMs: 60_000,
        maxPending: 3,
        onDropped: (n) => (dropped += n),
        log: (line) => lines.push(line),
      });
      const now = Date.now();
      const iat = Math.floor(now / 1000);
      let issued = 0;
      /** A fresh token of `sub` (issued a second later than the last: its facts are the newer). */
      const seen = async (sub: string) => {
        issued += 1;
        const token = await new SignJWT({ nationality: ["DE"] })
          .setProtectedHeader({ alg: "ES256", kid: "k1" })
          .setIssuer(ISSUER)
          .setAudience(AUD)
          .setSubject(sub)
          .setIssuedAt(iat - 100 + issued)
          .setExpirationTime(iat + 600)
          .sign(key);
        return (await federation.authenticate(token, now + issued)).principal.id;
      };
      const waiting = (subs: string[]) => subs.map((s) => federation.seen(`fed:de-gov:${s}`) !== null);
      const warnings = () => lines.filter((l) => l.includes("records wait to be written")).length;

      await outage(true);
      try {
        // Every token is served while the store takes nothing.
        for (const sub of ["p1", "p2", "p3"]) expect(await seen(sub)).toBe(`fed:de-gov:${sub}`);
        await federation.flush();
        expect(waiting(["p1", "p2", "p3"])).toEqual([true, true, true]);
        expect([dropped, warnings()]).toEqual([0, 0]);
        // p1 seen again: the most recently seen now; p4 and p5 push out p2 and p3.
        await seen("p1");
        await seen("p4");
        await seen("p5");
        // Before the fix: all five waited, and would have without end (no drop, no count, no word).
        expect(waiting(["p1", "p2", "p3", "p4", "p5"])).toEqual([true, false, false, true, true]);
        expect(dropped).toBe(2);
        await federation.flush(); // refused again: what waits is kept, still at most 3
        await seen("p6");
        expect(waiting(["p1", "p4", "p5", "p6"])).toEqual([false, true, true, true]);
        expect(dropped).toBe(3);
        // Said once for the outage, not once per record dropped.
        expect(warnings()).toBe(1);
        expect(lines.find((l) => l.includes("records wait to be written"))).toBe(
          "clearance: federated principals: more than 3 records wait to be written (the store is out of reach or slow); the least recently seen are dropped, each written again from its person's next token, until the store takes them",
        );
      } finally {
        await outage(false);
      }
      // The store is back: what waited is written, and how many were dropped is said.
      await federation.flush();
      for (const sub of ["p4", "p5", "p6"])
        expect(await store.federated.get(`fed:de-gov:${sub}`)).toMatchObject({ partner: "g7" });
      expect(await store.federated.get("fed:de-gov:p2")).toBeUndefined();
      expect(lines.filter((l) => l.includes("the store takes records again"))).toEqual([
        expect.stringMatching(
          /^clearance: federated principals: the store takes records again \(2 flushes failed since \S+\); 3 waiting were dropped since \S+ \(written again from their people's next tokens\)$/,
        ),
      ]);
      // A person dropped is written from their next token.
      await seen("p2");
      await federation.flush();
      expect(await store.federated.get("fed:de-gov:p2")).toMatchObject({ partner: "g7" });
      // Another outage is said again.
      await outage(true);
      try {
        for (const sub of ["q1", "q2", "q3", "q4"]) await seen(sub);
        expect(warnings()).toBe(2);
      } finally {
        await outage(false);
      }
      await federation.close();
    });
  },
);
