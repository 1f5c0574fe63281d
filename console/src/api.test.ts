/**
 * The admin API's errors as the console says them: an answer that is not the API's JSON (a
 * proxy's HTML 502 page, a load balancer's text) is said with its status, not as a JSON parse error.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  api,
  ApiError,
  apiWithProgress,
  limiter,
  listFirst,
  NOT_YET_IN_FORCE,
  type NotYetInForce,
} from "./api.js";

const PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";

beforeEach(() => {
  const stored = new Map<string, string>([["clearance.token", "clra_test"]]);
  vi.stubGlobal("sessionStorage", {
    getItem: (k: string) => stored.get(k) ?? null,
    setItem: (k: string, v: string) => stored.set(k, v),
    removeItem: (k: string) => stored.delete(k),
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
});

const answering = (status: number, body: string, type = "text/html", statusText = "") =>
  vi.stubGlobal("fetch", () =>
    Promise.resolve(new Response(body, { status, statusText, headers: { "content-type": type } })),
  );

const failure = async (call: Promise<unknown>): Promise<ApiError> => {
  const err: unknown = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
};

describe("an answer that is not the API's", () => {
  it("api(): a proxy's HTML 502 is said with its status", async () => {
    answering(502, PROXY_PAGE, "text/html", "Bad Gateway");
    const err = await failure(api("GET", "/licenses"));
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/^the server answered 502 Bad Gateway/);
    expect(err.message).not.toMatch(/Unexpected token|JSON/);
  });

  it("apiWithProgress(): the same, for a long job refused by a proxy", async () => {
    answering(504, "upstream timed out", "text/plain");
    const err = await failure(apiWithProgress("POST", "/schemes/2/what-if", {}, () => undefined));
    expect(err.status).toBe(504);
    expect(err.message).toMatch(/^the server answered 504/);
    expect(err.message).not.toMatch(/Unexpected token|JSON/);
  });

  it("api(): a 200 that is not JSON (a proxy's login page) is an error, not a parse exception", async () => {
    answering(200, PROXY_PAGE);
    const err = await failure(api("GET", "/me"));
    expect(err.status).toBe(200);
    expect(err.message).not.toMatch(/Unexpected token|JSON/);
  });

  it("apiWithProgress(): a progress line that is not the API's is said with the status, and what it means", async () => {
    const progress = JSON.stringify({ progress: { stage: "reading", done: 1, total: 2 } });
    for (const [line, changes] of [
      ["<html><body>502 Bad Gateway</body></html>", true],
      ["null", true],
      ["<html><body>502 Bad Gateway</body></html>", false],
    ] as const) {
      answering(200, `${progress}\n${line}\n`, "application/x-ndjson");
      const seen: unknown[] = [];
      const err = await failure(
        apiWithProgress("POST", "/screening/rescreen", {}, (p) => seen.push(p), { changes }),
      );
      expect(seen).toHaveLength(1);
      expect(err.status).toBe(200);
      expect(err.code).toBe("not_the_api");
      expect(err.message).toMatch(/a line that is not the admin API's/);
      expect(err.message).not.toMatch(/Unexpected token|JSON|null/);
      if (changes) expect(err.message).toMatch(/may or may not have been applied/);
      else expect(err.message).toMatch(/try again$/);
    }
  });

  it("the API's own errors are said as before", async () => {
    answering(
      409,
      JSON.stringify({ error: { code: "conflict", message: "already approved", problems: [] } }),
      "application/json",
    );
    const err = await failure(api("POST", "/licenses/X/approve", {}));
    expect([err.status, err.code, err.message]).toEqual([409, "conflict", "already approved"]);
  });
});

describe("limiter", () => {
  it("runs at most `limit` tasks at once, every task in the end", async () => {
    const run = limiter(6);
    let now = 0;
    let max = 0;
    const ends: (() => void)[] = [];
    const all = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        run(async () => {
          max = Math.max(max, ++now);
          await new Promise<void>((end) => ends.push(end));
          now--;
          return i;
        }),
      ),
    );
    // End the tasks one by one as they start, until all 40 have run.
    for (let ended = 0; ended < 40; ended++) {
      await vi.waitFor(() => expect(ends.length).toBeGreaterThan(0));
      ends.shift()?.();
    }
    expect(await all).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(max).toBe(6);
  });
});

describe("a change stored but not yet in force on this node", () => {
  const PENDING = {
    code: "reload_failed",
    message: "API key k1 was changed in the store, but is not yet in force on this node: …",
    node: "gw-2",
  };
  /** What NOT_YET_IN_FORCE said while `fn` ran. */
  const said = async (fn: () => Promise<unknown>): Promise<{ value: unknown; said: NotYetInForce[] }> => {
    const events = new EventTarget();
    vi.stubGlobal("window", events);
    const heard: NotYetInForce[] = [];
    events.addEventListener(NOT_YET_IN_FORCE, (e) => heard.push((e as CustomEvent<NotYetInForce>).detail));
    return { value: await fn(), said: heard };
  };

  it("api(): the answer's not_yet_in_force is said, and the answer returned as it is", async () => {
    answering(
      200,
      JSON.stringify({ id: "k1", revoked: true, not_yet_in_force: PENDING }),
      "application/json",
    );
    const r = await said(() => api("POST", "/keys/k1/revoke"));
    expect(r.said).toEqual([PENDING]);
    expect(r.value).toMatchObject({ id: "k1", revoked: true });
  });

  it("apiWithProgress(): a long job's result with not_yet_in_force is said too", async () => {
    const lines = [
      { progress: { stage: "screening", done: 1, total: 2 } },
      { result: { not_yet_in_force: PENDING } },
    ];
    answering(200, lines.map((l) => JSON.stringify(l)).join("\n") + "\n", "application/x-ndjson");
    const r = await said(() => apiWithProgress("POST", "/screening/rescreen", undefined, () => undefined));
    expect(r.said).toEqual([PENDING]);
  });

  it("an answer in force, a list, or a field not in the API's shape says nothing", async () => {
    for (const body of [
      { id: "k1", revoked: true },
      [{ not_yet_in_force: PENDING }],
      { not_yet_in_force: "x" },
    ]) {
      answering(200, JSON.stringify(body), "application/json");
      expect((await said(() => api("POST", "/keys/k1/revoke"))).said).toEqual([]);
    }
  });
});

describe("listFirst", () => {
  /** A list of `n` rows served as the API pages it (by id, `limit` at most 500, `next_cursor`). */
  const serving = (n: number) => {
    const ids = Array.from({ length: n }, (_, i) => `r${String(i).padStart(5, "0")}`);
    const asked: string[] = [];
    vi.stubGlobal("fetch", (url: string) => {
      const q = new URL(url, "http://console.test").searchParams;
      asked.push(q.toString());
      const limit = Number(q.get("limit"));
      const cursor = q.get("cursor");
      const start = cursor === null ? 0 : ids.indexOf(cursor) + 1;
      const data = ids.slice(start, start + limit).map((id) => ({ id }));
      const more = start + limit < ids.length;
      const body = JSON.stringify({ data, next_cursor: more ? (data.at(-1)?.id ?? null) : null });
      return Promise.resolve(new Response(body, { headers: { "content-type": "application/json" } }));
    });
    return asked;
  };

  it("a short list: every row, nothing said to be left", async () => {
    serving(3);
    const r = await listFirst<{ id: string }>("/keys");
    expect(r.rows.map((x) => x.id)).toEqual(["r00000", "r00001", "r00002"]);
    expect(r.more).toBe(false);
  });

  it("a list of exactly the bound: every row, none more", async () => {
    serving(500);
    const r = await listFirst("/keys");
    expect([r.rows.length, r.more]).toEqual([500, false]);
  });

  it("a long list: the first `bound` rows, read page by page, and that there are more", async () => {
    const asked = serving(20_000);
    const r = await listFirst<{ id: string }>("/screening/matches?status=cleared", 1200);
    expect(r.rows).toHaveLength(1200);
    expect(r.rows.at(-1)?.id).toBe("r01199");
    expect(r.more).toBe(true);
    // Three pages, the last no larger than what remains: not the 40 pages of the whole list.
    expect(asked).toEqual([
      "status=cleared&limit=500",
      "status=cleared&limit=500&cursor=r00499",
      "status=cleared&limit=200&cursor=r00999",
    ]);
  });
});
