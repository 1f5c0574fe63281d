/**
 * A reload whose audit drain fails (a store blip reading the outbox, a full audit disk) still hands
 * the new snapshot's principals to the background screening: the drain is retried with the next
 * change, but a principal written past the admin API (the CLI, another node) is brought to screening
 * only by a reload, and no other reload need ever come. Before, the failed drain skipped the rest of
 * the reload's work, and such a principal stayed unscreened (served on its record's status, clear)
 * until something else changed in the store.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Store } from "../store/index.js";
import { asAdmin, eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const FIXTURES = join(import.meta.dirname, "..", "screening", "fixtures");
const file = (name: string) => ({
  name: name.split("/").pop()!,
  content_base64: readFileSync(join(FIXTURES, name)).toString("base64"),
});

let t: TestGateway;
let raw: Store;
/** Reading the outbox (what the audit drain does first) fails while this is set. */
let outboxFails = false;
const errors: string[] = [];

beforeAll(async () => {
  t = await startTestGateway({
    log: (line) => void errors.push(line),
    wrapStore: (s) => {
      raw = s;
      const outbox = new Proxy(s.outbox, {
        get(obj, prop) {
          if (prop === "list" && outboxFails)
            return () => Promise.reject(new Error("connection terminated unexpectedly"));
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
      return new Proxy(s, {
        get(obj, prop) {
          if (prop === "outbox") return outbox;
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
    },
  });
});
afterAll(async () => {
  outboxFails = false;
  await t.gateway.close();
});

const chat = async (key: string) => {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  await r.text();
  return r.headers.get("x-clearance-reason");
};

it("screens a principal the reload brought although the reload's audit drain failed", async () => {
  await asAdmin(
    t,
    "POST",
    "/admin/v1/screening/lists",
    { files: [file("ofac/sdn.csv"), file("ofac/alt.csv"), file("ofac/add.csv")] },
    201,
  );
  outboxFails = true;
  // Written by the CLI (or another node): only the background pass screens it.
  await raw.principals.put({
    id: "ivan-cli",
    name: "PETROV, Ivan S.",
    birth_date: "1965-01-12",
    citizenships: [{ country: "DE" }],
    residence: "DE",
    assurance: "verified",
  });
  const { key } = await raw.keys.create("ivan-cli", "test");
  await t.gateway.snapshot.refresh();
  expect(t.gateway.snapshot.current.principals.has("ivan-cli")).toBe(true);
  // The drain failed, and said so (once the rest of the reload's work is done: a poll may have
  // loaded the change first, and a reload's caller does not wait for another's).
  await eventually(
    async () => [...errors],
    (seen) => seen.some((l) => l.includes("connection terminated unexpectedly")),
  );
  outboxFails = false;
  await t.gateway.screening.idle();
  expect(await raw.screening.statuses()).toEqual([
    { kind: "principal", id: "ivan-cli", status: "potential" },
  ]);
  // The screening's own change reloads the snapshot: the principal is withheld.
  await t.gateway.snapshot.refresh();
  expect(await chat(key)).toBe("screening-review");
});
