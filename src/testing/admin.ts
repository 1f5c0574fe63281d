/** Helpers for admin API tests over real HTTP: calls, identities, gateway requests, audit entries. */
import { setTimeout as pause } from "node:timers/promises";
import { inspect } from "node:util";
import { getCurrentTest } from "vitest/suite";
import { decodeBundle } from "../audit/tiles.js";
import { ADMIN_TOKEN, type TestGateway } from "./gateway.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read loosely in tests
export type Json = any;

export interface Reply {
  readonly status: number;
  readonly body: Json;
  readonly headers: Headers;
}

/** One admin API call; `token` null sends no Authorization header. */
export async function call(
  t: TestGateway,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : (JSON.parse(text) as Json), headers: res.headers };
}

/** An admin API POST to the gateway at `url` as `token` (the bootstrap admin's by default); the raw response. */
export const adminPost =
  (url: () => string, token = ADMIN_TOKEN) =>
  (path: string, body: unknown): Promise<Response> =>
    fetch(`${url()}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

/** One chat completion to the gateway at `url` with an API key from a country (x-test-country). */
export const chat = (url: string, key: string, country = "GB", model = "mythos-5"): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      "x-test-country": country,
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });

/** The headers of erik's chat completions on his license BIS-2026-0001: for cyber-defense, from Germany. */
export const erikLicensedHeaders = (t: TestGateway): Record<string, string> => ({
  authorization: `Bearer ${t.keys.get("erik")}`,
  "content-type": "application/json",
  "x-test-country": "DE",
  "x-clearance-purpose": "cyber-defense",
});

/** Calls as the bootstrap admin and expects the given status (the body is returned). */
export async function asAdmin(
  t: TestGateway,
  method: string,
  path: string,
  body?: unknown,
  status = method === "POST" && /\/(licenses|partners|keys|principals|identities|schemes)$/.test(path)
    ? 201
    : 200,
): Promise<Json> {
  const r = await call(t, ADMIN_TOKEN, method, path, body);
  if (r.status !== status) {
    throw new Error(`${method} ${path}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r.body;
}

/** Creates an admin identity with the bootstrap token; returns its token. */
export async function createIdentity(
  t: TestGateway,
  id: string,
  roles: readonly string[],
  organization?: string,
): Promise<string> {
  const body = await asAdmin(t, "POST", "/admin/v1/identities", {
    id,
    name: `test identity ${id}`,
    roles,
    ...(organization === undefined ? {} : { organization }),
  });
  return body.token as string;
}

/** An ISO date-time `days` from now. */
export const daysFromNow = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString();

/** A license application valid from yesterday for a year; `over` replaces fields. */
export function application(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    licensee: { organization: "bw-cyber" },
    models: ["mythos-5"],
    actions: ["infer"],
    destinations: ["FR"],
    nationalities: ["DE"],
    valid_from: daysFromNow(-1),
    valid_until: daysFromNow(365),
    quota_tokens: 1_000_000,
    justification: "analysts of bw-cyber working from the French liaison office",
    ...over,
  };
}

export interface Asked {
  readonly status: number;
  readonly decision: string | null;
  readonly reason: string | null;
  readonly served: string | null;
  readonly requestId: string;
  readonly text: string;
}

/** A chat completion by an example principal from a country (header x-test-country). */
export async function ask(
  t: TestGateway,
  principal: string,
  country: string,
  o: { model?: string; stream?: boolean; purpose?: string } = {},
): Promise<Asked> {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(principal)}`,
      "content-type": "application/json",
      "x-test-country": country,
      ...(o.purpose === undefined ? {} : { "x-clearance-purpose": o.purpose }),
    },
    body: JSON.stringify({
      model: o.model ?? "mythos-5",
      messages: [{ role: "user", content: "hello" }],
      ...(o.stream ? { stream: true } : {}),
    }),
  });
  const text = await res.text();
  return {
    status: res.status,
    decision: res.headers.get("x-clearance-decision"),
    reason: res.headers.get("x-clearance-reason"),
    served: res.headers.get("x-clearance-served-model"),
    requestId: res.headers.get("x-clearance-request-id") ?? "",
    text,
  };
}

/**
 * Asks `fn` again, every 20 ms, until `done` holds, for changes that must reach the data plane.
 * Bounded by the running test, not by a time of its own (2 s was short on a loaded CI machine): it
 * stops asking when the test's time limit aborts `signal` (default: the running test's), saying what
 * it last saw in the test's time-out error, and when the test finishes any other way (vitest aborts
 * the signal only on a time-out, so a test failing beside it would leave it asking into later tests).
 * In a hook, where no test runs, it gives up after half of vitest's hookTimeout (60 s if unknown), so
 * that its error, saying what it last saw, comes before vitest's bare "Hook timed out".
 */
export async function eventually<T>(
  fn: () => Promise<T>,
  done: (v: T) => boolean,
  signal: AbortSignal | undefined = getCurrentTest()?.context.signal,
): Promise<T> {
  // Set before the first ask: a test failing beside it may finish while that ask is out.
  const own = new AbortController();
  const test = getCurrentTest();
  test?.context.onTestFinished(() => own.abort());
  const limit = test === undefined ? hookLimit() : undefined;
  const timer = limit === undefined ? undefined : setTimeout(() => own.abort(), limit);
  const stop = signal === undefined ? own.signal : AbortSignal.any([signal, own.signal]);
  let last: T;
  const lastSeen = () =>
    `eventually(): the last seen, ${inspect(last, { depth: 6, breakLength: Infinity }).slice(0, 2_000)}`;
  // Said as the test's time-out error is made, before vitest records it.
  const tell = () => {
    const reason: unknown = signal?.reason;
    if (reason instanceof Error) {
      const was = reason.message;
      reason.message = `${was}\n${lastSeen()}`;
      if (reason.stack !== undefined) reason.stack = reason.stack.replace(was, reason.message);
    }
  };
  try {
    last = await fn();
    signal?.addEventListener("abort", tell, { once: true });
    while (!done(last)) {
      await pause(20, undefined, { signal: stop }).catch(() => undefined);
      if (stop.aborted) {
        const after = limit !== undefined && own.signal.aborted ? ` after ${limit} ms in a hook` : "";
        throw new Error(`stopped waiting${after}: ${lastSeen()}`);
      }
      last = await fn();
    }
    return last;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", tell);
  }
}

/** How long `eventually()` asks in a hook: half of vitest's hookTimeout, leaving the hook time for its setup. */
function hookLimit(): number {
  // vitest has no public reader of its config; its worker state holds it (vi.setConfig writes there).
  const worker = (globalThis as { __vitest_worker__?: { config?: { hookTimeout?: unknown } } })
    .__vitest_worker__;
  const timeout = worker?.config?.hookTimeout;
  return typeof timeout === "number" && timeout > 0 ? Math.floor(timeout / 2) : 60_000;
}

/**
 * An admin POST whose body is sent exactly as written: escapes (`\b`, `\u001B`, a lone surrogate's
 * `\ud800`) as the client chose them, which `JSON.stringify` would rewrite.
 */
export async function postText(
  t: TestGateway,
  path: string,
  text: string,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: text,
  });
  return { status: res.status, body: (await res.json()) as Json };
}

/** The body registering organization partner `id` (GB, mythos-5 inference) for `reason`. */
export const partnerBody = (id: string, reason: string, extra: Record<string, unknown> = {}) => ({
  kind: "organization",
  partner: {
    id,
    country: "GB",
    assurance: "none",
    grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    ...extra,
  },
  reason,
});

/** Every entry of the gateway's audit log, read over HTTP from the published entry tiles. */
export async function auditEntries(t: TestGateway): Promise<Record<string, Json>[]> {
  await t.gateway.audit.log.publish();
  const size = t.gateway.audit.log.published?.size ?? 0n;
  const out: Record<string, Json>[] = [];
  for (let i = 0n; i * 256n < size; i++) {
    const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
    const path = `tile/entries/${String(i).padStart(3, "0")}${width === 256 ? "" : `.p/${width}`}`;
    const res = await fetch(`${t.url}/audit/${path}`);
    if (res.status !== 200) throw new Error(`/audit/${path}: ${res.status}`);
    for (const e of decodeBundle(Buffer.from(await res.arrayBuffer()), width))
      out.push(JSON.parse(e.toString()) as Record<string, Json>);
  }
  return out;
}

/**
 * Organization partner acme-lab (GB, mythos-5, 2 requests a minute) with one member, gwen; returns
 * gwen's API key. `post` sends an admin API call as an administrator.
 */
export async function rateLimitedMember(
  post: (path: string, body: unknown) => Promise<Response>,
): Promise<string> {
  const partner = {
    id: "acme-lab",
    country: "GB",
    assurance: "none",
    grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    rate_limit: { requests_per_minute: 2 },
  };
  const created = await post("/admin/v1/partners", { kind: "organization", partner, reason: "vetted" });
  if (created.status !== 201) throw new Error(`partner: ${created.status} ${await created.text()}`);
  const active = await post("/admin/v1/partners/acme-lab/status", { status: "active", reason: "approved" });
  if (active.status !== 200) throw new Error(`partner status: ${active.status} ${await active.text()}`);
  await post("/admin/v1/principals", {
    id: "gwen",
    citizenships: [{ country: "GB" }],
    organization: "acme-lab",
  });
  return ((await (await post("/admin/v1/keys", { principal: "gwen" })).json()) as { key: string }).key;
}
