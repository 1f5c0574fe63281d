/**
 * The figures of `npm run bench:propagation`: statistics over the samples, and the result object
 * (printed as one JSON line, and with every sample written to bench/results/propagation.json).
 */
import { cpus, loadavg } from "node:os";
import { percentile, round } from "./gateway-measure.js";
import { describeDatabase, type FreshSchema } from "./postgres.js";
import type { Context, Sample } from "./propagation-changes.js";
import type { Options } from "./propagation-options.js";
import { MODEL } from "./propagation-poll.js";
import { resultHead } from "./results.js";

const GOAL_P99_MS = 1_000;

export function stats(values: readonly number[]) {
  if (values.length === 0) return { count: 0 };
  const s = Float64Array.from(values).sort();
  return {
    count: s.length,
    min_ms: round(s[0]!),
    p50_ms: round(percentile(s, 0.5)),
    p90_ms: round(percentile(s, 0.9)),
    p99_ms: round(percentile(s, 0.99)),
    max_ms: round(s[s.length - 1]!),
    mean_ms: round(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

/** What the report is made from: the options, the samples and what the run counted along the way. */
export interface Run {
  readonly opts: Options;
  readonly samples: readonly Sample[];
  readonly skipped: Record<string, string>;
  readonly ctx: Context | undefined;
  readonly db: FreshSchema;
  readonly dropped: boolean;
  readonly listenersAdded: number | null;
}

/** The result, without the samples. */
export function report({ opts, samples, skipped, ctx, db, dropped, listenersAdded }: Run) {
  const kinds = [...new Set(samples.map((s) => s.kind))];
  const figures = (xs: readonly Sample[]) => ({
    from_answer: stats(xs.map((s) => s.from_answer_ms)),
    from_sent: stats(xs.map((s) => s.from_sent_ms)),
  });
  const all = figures(samples);
  const timeouts = samples.filter((s) => s.timed_out).length;
  const p99 = (all.from_answer as { p99_ms?: number }).p99_ms ?? null;
  const p99Sent = (all.from_sent as { p99_ms?: number }).p99_ms ?? null;
  const intervals = samples.map((s) => s.poll_interval_ms);
  const notes = [
    `${cpus().length} cores shared by node A, node B, PostgreSQL and this process (the pollers)`,
    `B polled with ${opts.poll === "models" ? `GET /v1/models/${MODEL}` : `POST /v1/chat/completions (${MODEL})`}, ${opts.pollers} requests at a time on keep-alive connections, each sent when the previous one is answered`,
    "refused: 401 for a revoked key; for a suspended license or partner, the decision leaves allow (the scheme's fallback mythos-4 is served, x-clearance-decision: fallback)",
    "from_answer: B's first refusal received minus A's admin answer received (A answers after the commit, so this is the propagation the caller of the admin API sees); from_sent: minus the change request sent, an upper bound on commit → refusal",
    `a random pause of 0–${opts.pauseMs} ms before each change, so changes fall at every phase of a polling node's timer`,
    "timed-out samples count with the time waited",
  ];
  if (timeouts > 0) notes.push(`${timeouts} samples timed out after ${opts.timeoutMs} ms`);
  if (ctx !== undefined && ctx.unexpectedCount > 0)
    notes.push(`${ctx.unexpectedCount} unexpected responses from B, e.g. ${ctx.unexpected.join(" | ")}`);

  const out = {
    ...resultHead("propagation"),
    loadavg: loadavg().map((x) => round(x, 2)),
    settings: {
      samples: Object.fromEntries(kinds.map((k) => [k, samples.filter((s) => s.kind === k).length])),
      pollers: opts.pollers,
      poll: opts.poll === "models" ? `GET /v1/models/${MODEL}` : "POST /v1/chat/completions",
      pause_ms: opts.pauseMs,
      timeout_ms: opts.timeoutMs,
      refresh_ms: opts.refreshMs ?? "node default",
    },
    database: { server: describeDatabase(db.url), version: db.server, schema: db.schema, dropped },
    /** LISTEN connections on the server after the nodes started minus before (2: both nodes listen). */
    listen_connections_added: listenersAdded,
    propagation: {
      all,
      ...Object.fromEntries(kinds.map((k) => [k, figures(samples.filter((s) => s.kind === k))])),
    },
    uncertainty: stats(samples.flatMap((s) => (s.uncertainty_ms === null ? [] : [s.uncertainty_ms]))),
    admin_answer: stats(samples.map((s) => s.admin_ms)),
    key_create_visible_on_b: stats(
      samples.flatMap((s) => (s.create_visible_ms === undefined ? [] : [s.create_visible_ms])),
    ),
    restore: Object.fromEntries(
      kinds
        .filter((k) => k !== "key_revoke")
        .map((k) => [k, stats(samples.filter((s) => s.kind === k).map((s) => s.restore_ms!))]),
    ),
    polling: {
      interval_ms: {
        p50: round(percentile(Float64Array.from(intervals).sort(), 0.5)),
        max: round(Math.max(...intervals)),
      },
      round_trip: stats(ctx?.roundTrips ?? []),
      goal_interval_ms: "< 5",
    },
    anomalies: {
      timeouts,
      regressions: ctx?.regressions ?? 0,
      a_not_refusing: samples.filter((s) => !s.a_refuses).length,
      unexpected_responses: ctx?.unexpectedCount ?? 0,
    },
    skipped,
    goal: {
      metric: "p99 of from_answer (A's answer to the change → B's first refusal), all change kinds",
      goal: `<= ${GOAL_P99_MS} ms`,
      value: p99,
      met: p99 === null ? null : p99 <= GOAL_P99_MS && timeouts === 0,
      from_sent_p99_ms: p99Sent,
      met_from_sent: p99Sent === null ? null : p99Sent <= GOAL_P99_MS && timeouts === 0,
    },
    notes,
  };
  return out;
}
