/**
 * The data plane: OpenAI- and Anthropic-compatible routes, each request decided against the scheme
 * before anything reaches an upstream. Also mounts the decision API and the minimal admin API
 * (both behind the admin token) and health checks. Errors are rendered once, here, in the format
 * of whoever asked: OpenAI or Anthropic clients get their SDK's error body; admin callers get the
 * admin API's.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import {
  LICENSE_READERS,
  READERS,
  authenticate,
  createAdminHandler,
  ownOnly,
  type AdminDeps,
} from "../admin/index.js";
import { allow, handleDecisions } from "../api/index.js";
import { handleAudit } from "../audit/index.js";
import { serveConsole, SignInOrigins } from "../console/static.js";
import type { ClientErrorRenderer } from "../http/connections.js";
import {
  asClearanceError,
  decodePathPart,
  errorBody as adminErrorBody,
  requireHost,
  sendJson,
  setErrorHeaders,
  statusOf,
} from "../http/index.js";
import { ClearanceError, formatProblem } from "../errors/index.js";
import { setSecurityHeaders } from "../http/security-headers.js";
import type { Wire } from "../upstream/types.js";
import type { GatewayContext } from "./context.js";
import { describeAge, tooOld, type DatabaseStatus } from "../location/index.js";
import { listModels } from "./models.js";
import { Observation } from "./observer.js";
import { policyUnconfirmed, proxy } from "./proxy.js";
import { PROXY_ROUTES, REQUEST_ID_HEADER, errorBody, wireOf } from "./wire.js";

export type { GatewayContext } from "./context.js";

export interface GatewayOptions {
  readonly context: GatewayContext;
  readonly admin: AdminDeps;
  readonly onError: (err: unknown, requestId: string) => void;
  /** The admin console's build, served at /console/ (null: not built, a 404 that says so). */
  readonly consoleDir?: string | null;
}

export function createGatewayHandler(
  options: GatewayOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { context: ctx, admin } = options;
  const adminHandler = createAdminHandler(admin);
  // The console's connect-src: each sign-in provider's issuer and token endpoint origins (read from
  // its discovery document, at most once an hour, through the key fetch's address guard).
  const signInOrigins = new SignInOrigins(() => admin.consoleSignIn?.providers() ?? [], {
    allowHttpLoopback: admin.allowHttpLoopback === true,
  });
  return (req, res) => {
    const requestId = randomUUID();
    setSecurityHeaders(res);
    res.setHeader("x-clearance-request-id", requestId);
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const route = PROXY_ROUTES.get(path);
    // A proxied request's decision sets these (or its refusal does, below); other routes decide nothing.
    if (route === undefined) undecided(res);
    const wire = wireFor(path, req.headers);
    if (wire !== "admin") res.setHeader(REQUEST_ID_HEADER[wire], requestId);
    const seen = Observation.begin(ctx.observer, requestId, req, res, path, ctx.locator);

    const work = (async () => {
      requireHost(req);
      if (route !== undefined) {
        allow(req, "POST");
        return proxy(ctx, req, res, route.wire, route.endpoint, seen);
      }
      if (path === "/v1/models" || path.startsWith("/v1/models/")) {
        allow(req, "GET");
        const id = path.length > 11 ? decodePathPart(path.slice(11)) : undefined;
        return listModels(ctx, req, res, wire as Wire, seen, id);
      }
      if (path === "/healthz" || path === "/readyz") {
        allow(req, "GET", "HEAD");
        const s = ctx.scheme();
        const scheme = { name: s.name, digest: s.digest };
        if (path === "/healthz") return sendJson(res, 200, { status: "ok", scheme });
        // What is left out, and why the last policy reload failed, are said only to a caller who
        // reads every partner and license (as /metrics asks): a probe, or anyone else reaching the
        // port, is told how many, and that a reload failed. A token that does not authenticate
        // changes nothing else (a probe passing a client's key along must not take the node out of
        // rotation); it counts as a failed login all the same.
        const names = req.headers.authorization !== undefined && readsEverything(req, admin);
        const ready = readiness(ctx, scheme, names);
        return sendJson(res, ready.status, ready.body);
      }
      if (path === "/metrics" && ctx.metrics !== undefined) return ctx.metrics(req, res);
      if (path === "/v1/decisions") {
        // A decision names licenses of any organization: only for a caller /admin/v1/licenses
        // would show every license to (an applicant's or partner's scope, or a reviewer's lack of
        // any license reading, is not widened through it).
        const reader = () => {
          if (ownOnly(authenticate(req, admin, res), LICENSE_READERS)) {
            throw new ClearanceError(
              "forbidden",
              "forbidden",
              `the decision API is for the provider's services: needs one of the roles ${READERS.join(", ")}`,
            );
          }
        };
        // Its answers rest on the same snapshot as the data plane's: refused as that is once the
        // store has not confirmed it (a revocation elsewhere may be missing), whatever the model.
        const confirmed = () => {
          const unconfirmed = policyUnconfirmed(ctx, "decisions are refused");
          if (unconfirmed !== null) throw unconfirmed;
          return ctx.scheme();
        };
        // Who asks, and the policy, are looked at before the body is read, and again once it is in
        // (it may take up to the request timeout to arrive: a token revoked meanwhile is refused),
        // when the scheme in force is taken.
        reader();
        confirmed();
        // Counted one by one with their action (the observer is told of no decision for this route).
        const decidable = () => {
          reader();
          return confirmed();
        };
        return handleDecisions(req, res, decidable, {
          bodyLimit: ctx.bodyLimit,
          jsonDepth: ctx.jsonDepth,
          ...(ctx.decisions === undefined ? {} : { metrics: ctx.decisions }),
        });
      }
      if (path.startsWith("/admin/")) return adminHandler(req, res, path);
      if (path.startsWith("/audit/")) return handleAudit(ctx.audit.log, ctx.audit.dir, req, res, path);
      if (path === "/console" || path.startsWith("/console/")) {
        return serveConsole(options.consoleDir ?? null, req, res, path, signInOrigins);
      }
      throw new ClearanceError("not-found", "not_found", `no route for ${req.method} ${path}`);
    })();

    work.catch((thrown: unknown) => {
      const err = asClearanceError(thrown);
      const status = statusOf(err);
      if (status >= 500) options.onError(thrown, requestId);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Refused before any decision (bad key, bad body), or its decision not recorded (the audit
      // log refused the entry): the answer claims none, and the reason is the error's code.
      if (seen.decision === null) undecided(res);
      if (res.getHeader("x-clearance-decision") === "none") res.setHeader("x-clearance-reason", err.code);
      const text = renderError(wire, err, requestId);
      setErrorHeaders(res, err);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      res.end(text);
    });
  };
}

/** Whether the request's admin token is a reader's; false for none, a bad one, or a locked-out source. */
function readsEverything(req: IncomingMessage, admin: AdminDeps): boolean {
  try {
    return !ownOnly(authenticate(req, admin), READERS);
  } catch {
    return false;
  }
}

/** How many left-out partners and licenses /readyz names (the admin API lists them all). */
const LEFT_OUT_SHOWN = 20;

/**
 * Ready: the store answered recently (the policy is current), the audit log takes entries, and the
 * shared counters answer when failing closed. Warnings do not fail it: counters out of reach when
 * failing open, and partners or licenses left out of the policy in force — denied already (fail
 * closed), so taking every node out of rotation for them would only switch the service off; and new
 * or changed principals and organizations the background screening has failed to screen so far (it
 * is retried: taking the node out would not screen them sooner); and the country database older
 * than location.mmdb_max_age_days, or a replacement of it refused (see locationWarnings).
 * `names`: the left-out items are listed (kind, id, why), not only counted, and a failed reload's
 * error is given (code, short message, since when), and which Redis the shared counters are (out of
 * reach, or at risk of eviction); others are told only that the last reload
 * failed and whether the policy in force is still within freshness_ms. A failed reload is a
 * warning while it is: the snapshot in force was confirmed recently and stays sound until then.
 * `node` names the node answering (audit.node, as its admin answers' `not_yet_in_force` do): behind
 * a load balancer, the console clears a warning only on the word of the node it concerns. Said to
 * anyone, as every published audit entry names its node already.
 */
function readiness(
  ctx: GatewayContext,
  scheme: { readonly name: string; readonly digest: string },
  names: boolean,
): { readonly status: number; readonly body: object } {
  const unconfirmedMs = ctx.snapshot.unconfirmedMs();
  const stale = unconfirmedMs > ctx.freshnessMs;
  const failure = ctx.snapshot.lastFailure;
  const reload =
    failure === null
      ? {}
      : {
          reload: Object.assign(
            { failed: true, within_freshness: !stale },
            names
              ? { code: failure.code, message: failure.message, since: new Date(failure.since).toISOString() }
              : {},
          ),
        };
  // Stale, the reasons say so already; until then it is a warning.
  const reloadWarning =
    failure === null || stale
      ? null
      : `the last policy reload from the store failed; the policy in force was confirmed ${Math.round(unconfirmedMs)} ms ago, within freshness_ms (${ctx.freshnessMs} ms), and decides until then`;
  const audit = ctx.audit.log.failure;
  // Shared counters out of reach: not ready when failing closed; a warning when failing open.
  const unreachable = ctx.limits.unavailable;
  // Why, naming the Redis host and port, only to a reader's token (the rest is anyone's to see).
  const counters =
    unreachable === null
      ? null
      : `the shared quota and rate-limit counters cannot be reached${names ? ` (${unreachable})` : ""}`;
  const failClosed = counters !== null && ctx.limits.onUnavailable === "fail_closed";
  // A counter Redis may evict (its maxmemory-policy) resets a quota or rate limit: said, not failed.
  // Which Redis, and its policy, only to a reader's token, as for the unreachable counters.
  const risk = ctx.limits.evictionRisk;
  const eviction =
    risk === null
      ? null
      : names
        ? risk
        : "the shared quota and rate-limit counters' Redis has a maxmemory-policy that may evict them: an evicted counter starts again from zero, resetting that quota or rate limit; set maxmemory-policy noeviction";
  // New or changed subjects the background screening has failed to screen: served on their record's
  // status meanwhile (clear unless it says otherwise). A warning: the pass is retried.
  const backlog = ctx.screening?.() ?? null;
  const unscreened =
    backlog === null || backlog.subjects === 0
      ? null
      : `${backlog.subjects} new or changed ${backlog.subjects === 1 ? "principal or organization waits" : "principals and organizations wait"} to be screened: the background screening has failed since ${new Date(backlog.since).toISOString()} and is retried; until it succeeds they are decided on their record's screening status`;
  // A database's age is a matter of the calendar: the wall clock, not the monotonic one.
  const location = locationWarnings(ctx.locator.database?.status() ?? null, Date.now(), names);
  const control = ctx.snapshot.current.control;
  const count = control.leftOut.length;
  const leftOut =
    count === 0
      ? null
      : `${count} ${count === 1 ? "partner or license is" : "partners or licenses are"} left out of the policy in force: they do not compile with scheme version ${control.active.document.version}, and what they would grant is denied (GET /admin/v1/schemes lists them)`;
  const out =
    count === 0
      ? {}
      : {
          left_out: names
            ? {
                count,
                items: control.leftOut.slice(0, LEFT_OUT_SHOWN).map((l) => ({
                  kind: l.kind,
                  id: l.id,
                  why: l.problems.map(formatProblem).join("; ") || "does not compile",
                })),
              }
            : { count },
        };
  if (!stale && audit === null && !failClosed) {
    const warnings = [
      ...(counters === null ? [] : [counters]),
      ...(eviction === null ? [] : [eviction]),
      ...(reloadWarning === null ? [] : [reloadWarning]),
      ...(unscreened === null ? [] : [unscreened]),
      ...(leftOut === null ? [] : [leftOut]),
      ...location,
    ];
    const body = Object.assign(
      { status: "ok", node: ctx.audit.node, scheme },
      warnings.length === 0 ? {} : { warnings },
      reload,
      out,
    );
    return { status: 200, body };
  }
  const reasons = [
    ...(stale ? [`the policy has not been confirmed with the store for over ${ctx.freshnessMs} ms`] : []),
    ...(audit !== null ? ["the audit log cannot take entries"] : []),
    ...(counters !== null ? [counters] : []),
  ];
  const warned = [
    ...(eviction === null ? [] : [eviction]),
    ...(reloadWarning === null ? [] : [reloadWarning]),
    ...(unscreened === null ? [] : [unscreened]),
    ...(leftOut === null ? [] : [leftOut]),
    ...location,
  ];
  const warnings = warned.length === 0 ? {} : { warnings: warned };
  return {
    status: 503,
    body: Object.assign(
      { status: "not ready", node: ctx.audit.node, reasons, scheme },
      warnings,
      reload,
      out,
    ),
  };
}

/**
 * What /readyz says of the country database: older than location.mmdb_max_age_days, or of unknown
 * age; a replacement refused (why, to readers). Warnings: the database in use still locates, and
 * taking every node out of rotation for an old one would only switch the service off.
 */
function locationWarnings(db: DatabaseStatus | null, now: number, names: boolean): string[] {
  if (db === null) return [];
  const warnings: string[] = [];
  if (db.buildEpoch === null) {
    warnings.push(
      "the location database (location.mmdb) states no build time (build_epoch): its age cannot be checked against location.mmdb_max_age_days",
    );
  } else if (tooOld(db, now)) {
    warnings.push(
      `the location database (location.mmdb) was ${describeAge(db.buildEpoch, now)}, more than location.mmdb_max_age_days (${db.maxAgeDays}) ago: countries may have moved since; replace the file (it is read again when it changes, without a restart)`,
    );
  }
  if (db.refused !== null) {
    warnings.push(
      `a replacement of the location database (location.mmdb) was refused${names ? ` (${db.refused.reason})` : ""} at ${new Date(db.refused.since).toISOString()}: the database before stays in use until the file changes again`,
    );
  }
  return warnings;
}

/**
 * The decision headers of an answer no decision was made for (or none recorded): nor what such a
 * decision set aside of the caller's claims.
 */
function undecided(res: ServerResponse): void {
  res.setHeader("x-clearance-decision", "none");
  res.setHeader("x-clearance-reason", "none");
  res.setHeader("x-clearance-served-model", "none");
  res.removeHeader("x-clearance-claims-set-aside");
}

/** Every refusal's body, in the format of whoever asked (with the request's id where it says one). */
function renderError(wire: Wire | "admin", err: ClearanceError, requestId?: string): string {
  if (wire === "admin") return JSON.stringify(adminErrorBody(err));
  const param = err.problems[0]?.path.join(".") ?? null;
  return errorBody(wire, err, requestId === undefined ? { param } : { param, requestId });
}

/** Which format a request is answered in, from its path (and, for shared routes, its headers). */
function wireFor(path: string, headers: IncomingHttpHeaders): Wire | "admin" {
  return (
    PROXY_ROUTES.get(path)?.wire ??
    (path.startsWith("/admin/") ||
    path.startsWith("/audit/") ||
    path.startsWith("/console") ||
    path === "/v1/decisions" ||
    path === "/metrics"
      ? "admin"
      : wireOf(headers))
  );
}

/**
 * A request Node's parser refused (bad framing, huge headers, too slow): answered in the caller's
 * format, judged from as much of the request as arrived.
 */
export const renderClientError: ClientErrorRenderer = (err, raw, requestId) => {
  const anthropic = /^(x-api-key|anthropic-version):/im.test(raw.head);
  const wire = wireFor(raw.path ?? "/", anthropic ? { "x-api-key": "" } : {});
  return {
    body: renderError(wire, err, requestId),
    requestIdHeader: wire === "admin" ? null : REQUEST_ID_HEADER[wire],
  };
};
