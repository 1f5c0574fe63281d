/**
 * /readyz over the audit log shared through PostgreSQL: a failed append makes the node not ready,
 * and it is ready again once the database answers the log — without a request having to get
 * through first (out of rotation, a node is sent none). Skipped without PostgreSQL.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import { nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";

if (skipReason !== undefined) console.warn(`src/gateway/shared-audit-ready.test.ts: SKIPPED, ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "readiness over a shared audit log" : `shared audit log: SKIPPED, ${skipReason}`,
  () => {
    let group: NodeGroup | undefined;
    afterAll(async () => {
      await group?.close();
      await dropSchemas();
    });

    it("is ready again once the database answers the log, with no request in between", async () => {
      const { url } = await freshSchema();
      group = nodeGroup(url);
      const node = await group.start("node-a", "refresh_ms: 50");
      const ready = async () => {
        const r = await fetch(`${node.url}/readyz`);
        return { status: r.status, body: (await r.json()) as { reasons?: string[] } };
      };
      expect((await ready()).status).toBe(200);

      // The database drops the log's statements for a while (a restart, a failover).
      const db = node.store.sharedAudit!;
      const size = await db.size();
      const down = () => Promise.reject(new Error("Connection terminated unexpectedly"));
      const appends = vi.spyOn(db, "append").mockImplementation(down);
      const checkpoints = vi.spyOn(db, "latestCheckpoint").mockImplementation(down);
      await expect(node.audit.log.append(Buffer.from('{"type":"test"}'))).rejects.toThrow(/did not take/);
      await expect(node.audit.log.publish()).rejects.toThrow(/terminated/);
      expect(await ready()).toMatchObject({
        status: 503,
        body: { reasons: ["the audit log cannot take entries"] },
      });

      // Back: the log's next round reads (and, integrating, writes) it; no request has come.
      appends.mockRestore();
      checkpoints.mockRestore();
      await node.audit.log.publish();
      await node.snapshot.refresh();
      expect(await ready()).toMatchObject({ status: 200 });
      // And takes entries, gapless: the probe took no index.
      expect(await node.audit.log.append(Buffer.from('{"type":"test"}'))).toBe(size);
    });
  },
);
