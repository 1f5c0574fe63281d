/**
 * Report jobs over the admin API run one at a time on a node: each holds the store's principals (a
 * what-if, its worker threads too) in the process that serves requests, so any number at once —
 * a reader's requests, clients that went away — would grow its memory without bound. A job asked
 * while another runs waits its turn and, asked with progress, says so; then it runs and answers as
 * usual (a real gateway, its embedded store held at the principals' read).
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../policy/types.js";
import { asAdmin, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { ReportQueue } from "../admin/routes/reports.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const CANDIDATE = G7.replace("name: g7-trusted-partners", "name: g7-embargo-in").replace(
  "embargoed: [EAR_E1, EAR_E2]",
  "embargoed: [EAR_E1, EAR_E2, IN]",
);

let t: TestGateway;
let version: string;
/** Reads of the principals begun, and the hold the next one waits on (null: none). */
let reads = 0;
let hold: Promise<void> | null = null;
let reached: () => void = () => undefined;
/** The gateway's own log (server faults are written there). */
const logged: string[] = [];

beforeAll(async () => {
  t = await startTestGateway({
    extra: "audit: { checkpoint_ms: 50 }",
    log: (line) => logged.push(line),
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop, receiver) {
          const value = Reflect.get(obj, prop, receiver) as unknown;
          // Bound: the store's methods read its private members.
          if (typeof value === "function") return (value as (...a: unknown[]) => unknown).bind(obj);
          if (prop !== "principals") return value;
          const principals = s.principals;
          return new Proxy(principals, {
            get(p, name, r) {
              const member = Reflect.get(p, name, r) as unknown;
              if (typeof member !== "function") return member;
              if (name !== "list") return (member as (...a: unknown[]) => unknown).bind(p);
              return async (): Promise<Principal[]> => {
                reads++;
                reached();
                const held = hold; // the first read after a hold is set waits for it
                hold = null;
                if (held !== null) await held;
                return principals.list();
              };
            },
          });
        },
      }),
  });
  version = String((await asAdmin(t, "POST", "/admin/v1/schemes", { yaml: CANDIDATE })).version);
}, 60_000);
afterAll(() => t.gateway.close());

/** The NDJSON lines of a what-if asked with progress, as they come. */
async function* whatIfLines(): AsyncGenerator<Record<string, unknown>> {
  const res = await fetch(`${t.url}/admin/v1/schemes/${version}/what-if`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      "content-type": "application/json",
      accept: "application/x-ndjson",
    },
    body: "{}",
  });
  expect(res.status).toBe(200);
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n")) >= 0) {
      yield JSON.parse(text.slice(0, end)) as Record<string, unknown>;
      text = text.slice(end + 1);
    }
  }
}

describe("report jobs over the admin API", () => {
  it("run one at a time: a second what-if waits, says so, and runs once the first is done", async () => {
    let release: () => void = () => undefined;
    hold = new Promise((r) => (release = r));
    const firstRead = new Promise<void>((r) => (reached = r));
    const first = asAdmin(t, "POST", `/admin/v1/schemes/${version}/what-if`, {});
    try {
      await firstRead; // the first what-if holds the principals' read
      const before = reads;
      const second = whatIfLines();
      const line = (await second.next()).value as { progress?: { stage: string } };
      expect(line.progress?.stage).toBe("waiting for the reports asked before it to finish");
      expect(reads).toBe(before); // the second has not started
      release();
      expect((await first).population.summary.lost).toBeGreaterThan(0);
      let result: { population: { summary: { lost: number } } } | undefined;
      for await (const l of second) if ("result" in l) result = l.result as typeof result;
      expect(result?.population.summary.lost).toBeGreaterThan(0);
      expect(reads).toBe(before + 1);
    } finally {
      release();
      await first.catch(() => undefined);
    }
  }, 60_000);
});

describe("a report whose caller went away while it waited", () => {
  it("is not started, and is not logged as a server fault (the client left: not a 5xx)", async () => {
    let release: () => void = () => undefined;
    hold = new Promise((r) => (release = r));
    const firstRead = new Promise<void>((r) => (reached = r));
    const first = asAdmin(t, "POST", `/admin/v1/schemes/${version}/what-if`, {});
    try {
      await firstRead; // the first what-if holds the principals' read, and the queue
      const before = reads;
      const connections = () =>
        new Promise<number>((resolve, reject) =>
          t.gateway.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
        );
      const asked = request(`${t.url}/admin/v1/schemes/${version}/what-if`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          "content-type": "application/json",
          accept: "application/x-ndjson",
        },
      });
      asked.end("{}");
      const res = await new Promise<IncomingMessage>((resolve, reject) =>
        asked.once("response", resolve).once("error", reject),
      );
      // Its first line says it waits (the stream has begun), then its client goes away.
      const [line] = (await once(res, "data")) as [Buffer];
      expect(line.toString()).toContain("waiting for the reports");
      const open = await connections();
      asked.on("error", () => undefined).destroy();
      // No time limit of its own: the test's timeout catches a close the server never sees.
      await eventually(connections, (n) => n < open);
      release();
      await first;
      // One more behind it: once it is answered, the abandoned one has had its turn.
      await asAdmin(t, "POST", `/admin/v1/schemes/${version}/what-if`, {});
      expect(reads).toBe(before + 1); // the abandoned job was not started
      expect(logged.filter((l) => l.includes("client_gone") || l.includes("went away"))).toEqual([]);
    } finally {
      release();
      await first.catch(() => undefined);
    }
  }, 60_000);
});

describe("an activation's impact", () => {
  it("does not wait behind a reader's report job: an activation (a rollback) is never held off by readers", async () => {
    // Its own version: the other test's must stay a candidate.
    const mine = String(
      (
        await asAdmin(t, "POST", "/admin/v1/schemes", {
          yaml: CANDIDATE.replace("g7-embargo-in", "g7-embargo-in-2"),
        })
      ).version,
    );
    const digest = (await asAdmin(t, "POST", `/admin/v1/schemes/${mine}/what-if`, {})).digest as string;
    let release: () => void = () => undefined;
    hold = new Promise((r) => (release = r));
    const firstRead = new Promise<void>((r) => (reached = r));
    const footprint = fetch(`${t.url}/admin/v1/reports/footprint`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    try {
      await firstRead; // the footprint holds the principals' read, and the queue
      const activated = await asAdmin(t, "POST", `/admin/v1/schemes/${mine}/activate`, {
        reason: "roll back the embargo change",
        what_if: digest,
      });
      expect(activated).toMatchObject({ version: Number(mine) });
    } finally {
      release();
      await (await footprint).text();
    }
  }, 60_000);
});

describe("ReportQueue", () => {
  it("starts no job whose caller has gone by its turn, and goes on with the next", async () => {
    const q = new ReportQueue();
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    const waited: string[] = [];
    const a = q.run(async () => {
      await held;
      ran.push("a");
    });
    let gone = false;
    const b = q.run(
      async () => void ran.push("b"),
      () => waited.push("b"),
      () => gone,
    );
    const c = q.run(
      async () => void ran.push("c"),
      () => waited.push("c"),
    );
    gone = true;
    release();
    await a;
    await expect(b).rejects.toMatchObject({ code: "client_gone" });
    await c;
    expect(ran).toEqual(["a", "c"]);
    expect(waited).toEqual(["b", "c"]);
    // A waiting call that throws holds up neither the queue nor the one-at-a-time rule.
    let running = 0;
    let most = 0;
    const job = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running--;
    };
    const first = q.run(job);
    const thrower = q.run(job, () => {
      throw new Error("progress lost");
    });
    await Promise.all([first, expect(thrower).rejects.toThrow("progress lost"), q.run(job, () => undefined)]);
    expect(most).toBe(1);
    // A job that fails does not hold up the next.
    await expect(q.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await q.run(async () => void ran.push("d"));
    expect(ran).toEqual(["a", "c", "d"]);
  });
});
