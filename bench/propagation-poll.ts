/**
 * HTTP for `npm run bench:propagation`: the admin API client used on node A, the probe request and
 * how its answer is classified, and `watch`, the poller of node B.
 */
import type { Pool } from "undici";
import type { Options } from "./propagation-options.js";

export const MODEL = "mythos-5";

export interface Reply {
  readonly status: number;
  readonly decision: string | undefined;
  readonly text: string;
}

export interface Req {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export async function send(pool: Pool, req: Req): Promise<Reply> {
  const res = await pool.request({ ...req });
  const text = await res.body.text();
  const d = res.headers["x-clearance-decision"];
  return { status: res.statusCode, decision: Array.isArray(d) ? d[0] : d, text };
}

export class Admin {
  constructor(
    private readonly pool: Pool,
    private readonly token: string,
  ) {}

  async call<T = Record<string, unknown>>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    token = this.token,
  ): Promise<T> {
    const r = await send(this.pool, {
      method,
      path,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (r.status < 200 || r.status >= 300)
      throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 400)}`);
    return JSON.parse(r.text) as T;
  }
}

/** The cheap request B is polled with: the credential, the caller's country, the model. */
export function probe(key: string, country: string, mode: Options["poll"]): Req {
  const headers = { authorization: `Bearer ${key}`, "x-demo-country": country };
  if (mode === "models") return { method: "GET", path: `/v1/models/${MODEL}`, headers };
  return {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
  };
}

export type State = "allowed" | "refused" | "other";

/** Allowed: served as asked. Refused: 401 (key), 403 (deny), or served through a fallback. */
export function classify(r: Reply): State {
  if (r.status === 401 || r.status === 403) return "refused";
  if (r.status !== 200) return "other";
  if (r.decision === "allow") return "allowed";
  if (r.decision === "fallback" || r.decision === "deny") return "refused";
  return "other";
}

// ---------------------------------------------------------------------------------------------
// Watching B: the poller

export interface Seen {
  /** performance.now() of the first response in the wanted state, and when that request was sent. */
  readonly firstRecv: number;
  readonly firstSent: number;
  /** The latest send time of a response still in the other state (-Infinity: none). */
  readonly lastOtherSent: number;
  readonly start: number;
  readonly end: number;
  readonly polls: number;
  readonly unexpected: number;
  /** Responses back in the old state although sent after the first one in the new state. */
  readonly regressions: number;
  readonly timedOut: boolean;
}

/** After the first response in the wanted state, B is polled this much longer to catch a flap back. */
const HOLD_MS = 20;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls B with `pollers` requests at a time, each sent as soon as the previous one is answered,
 * until a response is in state `want` (then `HOLD_MS` longer), or `timeoutMs` passes.
 */
export async function watch(
  pool: Pool,
  req: Req,
  want: "allowed" | "refused",
  pollers: number,
  timeoutMs: number,
  roundTrips: number[],
  unexpectedSamples: string[],
): Promise<Seen> {
  const start = performance.now();
  const deadline = start + timeoutMs;
  let firstRecv = Infinity;
  let firstSent = Infinity;
  let lastOtherSent = -Infinity;
  let polls = 0;
  let unexpected = 0;
  let regressions = 0;
  const poller = async () => {
    for (;;) {
      const now = performance.now();
      if (now >= deadline || now >= firstRecv + HOLD_MS) return;
      const sent = performance.now();
      let state: State;
      try {
        const r = await send(pool, req);
        state = classify(r);
        if (state === "other" && unexpectedSamples.length < 5)
          unexpectedSamples.push(`${r.status} ${r.decision}: ${r.text.slice(0, 200)}`);
      } catch (err) {
        state = "other";
        if (unexpectedSamples.length < 5) unexpectedSamples.push(String(err));
      }
      const recv = performance.now();
      polls++;
      roundTrips.push(recv - sent);
      if (state === want) {
        if (recv < firstRecv) {
          firstRecv = recv;
          firstSent = sent;
        }
      } else if (state === "other") {
        unexpected++;
        await sleep(1);
      } else {
        lastOtherSent = Math.max(lastOtherSent, sent);
        if (sent > firstRecv) regressions++;
      }
    }
  };
  await Promise.all(Array.from({ length: pollers }, poller));
  const end = performance.now();
  const timedOut = firstRecv === Infinity;
  return {
    firstRecv: timedOut ? end : firstRecv,
    firstSent: timedOut ? end : firstSent,
    lastOtherSent,
    start,
    end,
    polls,
    unexpected,
    regressions,
    timedOut,
  };
}
