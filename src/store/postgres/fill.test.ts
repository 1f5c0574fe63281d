/**
 * The filter columns' fill at open (schema version 14) in PostgreSQL, where nodes sharing the database
 * start together: a principal put by one node while another fills must keep its own columns.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openPostgresStore } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";
import { fillSearchColumns } from "./queries.js";

/** A store as release 13 left it, with these principals, migrated to the current version unfilled. */
async function unfilledStore(principals: { id: string; name: string; organization: string }[]) {
  const { schema, url } = await freshSchema();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await migrate(
    client,
    MIGRATIONS.filter((m) => m.version <= 13),
  );
  await client.query(
    `INSERT INTO principals (id, document, created_at, updated_at)
     SELECT d->>'id', d::text, 'then', 'then' FROM unnest($1::jsonb[]) AS d`,
    [principals.map((p) => JSON.stringify(p))],
  );
  await migrate(client);
  return { schema, url, client };
}

describe.skipIf(skipReason !== undefined)(
  `postgres fill of the filter columns${skipReason === undefined ? "" : `: SKIPPED, ${skipReason}`}`,
  () => {
    afterAll(() => dropSchemas());

    it("a principal another node puts between the fill's read and its update keeps its own columns", async () => {
      const { url, client } = await unfilledStore([
        { id: "p-1", name: "Anna Jansen", organization: "org-old" },
      ]);
      let other: Awaited<ReturnType<typeof openPostgresStore>> | undefined;
      try {
        // This node has read Anna's document; another node opens (filling too) and an officer renames
        // the principal through it before this node's update.
        await fillSearchColumns(client, async () => {
          if (other !== undefined) return;
          other = await openPostgresStore(url);
          await other.principals.put({ id: "p-1", name: "Ivan Petrov", organization: "org-new" });
        });
        const ids = async (q: object) => (await other!.principals.page({ limit: 10, ...q })).map((p) => p.id);
        expect(await ids({ prefix: "ivan" })).toEqual(["p-1"]);
        expect(await ids({ prefix: "anna" })).toEqual([]);
        expect(await ids({ organization: "org-new" })).toEqual(["p-1"]);
        expect(await ids({ organization: "org-old" })).toEqual([]);
      } finally {
        await client.end();
        await other?.close();
      }
    });

    it("fills every principal of a store larger than one chunk", async () => {
      const principals = Array.from({ length: 2_500 }, (_, i) => ({
        id: `p-${String(i).padStart(4, "0")}`,
        name: `Person ${i}`,
        organization: `org-${i % 3}`,
      }));
      const { url, client } = await unfilledStore(principals);
      await client.end();
      const store = await openPostgresStore(url);
      try {
        const all = async (q: object) => {
          const found: string[] = [];
          for (let after: string | undefined; ;) {
            const page = await store.principals.page({
              limit: 1000,
              ...q,
              ...(after === undefined ? {} : { after }),
            });
            found.push(...page.map((p) => p.id));
            if (page.length < 1000) return found;
            after = found[found.length - 1];
          }
        };
        expect(await all({ prefix: "person" })).toEqual(principals.map((p) => p.id));
        expect((await all({ organization: "org-1" })).length).toBe(833);
        expect(await all({ prefix: "PERSON 2499" })).toEqual(["p-2499"]);
      } finally {
        await store.close();
      }
    });
  },
);
