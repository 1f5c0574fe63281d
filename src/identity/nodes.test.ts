/**
 * Two gateway nodes over one PostgreSQL: an identity provider registered through node A is honoured
 * by node B, and once removed through A, its tokens are refused by B within a second (B polls only
 * every 30 s: the change arrives by LISTEN/NOTIFY). Skipped without PostgreSQL.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../gateway/server.js";
import { eventually } from "../testing/admin.js";
import { NODE_ADMIN_TOKEN as TOKEN, nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";

if (skipReason !== undefined) console.warn(`src/identity/nodes.test.ts: SKIPPED, ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "identity providers on two nodes" : `two nodes: SKIPPED, ${skipReason}`,
  () => {
    let group: NodeGroup | undefined;
    let idp: TestIdp | undefined;
    afterAll(async () => {
      await group?.close();
      await idp?.close();
      await dropSchemas();
    });
    const SLOW_POLL = "refresh_ms: 30000\nfreshness_ms: 60000\n";

    it(
      "a provider removed on node A refuses its tokens on node B within a second",
      { timeout: 60_000 },
      async () => {
        idp = await startTestIdp({ people: { anna: { nationality: ["DE"] } } });
        const { url } = await freshSchema();
        group = nodeGroup(url);
        const a = await group.start("node-a", SLOW_POLL);
        const b = await group.start("node-b", SLOW_POLL);
        const admin = (method: string, path: string, body?: unknown) =>
          fetch(`${a.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
        const added = await admin("POST", "/admin/v1/partners/g7-fvey/identity-providers", {
          id: "de-gov",
          issuer: idp.issuer,
          audiences: [AUDIENCE],
          claims: { citizenships: "nationality" },
          assurance: { level: "attested" },
          max_assurance: "attested",
        });
        expect(added.status).toBe(201);
        const token = await idp.token("anna");
        const ask = (g: RunningGateway) =>
          fetch(`${g.url}/v1/chat/completions`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${token}`,
              "content-type": "application/json",
              "x-test-country": "DE",
            },
            body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
          });
        // Node B learns of the provider by notification: asked until it honours the token.
        const status = await eventually(
          async () => (await ask(b)).status,
          (s) => s === 200,
        );
        expect(status).toBe(200);
        // Node B's federated principal reaches the shared store.
        await b.identity.flush();
        expect(await a.store.federated.get("fed:de-gov:anna")).toMatchObject({ partner: "g7-fvey" });

        expect(
          (await admin("DELETE", "/admin/v1/partners/g7-fvey/identity-providers/de-gov?reason=test")).status,
        ).toBe(200);
        expect((await ask(a)).status).toBe(401);
        const removedAt = Date.now();
        while ((await ask(b)).status === 200 && Date.now() - removedAt < 1_000)
          await new Promise((r) => setTimeout(r, 20));
        const refused = await ask(b);
        expect(refused.status).toBe(401);
        expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("unknown-issuer");
      },
    );
  },
);
