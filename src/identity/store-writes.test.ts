/**
 * Federated principals written to a PostgreSQL store: whatever a verified token holds, its
 * principal reaches the store, and no token can stop the others' from being written (the gateway
 * writes them in batches, off the request path); one the store refuses on its own is set aside,
 * logged and counted, and the others are written. The partner's key is the test's own, registered
 * inline. Skipped without PostgreSQL.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../gateway/server.js";
import { NODE_ADMIN_TOKEN as TOKEN, nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";

if (skipReason !== undefined) console.warn(`src/identity/store-writes.test.ts: SKIPPED, ${skipReason}`);

const ISSUER = "https://eid.store-writes.example";
const AUD = "urn:clearance:gateway";

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "federated principals in PostgreSQL" : `PostgreSQL: SKIPPED, ${skipReason}`,
  () => {
    let group: NodeGroup | undefined;
    let node: RunningGateway;
    let key: CryptoKey;
    let schema: string;

    beforeAll(async () => {
      const pair = await generateKeyPair("ES256", { extractable: true });
      key = pair.privateKey;
      const fresh = await freshSchema();
      schema = fresh.schema;
      const url = fresh.url;
      group = nodeGroup(url);
      node = await group.start("node-a");
      const res = await fetch(`${node.url}/admin/v1/partners/g7-fvey/identity-providers`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          id: "de-frac",
          issuer: ISSUER,
          jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] },
          audiences: [AUD],
          claims: { citizenships: "nationality" },
          assurance: { level: "attested" },
          max_assurance: "attested",
        }),
      });
      expect(res.status).toBe(201);
    }, 30_000);
    afterAll(async () => {
      await group?.close();
      await dropSchemas();
    });

    const sign = (sub: string, iat: number) =>
      new SignJWT({ iss: ISSUER, aud: AUD, sub, iat, exp: Math.floor(iat) + 600, nationality: ["DE"] })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .sign(key);
    const chat = async (token: string) =>
      (
        await fetch(`${node.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "x-test-country": "DE",
          },
          body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
        })
      ).status;

    it("a token issued at a fractional second (RFC 7519's NumericDate may be one) is written, and so are the others", async () => {
      const now = Date.now() / 1000;
      expect(await chat(await sign("anna", Math.floor(now) - 0.25))).toBe(200);
      expect(await chat(await sign("bernd", Math.floor(now)))).toBe(200);
      // The gateway's own flush (identity.maintain_ms) may have run already; this one waits for it.
      await node.identity.flush();
      // Before the fix: the batch was refused whole (issued_at BIGINT: "invalid input syntax for
      // type bigint: 1799999999.75"), kept and retried every second, failing each time: no partner's
      // person was written on this node again.
      expect(await node.store.federated.get("fed:de-frac:anna")).toMatchObject({
        partner: "g7-fvey",
        issued_at: Math.floor(now) - 1,
      });
      expect(await node.store.federated.get("fed:de-frac:bernd")).toMatchObject({ partner: "g7-fvey" });
    });

    it("a subject holding a control character is refused (a NUL would have stopped every write)", async () => {
      const now = Math.floor(Date.now() / 1000);
      // Before the fix: served, and the batch holding its principal refused by PostgreSQL ("invalid
      // byte sequence for encoding UTF8: 0x00"), kept and retried at every flush, failing each time.
      for (const sub of ["carl\u0000", "carl\tx", "carl\u009b"]) {
        const res = await fetch(`${node.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${await sign(sub, now)}`,
            "content-type": "application/json",
            "x-test-country": "DE",
          },
          body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
        });
        expect(res.status, JSON.stringify(sub)).toBe(401);
        expect(await res.json()).toMatchObject({
          error: { code: "token-claims", message: "the token's subject claim contains control characters" },
        });
      }
      expect(await chat(await sign("dora", now))).toBe(200);
      await node.identity.flush();
      expect(await node.store.federated.get("fed:de-frac:dora")).toMatchObject({ partner: "g7-fvey" });
    });

    /** The store refuses the principals whose id matches `pattern` (a LIKE pattern; null: none). */
    const refuse = async (pattern: string | null) => {
      const pool = adminPool();
      await pool.query(`DROP TRIGGER IF EXISTS refuse ON ${schema}.federated_principals`);
      if (pattern === null) return;
      await pool.query(
        `CREATE OR REPLACE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.id LIKE '${pattern}' THEN RAISE EXCEPTION 'refused by the test: %', NEW.id; END IF;
           RETURN NEW;
         END $$`,
      );
      await pool.query(
        `CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON ${schema}.federated_principals
         FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse()`,
      );
    };
    const setAside = async () => {
      const res = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const line = /^clearance_federated_principals_set_aside_total (\d+)$/m.exec(await res.text());
      return line === null ? null : Number(line[1]);
    };

    it("a record the store refuses on its own is set aside, counted, and the others are written", async () => {
      const now = Math.floor(Date.now() / 1000);
      expect(await setAside()).toBe(0);
      await refuse("fed:de-frac:erin");
      try {
        for (const sub of ["erin", "fritz", "gina"]) expect(await chat(await sign(sub, now))).toBe(200);
        await node.identity.flush();
        // Before the fix: the batch was refused whole, kept and retried at every flush, failing each
        // time: neither fritz nor gina (nor anyone after them) was written on this node again.
        expect(node.identity.seen("fed:de-frac:erin")).toBeNull();
        expect(await node.store.federated.get("fed:de-frac:fritz")).toMatchObject({ partner: "g7-fvey" });
        expect(await node.store.federated.get("fed:de-frac:gina")).toMatchObject({ partner: "g7-fvey" });
        expect(await node.store.federated.get("fed:de-frac:erin")).toBeUndefined();
        expect(await setAside()).toBe(1);
      } finally {
        await refuse(null);
      }
    });

    const storeErrors = async () => {
      const res = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const line = /^clearance_errors_total\{source="store"\} (\d+)$/m.exec(await res.text());
      return line === null ? null : Number(line[1]);
    };

    it("when the store refuses every record, none is set aside: all are written once it takes them", async () => {
      const now = Math.floor(Date.now() / 1000);
      const before = await setAside();
      const errorsBefore = await storeErrors();
      await refuse("fed:de-frac:h%");
      try {
        for (const sub of ["hanna", "heidi"]) expect(await chat(await sign(sub, now))).toBe(200);
        await node.identity.flush();
        expect(await node.store.federated.get("fed:de-frac:hanna")).toBeUndefined();
        // Each failed flush counts (said or not). Before the fix: none did (the error was only logged).
        expect(await storeErrors()).toBeGreaterThan(errorsBefore ?? Infinity);
      } finally {
        await refuse(null);
      }
      // Kept, not set aside: written by the next flush.
      await node.identity.flush();
      expect(await node.store.federated.get("fed:de-frac:hanna")).toMatchObject({ partner: "g7-fvey" });
      expect(await node.store.federated.get("fed:de-frac:heidi")).toMatchObject({ partner: "g7-fvey" });
      expect(await setAside()).toBe(before);
    });

    it("what waits for the store, and what was dropped beyond identity.max_pending_principals, are in the metrics", async () => {
      // No flush of its own: what waits changes only by what the test does.
      const b = await (group as NodeGroup).start(
        "node-b",
        "identity: { max_pending_principals: 2, maintain_ms: 600000 }",
      );
      const metric = async (name: string) => {
        const res = await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const line = new RegExp(`^${name} (\\d+)$`, "m").exec(await res.text());
        return line === null ? null : Number(line[1]);
      };
      const waiting = () =>
        Promise.all([
          metric("clearance_federated_principals_pending"),
          metric("clearance_federated_principals_dropped_total"),
        ]);
      expect(await waiting()).toEqual([0, 0]);
      const now = Math.floor(Date.now() / 1000);
      await refuse("fed:de-frac:w%");
      try {
        for (const sub of ["wanda", "wilma", "wolf"]) {
          const res = await fetch(`${b.url}/v1/chat/completions`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${await sign(sub, now)}`,
              "content-type": "application/json",
              "x-test-country": "DE",
            },
            body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
          });
          expect(res.status).toBe(200);
        }
        // Before the fix: neither metric was there (the limit was 10,000, whatever the config said).
        expect(await waiting()).toEqual([2, 1]);
        await b.identity.flush(); // refused whole, each alone too: kept
        expect(await waiting()).toEqual([2, 1]);
      } finally {
        await refuse(null);
      }
      await b.identity.flush();
      expect(await waiting()).toEqual([0, 1]);
      expect(await b.store.federated.get("fed:de-frac:wolf")).toMatchObject({ partner: "g7-fvey" });
      expect(await b.store.federated.get("fed:de-frac:wanda")).toBeUndefined();
    });
  },
);
