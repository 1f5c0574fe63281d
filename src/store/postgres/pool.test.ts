/**
 * The request path's queries against a busy store: admin writes queued on a lock must neither take
 * the connections an audit append or a version poll needs, nor wait without end. A second session
 * holds store_meta's row lock (as one long change transaction on another node does). Skipped
 * without PostgreSQL.
 */
import { afterAll, describe, expect, it } from "vitest";
import { StoreError } from "../index.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openPostgresStore, type PostgresStore } from "./index.js";

if (skipReason !== undefined) console.warn(`src/store/postgres/pool.test.ts: SKIPPED, ${skipReason}`);

const stores: PostgresStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  await dropSchemas();
});

/** Another session's change transaction, holding the version row until released. */
async function holdVersionRow(schema: string) {
  const x = await adminPool().connect();
  await x.query("BEGIN");
  await x.query(`UPDATE ${schema}.store_meta SET version = version + 1 WHERE id = 1`);
  return async () => {
    await x.query("COMMIT");
    x.release();
  };
}

/** Milliseconds `p` took, or Infinity past `limit`. */
async function within(p: Promise<unknown>, limit: number): Promise<number> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<number>((r) => (timer = setTimeout(() => r(Infinity), limit)));
  const took = await Promise.race([p.then(() => Date.now() - t0), late]);
  clearTimeout(timer);
  return took;
}

describe.skipIf(skipReason !== undefined)("the PostgreSQL store's connections", () => {
  it("an audit append and a version poll go through while admin writes hold every admin connection", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, { max: 3 });
    stores.push(store);
    await store.sharedAudit.append([Buffer.from("warm")]);
    const release = await holdVersionRow(schema);
    const writes = Array.from({ length: 6 }, (_, i) =>
      store.principals.put({ id: `p-${i}` }, "admin").catch((e: unknown) => e),
    );
    await new Promise((r) => setTimeout(r, 200));
    const [append, version] = await Promise.all([
      within(store.sharedAudit.append([Buffer.from("a request's entry")]), 2_000),
      within(store.version(), 2_000),
    ]);
    await release();
    await Promise.all(writes);
    expect(append).toBeLessThan(1_000);
    expect(version).toBeLessThan(1_000);
  });

  it("an admin write waiting on a lock past lockTimeoutMs fails as busy, and nothing of it is kept", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, { lockTimeoutMs: 300 });
    stores.push(store);
    const release = await holdVersionRow(schema);
    const t0 = Date.now();
    const put = await store.principals.put({ id: "p-late" }, "admin").catch((e: unknown) => e);
    const took = Date.now() - t0;
    await release();
    expect(put).toBeInstanceOf(StoreError);
    expect((put as StoreError).code).toBe("busy");
    expect(took).toBeLessThan(2_000);
    expect(await store.principals.get("p-late")).toBeUndefined();
    // The connection is fine afterwards: the next write goes through.
    await store.principals.put({ id: "p-next" }, "admin");
    expect(await store.principals.get("p-next")).toMatchObject({ id: "p-next" });
  });
});
