/**
 * GET /admin/v1/keys, filtered and paged in the store: a page reads the keys it answers with. Before,
 * every page read every key (`store.keys.list`) and filtered, sorted and cut it in JavaScript.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKeyRecord, Store } from "../store/index.js";
import { call, type Json } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let store: Store;
/** Calls of `store.keys.list` (every key, or all of a principal's) since the last reset. */
let fullReads = 0;
const revoked: string[] = [];

beforeAll(async () => {
  t = await startTestGateway({
    wrapStore: (s) => {
      store = s;
      const keys = new Proxy(s.keys, {
        get(obj, prop) {
          if (prop === "list") fullReads++;
          return Reflect.get(obj, prop, obj) as unknown;
        },
      });
      return new Proxy(s, {
        get(obj, prop) {
          if (prop === "keys") return keys;
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
    },
  });
  for (let i = 0; i < 5; i++) {
    const { record } = await store.keys.create("alice", `spare-${i}`);
    if (i % 2 === 0) {
      await store.keys.revoke(record.id);
      revoked.push(record.id);
    }
  }
});
afterAll(() => t.gateway.close());

const sorted = (ids: readonly string[]) => [...ids].sort();

/** Every page of `query`, `limit` keys a page, following next_cursor to its end. */
async function pages(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let count = 0;
  do {
    const at: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const r = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/keys?limit=${limit}${query}${at}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    for (const k of r.body.data as Json[]) expect(k).not.toHaveProperty("hash");
    ids.push(...(r.body.data as Json[]).map((k) => k.id as string));
    cursor = r.body.next_cursor as string | null;
    count++;
  } while (cursor !== null);
  return { ids, pages: count };
}

describe("GET /admin/v1/keys", () => {
  it("pages every key once, in id order, without reading every key for a page", async () => {
    const all: ApiKeyRecord[] = await store.keys.list();
    fullReads = 0;
    const { ids, pages: count } = await pages("", 2);
    expect(ids).toEqual(sorted(all.map((k) => k.id)));
    expect(count).toBe(Math.ceil(all.length / 2));
    // The old route's read of every key, once per page.
    expect(fullReads).toBe(0);
  });

  it("filters by principal and status in the store, paged alike", async () => {
    const alice = (await store.keys.list("alice")).map((k) => k.id);
    fullReads = 0;
    expect((await pages("&principal=alice&status=revoked", 2)).ids).toEqual(sorted(revoked));
    expect((await pages("&principal=alice&status=active", 1)).ids).toEqual(
      sorted(alice.filter((id) => !revoked.includes(id))),
    );
    expect((await pages("&principal=alice", 100)).ids).toEqual(sorted(alice));
    expect((await pages("&status=revoked", 100)).ids).toEqual(sorted(revoked));
    expect((await pages("&principal=nobody", 100)).ids).toEqual([]);
    expect(fullReads).toBe(0);
  });
});
