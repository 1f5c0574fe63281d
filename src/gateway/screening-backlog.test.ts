/**
 * A gateway whose background screening fails (here: recording an outcome, as a store blip would):
 * the principal written past the admin API waits, served on its record's status meanwhile, and
 * /readyz (a warning: the node stays in rotation) and clearance_screening_unscreened_subjects say
 * so; the pass is retried without any other change in the store, and the principal is then withheld.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Store } from "../store/index.js";
import { asAdmin, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const FIXTURES = join(import.meta.dirname, "..", "screening", "fixtures");
const file = (name: string) => ({
  name: name.split("/").pop()!,
  content_base64: readFileSync(join(FIXTURES, name)).toString("base64"),
});

let t: TestGateway;
let raw: Store;
/** Recording a screening's outcome fails while this is set. */
let recordFails = false;

beforeAll(async () => {
  t = await startTestGateway({
    wrapStore: (s) => {
      raw = s;
      const screening = new Proxy(s.screening, {
        get(obj, prop) {
          if (prop === "record" && recordFails)
            return () => Promise.reject(new Error("connection terminated unexpectedly"));
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
      return new Proxy(s, {
        get(obj, prop) {
          if (prop === "screening") return screening;
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
    },
  });
});
afterAll(async () => {
  await t.gateway.close();
});

const readyz = async () => {
  const res = await fetch(`${t.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; warnings?: string[] } };
};
const unscreened = async () => {
  const r = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return /^clearance_screening_unscreened_subjects (\S+)$/m.exec(await r.text())?.[1];
};
const chat = async (key: string) => {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  await r.text();
  return r.headers.get("x-clearance-reason");
};

it("retries a failed background screening, and says so while a principal waits", async () => {
  await asAdmin(
    t,
    "POST",
    "/admin/v1/screening/lists",
    { files: [file("ofac/sdn.csv"), file("ofac/alt.csv"), file("ofac/add.csv")] },
    201,
  );
  expect(await unscreened()).toBe("0");
  recordFails = true;
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
  await t.gateway.screening.idle();
  expect(t.gateway.screening.backlog).toMatchObject({ subjects: 1 });
  const ready = await readyz();
  expect(ready.status).toBe(200);
  expect(ready.body.warnings).toEqual([
    expect.stringMatching(
      /^1 new or changed principal or organization waits to be screened: the background screening has failed since \S+ and is retried/,
    ),
  ]);
  expect(await unscreened()).toBe("1");
  // Meanwhile it is decided on its record's status.
  expect(await chat(key)).not.toBe("screening-review");

  // The store answers again; nothing else changes in it: the retry screens the principal.
  recordFails = false;
  await eventually(
    async () => t.gateway.screening.backlog,
    (backlog) => backlog === null,
  );
  await t.gateway.screening.idle();
  expect((await readyz()).body.warnings).toBeUndefined();
  expect(await unscreened()).toBe("0");
  expect(await raw.screening.statuses()).toEqual([
    { kind: "principal", id: "ivan-cli", status: "potential" },
  ]);
  await t.gateway.snapshot.refresh();
  expect(await chat(key)).toBe("screening-review");
});
