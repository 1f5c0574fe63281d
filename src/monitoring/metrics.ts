/**
 * The gateway's Prometheus metrics (prom-client, one registry per gateway). Per request, the
 * observer updates counters and histograms through children cached by label values (prom-client's
 * own label look-up hashes an object each time). Gauges that describe state — quotas, the audit
 * log, the snapshot — are read when scraped, never on the request path.
 *
 * Label sets are bounded: models are the scheme's (anything else is "other"), countries are ISO
 * codes, reasons and routes are the product's own codes. No principal, key or organization id is
 * ever a label; licenses are (an administrator creates them, a client cannot).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { FastCounter, FastHistogram } from "./fast.js";
import type { Decision } from "../policy/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import type { ObservedRequest } from "../gateway/observer.js";
import type { DatabaseStatus } from "../location/index.js";

/** What the scrape-time gauges read. Every member is optional: a decision API alone has none. */
export interface MetricSources {
  readonly scheme?: () => CompiledScheme;
  /** A license's tokens in its current quota period (every node's, with shared counters). */
  readonly licenseUsage?: (license: string, period: "month" | "quarter" | "total") => Promise<number>;
  readonly audit?: () => { readonly size: bigint; readonly published: bigint | null };
  /** `unconfirmedMs`: how long since the store last confirmed the snapshot (monotonic). */
  readonly snapshot?: () => { readonly unconfirmedMs: number; readonly version: number };
  /** Why the shared counters cannot be reached, or null. */
  readonly countersUnavailable?: () => string | null;
  /** What the shared counters' eviction policy risks (Redis: not noeviction), or null. */
  readonly countersEvictionRisk?: () => string | null;
  /** Partners and licenses left out of the policy in force (they do not compile with it). */
  readonly leftOut?: () => readonly { readonly kind: "partner" | "license" }[];
  /** New or changed subjects waiting on a background screening that has failed since. */
  readonly screeningUnscreened?: () => number;
  /** The country database in use (location.mmdb): its build time, and a replacement refused. */
  readonly locationDatabase?: () => DatabaseStatus;
  /** The usage journal: appends failed since start, and rows appended the store has not taken. */
  readonly usageJournal?: () => { readonly appendFailures: number; readonly pendingRows: number };
  /** Federated principals' records waiting on this node to be written to the store. */
  readonly federatedPending?: () => number;
}

/** Seconds, from 100 µs (a denial) to two minutes (a long generation). */
const LATENCY = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
  120,
];
/** OpenTelemetry GenAI semantic conventions' advice for gen_ai.client.token.usage. */
const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** OpenTelemetry GenAI advice for gen_ai.server.time_to_first_token. */
const GENAI_SECONDS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** Bounded route label, from the path. */
const ROUTES: ReadonlyMap<string, string> = new Map([
  ["/v1/chat/completions", "chat.completions"],
  ["/v1/completions", "completions"],
  ["/v1/embeddings", "embeddings"],
  ["/v1/responses", "responses"],
  ["/v1/messages", "messages"],
  ["/v1/messages/count_tokens", "messages.count_tokens"],
  ["/v1/models", "models"],
  ["/v1/decisions", "decisions"],
  ["/healthz", "health"],
  ["/readyz", "health"],
  ["/metrics", "metrics"],
]);

/** The routes whose requests the gateway decides: the ones clearance_gateway_overhead_seconds is about. */
const OVERHEAD_ROUTES: ReadonlySet<string> = new Set([
  "chat.completions",
  "completions",
  "embeddings",
  "responses",
  "messages",
  "messages.count_tokens",
  "models",
  "decisions",
]);

export function routeLabel(path: string): string {
  const known = ROUTES.get(path);
  if (known !== undefined) return known;
  if (path.startsWith("/v1/models/")) return "models";
  if (path.startsWith("/admin/")) return "admin";
  if (path.startsWith("/audit/")) return "audit";
  return "other";
}

/** gen_ai.operation.name for each route the gateway forwards. */
const OPERATION: Readonly<Record<string, string>> = {
  "chat.completions": "chat",
  completions: "text_completion",
  embeddings: "embeddings",
  responses: "chat",
  messages: "chat",
  "messages.count_tokens": "count_tokens",
};
export const operationName = (route: string): string => OPERATION[route] ?? "other";

/**
 * prom-client children by their label values, in nested maps: a look-up per label value, with the
 * values' own (cached) string hashes, rather than a key joined anew for every update.
 */
class Children<T> {
  private readonly root = new Map<string, unknown>();
  /** `depth`: how many label values a child has (1 to 5). */
  constructor(
    private readonly depth: number,
    private readonly make: (values: string[]) => T,
  ) {}
  get(a: string, b = "", c = "", d = "", e = ""): T {
    const n = this.depth;
    let m = this.root;
    if (n > 1) m = step(m, a);
    if (n > 2) m = step(m, b);
    if (n > 3) m = step(m, c);
    if (n > 4) m = step(m, d);
    const last = n === 1 ? a : n === 2 ? b : n === 3 ? c : n === 4 ? d : e;
    let child = m.get(last) as T | undefined;
    if (child === undefined) {
      child = this.make([a, b, c, d, e].slice(0, n));
      m.set(last, child);
    }
    return child;
  }
}

function step(m: Map<string, unknown>, key: string): Map<string, unknown> {
  let next = m.get(key) as Map<string, unknown> | undefined;
  if (next === undefined) {
    next = new Map();
    m.set(key, next);
  }
  return next;
}

const seconds = (from: number | null, to: number | null): number | null =>
  from === null || to === null ? null : (to - from) / 1000;

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Children<{ inc(): void }>;
  private readonly decisions: Children<{ inc(): void }>;
  private readonly byLocation: Children<{ inc(): void }>;
  private readonly rateLimited: Counter;
  private readonly overhead: Children<{ observe(v: number): void }>;
  private readonly upstream: Children<{ observe(v: number): void }>;
  private readonly firstToken: Children<{ observe(v: number): void }>;
  private readonly tokenUsage: Children<{ observe(v: number): void }>;
  private readonly append: { observe(v: number): void };
  private readonly errors: Counter<"source">;
  private readonly reloads: Counter;
  /** Set by screening once it exists (a queue of matches awaiting review). */
  readonly screeningQueue: Gauge;
  readonly alertsRaised: Counter<"detector" | "severity">;
  readonly webhookFailures: Counter;
  readonly alertResponseFailures: Counter<"detector">;
  private readonly federatedSetAsideCount: Counter;
  private readonly federatedDroppedCount: Counter;
  private readonly accessLogDropped: Counter;
  private readonly scheme: (() => CompiledScheme) | undefined;

  constructor(sources: MetricSources = {}, options: { readonly defaultMetrics?: boolean } = {}) {
    const r = this.registry;
    this.scheme = sources.scheme;
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: r });
      // Gauges named like counters: Prometheus' own checker refuses them.
      for (const name of [
        "nodejs_active_handles_total",
        "nodejs_active_requests_total",
        "nodejs_active_resources_total",
      ])
        r.removeSingleMetric(name);
    }
    const requests = new FastCounter(
      "clearance_http_requests_total",
      "HTTP requests answered, by route and status code.",
      ["route", "code"],
      r,
    );
    this.requests = new Children(2, (v) => requests.child(...v));
    const decisions = new FastCounter(
      "clearance_decisions_total",
      "Decisions (requests, model lookups, decision API calls) by outcome (allow, deny, fallback), reason code, requested and served model, and action.",
      ["decision", "reason", "model", "served_model", "action"],
      r,
    );
    this.decisions = new Children(5, (v) => decisions.child(...v));
    const byLocation = new FastCounter(
      "clearance_decisions_by_location_total",
      'Gateway decisions by outcome and the request\'s location (ISO 3166-1 alpha-2, or "unknown").',
      ["decision", "country"],
      r,
    );
    this.byLocation = new Children(2, (v) => byLocation.child(...v));
    this.rateLimited = new Counter({
      name: "clearance_rate_limit_refusals_total",
      help: "Requests refused because their organization was over its rate limit (429).",
      registers: [r],
    });
    const overhead = new FastHistogram(
      "clearance_gateway_overhead_seconds",
      "Time the gateway adds: from the request's arrival to forwarding it upstream (or to the end of its answer when not forwarded).",
      ["decision"],
      LATENCY,
      r,
    );
    this.overhead = new Children(1, (v) => overhead.child(...v));
    const upstream = new FastHistogram(
      "clearance_upstream_latency_seconds",
      "From forwarding a request to the upstream's response headers, by served model.",
      ["served_model"],
      LATENCY,
      r,
    );
    this.upstream = new Children(1, (v) => upstream.child(...v));
    const firstToken = new FastHistogram(
      "gen_ai_server_time_to_first_token_seconds",
      "Streamed responses: from forwarding the request to the upstream's first chunk (gen_ai.server.time_to_first_token).",
      ["gen_ai_operation_name", "gen_ai_request_model"],
      GENAI_SECONDS,
      r,
    );
    this.firstToken = new Children(2, (v) => firstToken.child(...v));
    const tokenUsage = new FastHistogram(
      "gen_ai_client_token_usage",
      "Tokens per forwarded request, by operation, served model and gen_ai.token.type (input, output); its _sum is the tokens by model and direction.",
      ["gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type"],
      TOKEN_BUCKETS,
      r,
    );
    this.tokenUsage = new Children(3, (v) => tokenUsage.child(...v));
    this.append = new FastHistogram(
      "clearance_audit_append_seconds",
      "From a decision to its audit entry being durable.",
      [],
      LATENCY,
      r,
    ).child();
    this.errors = new Counter({
      name: "clearance_errors_total",
      help: "Background errors by source: store, counters (shared Redis), audit, alerts.",
      labelNames: ["source"],
      registers: [r],
    });
    this.reloads = new Counter({
      name: "clearance_snapshot_reloads_total",
      help: "Times the in-memory snapshot was rebuilt after a change in the store.",
      registers: [r],
    });
    this.screeningQueue = new Gauge({
      name: "clearance_screening_queue_length",
      help: "Screening matches awaiting a reviewer.",
      registers: [r],
    });
    this.alertsRaised = new Counter({
      name: "clearance_alerts_raised_total",
      help: "Alerts raised by anomaly detectors, by detector and severity.",
      labelNames: ["detector", "severity"],
      registers: [r],
    });
    this.webhookFailures = new Counter({
      name: "clearance_alert_webhook_failures_total",
      help: "Alert webhook deliveries that failed, by the alert's detector and severity (each is retried).",
      labelNames: ["detector", "severity"],
      registers: [r],
    });
    this.alertResponseFailures = new Counter({
      name: "clearance_alert_response_failures_total",
      help: "Alert responses (suspensions) that failed, by detector (each is retried).",
      labelNames: ["detector"],
      registers: [r],
    });
    this.federatedSetAsideCount = new Counter({
      name: "clearance_federated_principals_set_aside_total",
      help: "Federated principals' records the store refused as invalid input, or on their own while it took others: set aside (each logged), not written; tried again with the person's next token a minute on.",
      registers: [r],
    });
    this.federatedDroppedCount = new Counter({
      name: "clearance_federated_principals_dropped_total",
      help: "Federated principals' records dropped unwritten because more than identity.max_pending_principals waited for the store (the least recently seen first); each is written again from its person's next token.",
      registers: [r],
    });
    this.accessLogDropped = new Counter({
      name: "clearance_access_log_dropped_lines_total",
      help: "Access log lines that could not be written (the destination failed, or held more than 8 MiB unwritten) and are lost.",
      registers: [r],
    });
    for (const source of ["store", "counters", "audit", "alerts"]) this.errors.labels(source).inc(0);
    this.scrapeGauges(sources);
  }

  /** One request, once it ended. */
  request(o: ObservedRequest): void {
    const route = routeLabel(o.path);
    this.requests.get(route, String(o.status)).inc();
    if (o.status === 429 && o.reason === "rate_limited") this.rateLimited.inc();
    const d = o.decision;
    const outcome = d === null ? "none" : d.decision;
    const untilForwarded = o.forwarded ?? o.end;
    if (d === null) {
      // Refused before any decision (no key, bad body): still the gateway's time — on its data
      // plane and decision API only (an admin what-if or an audit tile is not time added to a request).
      if (OVERHEAD_ROUTES.has(route)) this.overhead.get(outcome).observe((untilForwarded - o.start) / 1000);
      return;
    }
    this.overhead.get(outcome).observe((untilForwarded - o.start) / 1000);
    const model = this.model(d.model);
    const served = d.served_model === null ? "none" : this.model(d.served_model);
    this.decisions.get(outcome, d.reason, model, served, "infer").inc();
    this.byLocation.get(outcome, o.location ?? "unknown").inc();
    const appended = seconds(o.decided, o.recorded);
    if (appended !== null) this.append.observe(appended);
    if (o.forwarded === null) return;
    const op = operationName(route);
    const upstream = seconds(o.forwarded, o.answered);
    if (upstream !== null) this.upstream.get(served).observe(upstream);
    const first = seconds(o.forwarded, o.firstChunk);
    if (first !== null && o.streamed) this.firstToken.get(op, served).observe(first);
    if (o.inputTokens !== null) this.tokenUsage.get(op, served, "input").observe(o.inputTokens);
    if (o.outputTokens !== null) this.tokenUsage.get(op, served, "output").observe(o.outputTokens);
  }

  /** A decision made by the decision API (no request to forward, no location of its own). */
  decided(d: Decision, action: string): void {
    const served = d.served_model === null ? "none" : this.model(d.served_model);
    this.decisions.get(d.decision, d.reason, this.model(d.model), served, action).inc();
  }

  /** Screening's hook: how many matches wait for a reviewer. */
  setScreeningQueueLength(n: number): void {
    this.screeningQueue.set(n);
  }

  error(source: "store" | "counters" | "audit" | "alerts"): void {
    this.errors.labels(source).inc();
  }

  /** A federated principal's record the store refused on its own, set aside. */
  federatedSetAside(): void {
    this.federatedSetAsideCount.inc();
  }

  /** Federated principals' records dropped from the queue waiting for the store (Federation's maxPending). */
  federatedDropped(records: number): void {
    this.federatedDroppedCount.inc(records);
  }

  /** Access log lines lost (see openAccessLog). */
  accessLogLinesDropped(lines: number): void {
    this.accessLogDropped.inc(lines);
  }

  reloaded(): void {
    this.reloads.inc();
  }

  /** The exposition text, and its content type. */
  async expose(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** A scheme model's id as a label; a name the client made up is "other". */
  private model(id: string): string {
    const scheme = this.scheme?.();
    return scheme === undefined || scheme.models.has(id) ? id : "other";
  }

  private scrapeGauges(s: MetricSources): void {
    const r = this.registry;
    if (s.usageJournal !== undefined) {
      const journal = s.usageJournal;
      // The journal counts its own failures (it opens before the metrics): read at a scrape.
      new Counter({
        name: "clearance_usage_journal_append_failures_total",
        help: "Appends to the usage journal that failed (a failing disk): usage a crash would lose until an append works (each is put back for the next).",
        registers: [r],
        collect() {
          this.reset();
          this.inc(journal().appendFailures);
        },
      });
      new Gauge({
        name: "clearance_usage_journal_pending_rows",
        help: "Usage rows in this node's journal that the store has not taken yet: what a crash now leaves to the next start (grows while the store refuses batches).",
        registers: [r],
        collect() {
          this.set(journal().pendingRows);
        },
      });
    }
    if (s.federatedPending !== undefined) {
      const pending = s.federatedPending;
      new Gauge({
        name: "clearance_federated_principals_pending",
        help: "Federated principals' records waiting on this node to be written to the store (grows while the store takes none; at most identity.max_pending_principals).",
        registers: [r],
        collect() {
          this.set(pending());
        },
      });
    }
    if (s.scheme !== undefined && s.licenseUsage !== undefined) {
      const scheme = s.scheme;
      const usage = s.licenseUsage;
      // The registry reads every metric at once, so each gauge collects for itself; both await one
      // look-up per scrape (shared while in flight), not one each.
      let pending: Promise<{ id: string; period: string; quota: number; used: number | null }[]> | null =
        null;
      const lookup = () =>
        (pending ??= (async () => {
          const licenses = [...scheme().licenses.values()].filter((l) => l.quotaTokens !== null);
          const tokens = await Promise.all(licenses.map((l) => usage(l.id, l.quotaPeriod).catch(() => null)));
          return licenses.map((l, i) => ({
            id: l.id,
            period: l.quotaPeriod,
            quota: l.quotaTokens as number,
            used: tokens[i] ?? null,
          }));
        })().finally(() => (pending = null)));
      new Gauge({
        name: "clearance_license_quota_used_tokens",
        help: "Tokens a license has used in its current quota period (every node's, with shared counters).",
        labelNames: ["license", "period"],
        registers: [r],
        async collect() {
          const licenses = await lookup();
          this.reset();
          for (const l of licenses)
            if (l.used !== null) this.set({ license: l.id, period: l.period }, l.used);
        },
      });
      new Gauge({
        name: "clearance_license_quota_limit_tokens",
        help: "A license's token quota per period.",
        labelNames: ["license", "period"],
        registers: [r],
        async collect() {
          const licenses = await lookup();
          this.reset();
          for (const l of licenses) this.set({ license: l.id, period: l.period }, l.quota);
        },
      });
    }
    if (s.audit !== undefined) {
      const audit = s.audit;
      new Gauge({
        name: "clearance_audit_log_entries",
        help: "Durable entries in the audit log known to this node.",
        registers: [r],
        collect() {
          this.set(Number(audit().size));
        },
      });
      new Gauge({
        name: "clearance_audit_unpublished_entries",
        help: "Durable entries not yet covered by the served signed checkpoint.",
        registers: [r],
        collect() {
          const a = audit();
          this.set(Number(a.size - (a.published ?? 0n)));
        },
      });
      // Checkpoint age: how long since the served checkpoint last moved, while entries wait for it.
      let seen: bigint | null = null;
      let movedAt = Date.now();
      new Gauge({
        name: "clearance_audit_checkpoint_age_seconds",
        help: "Seconds since the served checkpoint last grew, while durable entries wait for one (0 when it covers every entry).",
        registers: [r],
        collect() {
          const a = audit();
          const now = Date.now();
          if (a.published !== seen) {
            seen = a.published;
            movedAt = now;
          }
          this.set(a.published !== null && a.published >= a.size ? 0 : (now - movedAt) / 1000);
        },
      });
    }
    if (s.snapshot !== undefined) {
      const snapshot = s.snapshot;
      new Gauge({
        name: "clearance_snapshot_age_seconds",
        help: "Seconds since the store last confirmed the in-memory snapshot as current.",
        registers: [r],
        collect() {
          this.set(snapshot().unconfirmedMs / 1000);
        },
      });
      new Gauge({
        name: "clearance_snapshot_version",
        help: "The store's change counter the snapshot was built from.",
        registers: [r],
        collect() {
          this.set(snapshot().version);
        },
      });
    }
    if (s.countersUnavailable !== undefined) {
      const unavailable = s.countersUnavailable;
      new Gauge({
        name: "clearance_counters_unavailable",
        help: "1 while the shared quota and rate-limit counters (Redis) cannot be reached.",
        registers: [r],
        collect() {
          this.set(unavailable() === null ? 0 : 1);
        },
      });
    }
    if (s.countersEvictionRisk !== undefined) {
      const risk = s.countersEvictionRisk;
      new Gauge({
        name: "clearance_counters_eviction_risk",
        help: "1 when the shared counters' Redis has a maxmemory-policy that may evict them (a quota or rate limit reset); 0 with noeviction, or when the policy could not be read (the log says so).",
        registers: [r],
        collect() {
          this.set(risk() === null ? 0 : 1);
        },
      });
    }
    if (s.leftOut !== undefined) {
      const leftOut = s.leftOut;
      new Gauge({
        name: "clearance_policy_left_out",
        help: "Partners and licenses left out of the policy in force, as they do not compile with the active scheme version (what they would grant is denied).",
        labelNames: ["kind"],
        registers: [r],
        collect() {
          // Both kinds always, so that an alert on > 0 has a series to read.
          const out = leftOut();
          for (const kind of ["partner", "license"] as const)
            this.set({ kind }, out.filter((l) => l.kind === kind).length);
        },
      });
    }
    if (s.screeningUnscreened !== undefined) {
      const unscreened = s.screeningUnscreened;
      new Gauge({
        name: "clearance_screening_unscreened_subjects",
        help: "New or changed principals and organizations waiting to be screened while this node's background screening is failing (it is retried; 0 once it succeeds).",
        registers: [r],
        collect() {
          this.set(unscreened());
        },
      });
    }
    if (s.locationDatabase !== undefined) {
      const database = s.locationDatabase;
      new Gauge({
        name: "clearance_location_database_build_timestamp_seconds",
        help: "When the country database in use (location.mmdb) was built, its build_epoch in seconds since the epoch (0 when it states none: its age is unknown, so an age alert fires).",
        registers: [r],
        collect() {
          this.set(database().buildEpoch ?? 0);
        },
      });
      new Gauge({
        name: "clearance_location_database_replacement_refused",
        help: "1 while the file at location.mmdb is a replacement that failed the checks (or is gone): the database before stays in use until the file changes again.",
        registers: [r],
        collect() {
          this.set(database().refused === null ? 0 : 1);
        },
      });
    }
  }
}
