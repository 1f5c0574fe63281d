/**
 * The changes `npm run bench:propagation` times, each made through node A while node B is polled:
 * key revocation (a new principal and key per sample), license suspension and partner suspension
 * (each set up once, then suspended and undone per sample); and the figures of one sample.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Pool } from "undici";
import { round } from "./gateway-measure.js";
import { repoRoot } from "./gateway-procs.js";
import type { Options } from "./propagation-options.js";
import {
  classify,
  MODEL,
  probe,
  send,
  sleep,
  watch,
  type Admin,
  type Req,
  type Seen,
} from "./propagation-poll.js";

// ---------------------------------------------------------------------------------------------
// One sample: a change made through A, measured on B

export type Kind = "key_revoke" | "license_suspend" | "partner_suspend";

export interface Sample {
  kind: Kind;
  /** B's first refusal received − A's answer to the change received. */
  from_answer_ms: number;
  /** B's first refusal received − the change request sent. */
  from_sent_ms: number;
  /** A's admin API: change request sent → answer received. */
  admin_ms: number;
  /** B changed between the last poll still allowed (sent) and the first refusal (received). */
  uncertainty_ms: number | null;
  /** Mean time between two polls of B (all pollers together) while waiting. */
  poll_interval_ms: number;
  polls: number;
  timed_out: boolean;
  /** Key revocations: the new key's creation answered by A → first success on B. */
  create_visible_ms?: number;
  /** License and partner: the change undone through A → B allows again (from A's answer). */
  restore_ms?: number;
  /** Whether A itself refused right after the measurement (it must). */
  a_refuses: boolean;
}

export interface Context {
  readonly opts: Options;
  readonly admin: Admin;
  readonly a: Pool;
  readonly b: Pool;
  readonly roundTrips: number[];
  readonly unexpected: string[];
  regressions: number;
  unexpectedCount: number;
}

/** Starts polling B, makes the change through A, waits for B to reach `want`. */
async function measureChange(
  ctx: Context,
  req: Req,
  want: "allowed" | "refused",
  change: () => Promise<unknown>,
) {
  const seen = watch(ctx.b, req, want, ctx.opts.pollers, ctx.opts.timeoutMs, ctx.roundTrips, ctx.unexpected);
  const sent = performance.now();
  await change();
  const answered = performance.now();
  const s = await seen;
  ctx.regressions += s.regressions;
  ctx.unexpectedCount += s.unexpected;
  return { sent, answered, seen: s };
}

async function waitFor(ctx: Context, req: Req, want: "allowed" | "refused", what: string): Promise<Seen> {
  const s = await watch(
    ctx.b,
    req,
    want,
    ctx.opts.pollers,
    ctx.opts.timeoutMs,
    ctx.roundTrips,
    ctx.unexpected,
  );
  ctx.unexpectedCount += s.unexpected;
  if (s.timedOut) throw new Error(`node B: ${what} not ${want} after ${ctx.opts.timeoutMs} ms`);
  return s;
}

function sampleOf(kind: Kind, m: Awaited<ReturnType<typeof measureChange>>, aRefuses: boolean): Sample {
  const { sent, answered, seen } = m;
  return {
    kind,
    from_answer_ms: round(seen.firstRecv - answered),
    from_sent_ms: round(seen.firstRecv - sent),
    admin_ms: round(answered - sent),
    uncertainty_ms: seen.lastOtherSent === -Infinity ? null : round(seen.firstRecv - seen.lastOtherSent),
    poll_interval_ms: round((seen.end - seen.start) / Math.max(1, seen.polls)),
    polls: seen.polls,
    timed_out: seen.timedOut,
    a_refuses: aRefuses,
  };
}

const pause = (ctx: Context) => sleep(Math.random() * ctx.opts.pauseMs);

async function aRefuses(ctx: Context, req: Req): Promise<boolean> {
  return classify(await send(ctx.a, req)) === "refused";
}

// ---------------------------------------------------------------------------------------------
// The change kinds

export async function keySample(ctx: Context, i: number): Promise<Sample> {
  const principal = `bench-p${i}`;
  await ctx.admin.call("POST", "/admin/v1/principals", { id: principal, citizenships: [{ country: "US" }] });
  const created = await ctx.admin.call<{ key: string; id: string }>("POST", "/admin/v1/keys", {
    principal,
    label: "propagation bench",
  });
  const createdAt = performance.now();
  const req = probe(created.key, "US", ctx.opts.poll);
  const visible = await waitFor(ctx, req, "allowed", `key ${created.id}`);
  await pause(ctx);
  const m = await measureChange(ctx, req, "refused", () =>
    ctx.admin.call("POST", `/admin/v1/keys/${created.id}/revoke`, {}),
  );
  return {
    ...sampleOf("key_revoke", m, await aRefuses(ctx, req)),
    create_visible_ms: round(visible.firstRecv - createdAt),
  };
}

/** A change that is undone after each sample (license suspend/reinstate, partner suspend/activate). */
export interface Toggle {
  readonly kind: Kind;
  readonly req: Req;
  suspend(): Promise<unknown>;
  restore(): Promise<unknown>;
}

export async function toggleSample(ctx: Context, t: Toggle): Promise<Sample> {
  await pause(ctx);
  const m = await measureChange(ctx, t.req, "refused", () => t.suspend());
  const refusedOnA = await aRefuses(ctx, t.req);
  const back = await measureChange(ctx, t.req, "allowed", () => t.restore());
  if (back.seen.timedOut) throw new Error(`${t.kind}: node B never allowed again after the restore`);
  return { ...sampleOf(t.kind, m, refusedOnA), restore_ms: round(back.seen.firstRecv - back.answered) };
}

const examplePrincipal = (file: string) =>
  JSON.parse(readFileSync(join(repoRoot(), "examples", "principals", file), "utf8")) as Record<
    string,
    unknown
  >;

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

/**
 * A license through the admin API (applied for by the admin, approved by two approver identities)
 * for devi, an engineer of an Indian organization: outside every partner, she is allowed mythos-5
 * only under it; suspended, she gets the fallback.
 */
export async function licenseToggle(ctx: Context): Promise<Toggle> {
  const approvers: string[] = [];
  for (const n of [1, 2]) {
    const r = await ctx.admin.call<{ token: string }>("POST", "/admin/v1/identities", {
      id: `bench-approver-${n}`,
      name: `Benchmark approver ${n}`,
      roles: ["approver"],
    });
    approvers.push(r.token);
  }
  const devi = examplePrincipal("in-engineer.json");
  await ctx.admin.call("POST", "/admin/v1/principals", devi);
  const { key } = await ctx.admin.call<{ key: string }>("POST", "/admin/v1/keys", { principal: devi.id });
  const org = (devi.organization as { id: string }).id;
  const id = "LIC-BENCH-PROPAGATION";
  await ctx.admin.call("POST", "/admin/v1/licenses", {
    id,
    licensee: { organization: org },
    models: [MODEL],
    actions: ["infer"],
    destinations: ["IN"],
    nationalities: ["IN"],
    valid_from: day(-1),
    valid_until: day(365),
    justification: "propagation benchmark",
  });
  for (const token of approvers) await ctx.admin.call("POST", `/admin/v1/licenses/${id}/approve`, {}, token);
  const req = probe(key, "IN", ctx.opts.poll);
  await waitFor(ctx, req, "allowed", `devi under license ${id}`);
  const reason = { reason: "propagation benchmark" };
  return {
    kind: "license_suspend",
    req,
    suspend: () => ctx.admin.call("POST", `/admin/v1/licenses/${id}/suspend`, reason),
    restore: () => ctx.admin.call("POST", `/admin/v1/licenses/${id}/reinstate`, reason),
  };
}

/** The country partner g7-fvey (seeded from the scheme) and benoit, a French national, in France. */
export async function partnerToggle(ctx: Context): Promise<Toggle> {
  const partner = "g7-fvey";
  const found = await ctx.admin.call<{ partner: { status: string } }>("GET", `/admin/v1/partners/${partner}`);
  if (found.partner.status !== "active") throw new Error(`partner ${partner} is ${found.partner.status}`);
  const benoit = examplePrincipal("fr-researcher.json");
  await ctx.admin.call("POST", "/admin/v1/principals", benoit);
  const { key } = await ctx.admin.call<{ key: string }>("POST", "/admin/v1/keys", { principal: benoit.id });
  const req = probe(key, "FR", ctx.opts.poll);
  await waitFor(ctx, req, "allowed", `benoit under partner ${partner}`);
  const path = `/admin/v1/partners/${partner}/status`;
  return {
    kind: "partner_suspend",
    req,
    suspend: () => ctx.admin.call("POST", path, { status: "suspended", reason: "propagation benchmark" }),
    restore: () => ctx.admin.call("POST", path, { status: "active", reason: "propagation benchmark" }),
  };
}
