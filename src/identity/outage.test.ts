/**
 * Federated principals' flushes while the store is out of reach: a batch the store refused as out
 * of reach (a statement past its bound, here behind the test's lock on the table) is kept whole,
 * none of its records tried alone; and a run of failed flushes is said once, then at most once a
 * minute with the count, and its end once, while every failure is counted. The store is a real
 * PostgreSQL one with short statement bounds; the partner's key is the test's own, inline. Skipped
 * without PostgreSQL.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScheme } from "../scheme/index.js";
import { openStore, StoreError, type FederatedPrincipalRecord, type Store } from "../store/index.js";
import { blackhole } from "../testing/blackhole.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { TEST_SCHEME_YAML } from "../testing/schemes.js";
import { Federation, type FederationOptions } from "./federation.js";
import { providerInputSchema } from "./schema.js";

if (skipReason !== undefined) console.warn(`src/identity/outage.test.ts: SKIPPED, ${skipReason}`);

const ISSUER = "https://eid.outage.example";
const AUD = "urn:clearance:gateway";

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? "federated principals while the store is out of reach"
    : `PostgreSQL: SKIPPED, ${skipReason}`,
  () => {
    let store: Store;
    let schema: string;
    let key: CryptoKey;
    let snapshot: ReturnType<FederationOptions["source"]>;
    /** The batches the federation handed the store (their sizes), in order. */
    const calls: number[] = [];
    let counted: Store;
    let url: string;

    beforeAll(async () => {
      const pair = await generateKeyPair("ES256", { extractable: true });
      key = pair.privateKey;
      const fresh = await freshSchema();
      schema = fresh.schema;
      url = fresh.url;
      // A statement is cancelled by the server after lockTimeoutMs + queryTimeoutMs (101 ms): one
      // behind the test's lock fails as StoreError "timeout", as behind a store that does not answer.
      store = await openStore({
        driver: "postgres",
        url: fresh.url,
        dataDir: "",
        queryTimeoutMs: 100,
        lockTimeoutMs: 1,
      });
      counted = counting(store);
      const input = providerInputSchema.parse({
        id: "de-gov",
        issuer: ISSUER,
        jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] },
        audiences: [AUD],
        claims: { citizenships: "nationality" },
        assurance: { level: "attested" },
        max_assurance: "attested",
      });
      snapshot = {
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
    }, 30_000);
    afterAll(async () => {
      await store?.close();
      await dropSchemas();
    });

    /** The table locked by an open transaction of the test's (held until the returned release). */
    const lockTable = async (): Promise<() => Promise<void>> => {
      const client: pg.PoolClient = await adminPool().connect();
      await client.query("BEGIN");
      await client.query(`LOCK TABLE ${schema}.federated_principals IN ACCESS EXCLUSIVE MODE`);
      return async () => {
        await client.query("ROLLBACK");
        client.release();
      };
    };

    /** `on`, each batch it is handed counted in `calls`. */
    const counting = (on: Store): Store => {
      const record = (records: readonly FederatedPrincipalRecord[]) => {
        calls.push(records.length);
        return on.federated.record(records);
      };
      return Object.assign(Object.create(on) as Store, { federated: { ...on.federated, record } });
    };

    const federationOn = (extra: Partial<FederationOptions> = {}) =>
      new Federation({
        source: () => snapshot,
        store: counted,
        maxTokenBytes: 8192,
        cooldownMs: 1,
        fetchTimeoutMs: 5000,
        allowHttpLoopback: false,
        tokenCache: 0,
        maintainMs: 60_000,
        ...extra,
      });

    const seen = async (federation: Federation, sub: string) => {
      const iat = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ nationality: ["DE"] })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(ISSUER)
        .setAudience(AUD)
        .setSubject(sub)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 600)
        .sign(key);
      await federation.authenticate(token);
    };

    it("a batch refused as the store out of reach is kept whole, none of its records tried alone", async () => {
      const errors: unknown[] = [];
      const federation = federationOn({ onError: (err) => errors.push(err) });
      for (const sub of ["a1", "a2", "a3", "a4", "a5"]) await seen(federation, sub);
      calls.length = 0;
      const release = await lockTable();
      try {
        await federation.flush();
      } finally {
        await release();
      }
      // Before the fix: [5, 1, 1, 1]: three records tried alone after the store said it timed out,
      // each waiting out its own bound, at every flush of the outage.
      expect(calls).toEqual([5]);
      expect(federation.pending).toBe(5);
      expect((errors[0] as Error).cause).toBeInstanceOf(StoreError);
      expect((errors[0] as Error).cause).toMatchObject({ code: "timeout" });
      // Kept: written whole once the store answers.
      await federation.flush();
      expect(calls).toEqual([5, 5]);
      expect(federation.pending).toBe(0);
      for (const sub of ["a1", "a5"])
        expect(await store.federated.get(`fed:de-gov:${sub}`)).toMatchObject({ partner: "g7" });
      await federation.close();
    });

    it("a batch refused with PostgreSQL down (its connections refused) is kept whole, none tried alone", async () => {
      const proxy = await blackhole(url);
      const down = await openStore({ driver: "postgres", url: proxy.url, dataDir: "" });
      const errors: unknown[] = [];
      const federation = federationOn({ store: counting(down), onError: (err) => errors.push(err) });
      try {
        for (const sub of ["c1", "c2", "c3", "c4"]) await seen(federation, sub);
        await proxy.close(); // the server gone: a new connection is refused, one held is reset
        calls.length = 0;
        await federation.flush();
        // Before the fix: [4, 1, 1, 1].
        expect(calls).toEqual([4]);
        expect(federation.pending).toBe(4);
        expect((errors[0] as Error).message).toMatch(/^federated principals: the store takes none \(/);
      } finally {
        await federation.close();
        await down.close();
      }
    });

    it("a run of failed flushes is said once, then at most once a minute with the count, and its end once; each is counted", async () => {
      let clock = Date.parse("2026-07-01T10:00:00.000Z");
      const said: string[] = [];
      const lines: string[] = [];
      let counts = 0;
      const federation = federationOn({
        now: () => clock,
        onError: (err) => said.push((err as Error).message),
        onStoreError: () => (counts += 1),
        log: (line) => lines.push(line),
      });
      await seen(federation, "b1");
      const release = await lockTable();
      try {
        for (let i = 0; i < 4; i++, clock += 1_000) await federation.flush();
        // Before the fix: four errors said (the gateway logged a stack for each, one a second).
        expect(said).toEqual([
          expect.stringMatching(
            /^federated principals: the store takes none \(a statement took over 101 ms; .*\); 1 wait to be written, tried again at each flush$/,
          ),
        ]);
        clock += 60_000;
        await federation.flush();
        expect(said).toHaveLength(2);
        expect(said[1]).toMatch(
          /; 1 wait to be written, tried again at each flush; 5 flushes failed since 2026-07-01T10:00:00\.000Z$/,
        );
        expect(counts).toBe(5);
      } finally {
        await release();
      }
      expect(lines).toEqual([]);
      await federation.flush();
      expect(lines).toEqual([
        "clearance: federated principals: the store takes records again (5 flushes failed since 2026-07-01T10:00:00.000Z)",
      ]);
      expect(await store.federated.get("fed:de-gov:b1")).toMatchObject({ partner: "g7" });
      // Said once: a write later says nothing more.
      await seen(federation, "b2");
      await federation.flush();
      expect([said.length, lines.length, counts]).toEqual([2, 1, 5]);
      await federation.close();
    });
  },
);
