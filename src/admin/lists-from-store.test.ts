/**
 * The partner, license and scheme version lists answer as the store holds them, as their by-id reads
 * do: a change made through another node (or the CLI), or one this node could not reload after, is
 * listed before this node has loaded it. Before, the lists came from this node's snapshot, so the
 * list and the by-id read disagreed until its next successful reload.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { application, asAdmin, type Json } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
/**
 * Loading the store's snapshot fails (its version check answers): this node cannot reload, and stays
 * at the version it has; writes go through, as on another node.
 */
let loadFails = false;
/** The collections read whole from the store (records.list), in order. */
const fullReads: string[] = [];

beforeAll(async () => {
  t = await startTestGateway({
    extra: "freshness_ms: 600000",
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop) {
          if (prop === "snapshot" && loadFails)
            return () => Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
          if (prop === "records")
            return {
              ...obj.records,
              list: (collection: string) => {
                fullReads.push(collection);
                return obj.records.list(collection as "license");
              },
            };
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      }),
  });
});
afterAll(async () => {
  await t.gateway.close();
});

/** `fn` while this node cannot reload. */
async function behind<T>(fn: () => Promise<T>): Promise<T> {
  loadFails = true;
  try {
    return await fn();
  } finally {
    loadFails = false;
  }
}

describe("lists read while this node is in step with the store", () => {
  it("answer from this node's snapshot, reading no collection whole", async () => {
    await t.gateway.snapshot.refresh();
    fullReads.length = 0;
    const partners = (await asAdmin(t, "GET", "/admin/v1/partners")).data as Json[];
    const licenses = (await asAdmin(t, "GET", "/admin/v1/licenses")).data as Json[];
    const versions = (await asAdmin(t, "GET", "/admin/v1/schemes")).data as Json[];
    expect(fullReads).toEqual([]);
    const control = t.gateway.snapshot.current.control;
    expect(partners.map((p) => p.id)).toEqual(control.partners.map((p) => p.id).sort());
    expect(licenses.map((l) => l.id)).toEqual(control.licenses.map((l) => l.id).sort());
    expect(versions.map((v) => v.id)).toEqual(control.versions.map((v) => v.id));
  });
});

describe("lists read while this node has not loaded a change", () => {
  it("the partners list has a partner registered, and its status as changed, as its own read does", async () => {
    const id = "lfs-lab";
    const listed = async () =>
      ((await asAdmin(t, "GET", `/admin/v1/partners?prefix=${id}`)).data as Json[]).map((p) => [
        p.id,
        p.partner.status,
      ]);
    const registration = {
      kind: "organization",
      partner: {
        id,
        country: "IN",
        assurance: "verified",
        locations: ["IN"],
        grants: [{ models: ["mythos-5"], actions: ["infer"] }],
      },
      reason: "evaluation partnership",
    };
    const { said, list } = await behind(async () => ({
      said: await asAdmin(t, "POST", "/admin/v1/partners", registration, 201),
      list: await listed(),
    }));
    expect(said).toHaveProperty("not_yet_in_force");
    expect(t.gateway.snapshot.current.control.partners.some((p) => p.id === id)).toBe(false);
    expect(list).toEqual([[id, "applied"]]);

    const moved = await behind(async () => {
      await asAdmin(t, "POST", `/admin/v1/partners/${id}/status`, { status: "revoked", reason: "ended" });
      return {
        list: await listed(),
        read: (await asAdmin(t, "GET", `/admin/v1/partners/${id}`)).partner.status,
      };
    });
    expect(moved).toEqual({ list: [[id, "revoked"]], read: "revoked" });
  });

  it("the licenses list has an application, as its own read does", async () => {
    const { said, list } = await behind(async () => {
      const body = await asAdmin(t, "POST", "/admin/v1/licenses", application(), 201);
      return {
        said: body,
        list: (await asAdmin(t, "GET", "/admin/v1/licenses?status=pending")).data as Json[],
      };
    });
    expect(said).toHaveProperty("not_yet_in_force");
    expect(t.gateway.snapshot.current.control.licenses.some((l) => l.id === said.id)).toBe(false);
    expect(list.map((l) => l.id)).toContain(said.id);
    expect(list.find((l) => l.id === said.id)).toEqual(
      await asAdmin(t, "GET", `/admin/v1/licenses/${said.id as string}`),
    );
  });

  it("the scheme versions list has a version uploaded, as its own read does", async () => {
    const yaml = readFileSync("examples/g7-trusted-partners.yaml", "utf8").replace(
      /^name: .*$/m,
      "name: lists-from-the-store",
    );
    const { uploaded, list } = await behind(async () => {
      const body = await asAdmin(t, "POST", "/admin/v1/schemes", { yaml }, 201);
      return { uploaded: body, list: (await asAdmin(t, "GET", "/admin/v1/schemes")).data as Json[] };
    });
    expect(uploaded).toMatchObject({ created: true });
    const version = uploaded.version as number;
    expect(t.gateway.snapshot.current.control.versions.some((v) => v.document.version === version)).toBe(
      false,
    );
    expect(list.find((v) => v.version === version)).toMatchObject({
      id: String(version),
      name: "lists-from-the-store",
      active: false,
    });
  });
});
