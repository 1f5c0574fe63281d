/**
 * Reports over the admin API: the jurisdiction footprint (JSON, CSV or HTML), and the what-if of a
 * scheme version against the policy in force. Both read the audit log from this node's published
 * tiles, in full, before answering: they are for compliance work, not for the hot path.
 */
import type { IncomingMessage } from "node:http";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { compileFitting, describeLeftOut } from "../../control/effective.js";
import { readStoredVersionOffLoop } from "../../control/read-version.js";
import { currentRecords, schemeVersion } from "../../control/in-force.js";
import type { ControlState } from "../../control/state.js";
import type { StoredRecord } from "../../store/index.js";
import { refuseLicensesOutsideWorkflow } from "../../control/seed.js";
import { ClearanceError } from "../../errors/index.js";
import { footprintReport } from "../../report/footprint.js";
import { FOOTPRINT_TABLES, FORMATS, renderFootprint } from "../../report/format.js";
import { parsePeriod } from "../../report/period.js";
import { candidateOf, renderWhatIf, whatIfReport, type WhatIfReport } from "../../whatif/index.js";
import { whatIfRequest } from "../../whatif/schemas.js";
import type { AdminDeps } from "../deps.js";
import { inStepWithStore } from "../in-force.js";
import type { Progress } from "../progress.js";
import { RawBody, route } from "../router.js";
import { READERS } from "./roles.js";

const CONTENT_TYPE = {
  csv: "text/csv; charset=utf-8",
  html: "text/html; charset=utf-8",
} as const;

function auditOf(deps: AdminDeps) {
  if (deps.audit === undefined) {
    throw new ClearanceError("unavailable", "no_audit_log", "this server has no audit log to report from");
  }
  return deps.audit;
}

/**
 * Report jobs (footprints, what-ifs, an activation's impact) run one at a time on a node, in the
 * order asked. Each holds the store's principals and its counts in memory (a what-if, its worker
 * threads too) in the process that serves requests: any number at once — a reader's requests,
 * clients that went away meanwhile — would grow its memory without bound. A job that has to wait
 * is told (`waiting`: a progress line); one whose caller has gone by its turn is not started.
 */
export class ReportQueue {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  async run<T>(job: () => Promise<T>, waiting?: () => void, gone?: () => boolean): Promise<T> {
    const before = this.tail;
    let done: () => void = () => undefined;
    this.tail = new Promise((resolve) => (done = resolve));
    try {
      // Inside the try: a `waiting` that throws must still release the queue's tail.
      if (this.queued++ > 0) waiting?.();
      await before;
      if (gone?.() === true) {
        // The client's doing, not the server's: not logged as a fault (a 5xx would be).
        throw new ClearanceError(
          "client-closed",
          "client_gone",
          "the report's caller went away while it waited",
        );
      }
      return await job();
    } finally {
      this.queued--;
      // Released once the job ahead has ended too: a `waiting` that threw must not let the next run beside it.
      void before.then(done);
    }
  }
}

const queues = new WeakMap<AdminDeps, ReportQueue>();

/** This node's report queue (one per admin API, as its dependencies are one per server). */
function queueOf(deps: AdminDeps): ReportQueue {
  let q = queues.get(deps);
  if (q === undefined) queues.set(deps, (q = new ReportQueue()));
  return q;
}

/** The progress stage of a report job waiting for others. */
export const WAITING = "waiting for the reports asked before it to finish";

/** How a job's caller is followed while it waits: its progress, and whether it has gone. */
interface Waiter {
  readonly progress?: Progress;
  readonly gone?: () => boolean;
}

/**
 * What a what-if measures from: this node's state at the store's active version (see inStepWithStore)
 * with the partners and licenses the store holds now (currentRecords, as the lists read them). A
 * partner or license changed through another node a moment before is in the baseline (and in the
 * candidate, which takes them over), as in the policy an activation would replace; this node's
 * snapshot has it only at its next reload. This node's own state when the store holds the same records.
 * `before`: the baseline taken when the what-if was asked, kept (not compiled again) while this node's
 * policy and the store's partners and licenses are still what it was built from.
 */
async function whatIfBaseline(deps: AdminDeps, before?: ControlState): Promise<ControlState> {
  const state = await inStepWithStore(deps);
  const held = deps.heldVersion?.();
  const [partners, licenses] = await Promise.all([
    currentRecords(deps.store, "partner", state.partners, held),
    currentRecords(deps.store, "license", state.licenses, held),
  ]);
  if (sameRecords(partners, state.partners) && sameRecords(licenses, state.licenses)) return state;
  // A node behind since the what-if was asked: its baseline then is the store's now.
  if (
    before !== undefined &&
    before.fingerprint === state.fingerprint &&
    sameRecords(partners, before.partners) &&
    sameRecords(licenses, before.licenses)
  )
    return before;
  const compiled = compileFitting(
    state.base.source,
    partners.map((p) => p.document),
    licenses.map((l) => l.document),
  );
  return { ...state, scheme: compiled.scheme, leftOut: compiled.leftOut, partners, licenses };
}

/** The same records at the same revisions (a store read after an unrelated change, say). */
function sameRecords(a: readonly StoredRecord[], b: readonly StoredRecord[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  const revisions = new Map(b.map((r) => [r.id, r.revision]));
  return a.every((r) => revisions.get(r.id) === r.revision);
}

/** A version's what-if against the policy in force (the activation's impact when no history is asked). */
export async function versionWhatIf(
  deps: AdminDeps,
  version: string,
  options: { days?: number; from_index?: bigint; to_index?: bigint; examples?: number } = {},
  progress?: Progress,
  gone?: () => boolean,
  /** "first": run now, not behind the queue (an activation's impact: readers never hold it off). */
  turn: "queued" | "first" = "queued",
): Promise<WhatIfReport> {
  // This node's or the store's (uploaded through another node, not yet reloaded here); measured
  // against the store's active version (the one an activation replaces), this node reloading first,
  // and the store's partners and licenses.
  const baseline = await whatIfBaseline(deps);
  const v = await schemeVersion(deps.store, baseline, version);
  // Read as it loads: what newer checks refuse in a version an older release stored is left out of
  // the candidate (fail closed), and the report says so. Read once, off the event loop when large
  // (or as read already: the activation measuring it has just read it).
  const stored = await readStoredVersionOffLoop(v.document);
  const prepare = (state: ControlState) => {
    // A version that activation would refuse (new licenses past the workflow) is refused here too,
    // rather than previewed with those licenses counted as gains.
    refuseLicensesOutsideWorkflow(stored.scheme, new Set(state.licenses.map((l) => l.id)), v.id);
    return { state, candidate: candidateOf(stored.scheme, `version ${v.id}`, state) };
  };
  // Refused before it waits its turn, as any bad request is.
  let prepared = prepare(baseline);
  const audit = auditOf(deps);
  const range =
    options.from_index === undefined && options.to_index === undefined
      ? undefined
      : {
          ...(options.from_index === undefined ? {} : { from: options.from_index }),
          ...(options.to_index === undefined ? {} : { to: options.to_index }),
        };
  const waiter = { ...(progress === undefined ? {} : { progress }), ...(gone === undefined ? {} : { gone }) };
  const run = <T>(job: () => Promise<T>): Promise<T> =>
    turn === "first" ? job() : queued(deps, waiter, job);
  const report = await run(async () => {
    // Against the policy in force when its turn comes: another version may have been activated, or a
    // partner or license changed, meanwhile.
    const state = await whatIfBaseline(deps, prepared.state);
    if (state !== prepared.state) prepared = prepare(state);
    return whatIfReport({
      store: deps.store,
      source: audit.source,
      active: prepared.state.scheme,
      candidate: prepared.candidate,
      pseudonymKey: audit.pseudonymKey,
      now: new Date(deps.now()),
      seenDays: deps.whatIf?.seenDays ?? 30,
      examples: options.examples ?? deps.whatIf?.examples ?? 5,
      // Large populations: half the classes in a worker thread, half here in steps of a few
      // milliseconds, so the event loop keeps serving requests.
      threads: Math.min(availableParallelism(), 2),
      ...(options.days === undefined ? {} : { days: options.days }),
      ...(range === undefined ? {} : { range }),
      ...(progress === undefined ? {} : { onStage: progress }),
    });
  });
  if (stored.leftOut.length === 0) return report;
  const note =
    `version ${v.id} as stored leaves out ${describeLeftOut(stored.leftOut)}: checks since the release ` +
    "that stored it refuse them, so they are not in the candidate (activating it is refused: upload a corrected copy)";
  return { ...report, population: { ...report.population, notes: [...report.population.notes, note] } };
}

/** A report job run in this node's queue (ReportQueue). */
const queued = <T>(deps: AdminDeps, waiter: Waiter, job: () => Promise<T>): Promise<T> =>
  queueOf(deps).run(job, () => waiter.progress?.(WAITING, 0, 1), waiter.gone);

/** Whether a request's client has gone (its connection closed). */
const goneOf = (req: IncomingMessage) => () => req.socket.destroyed;

export const reportRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/reports/footprint",
    tag: "reports",
    summary: "The jurisdiction footprint: served (from the audit log) and policy (from the scheme in force)",
    roles: READERS,
    query: z.strictObject({
      from: z.string().optional(),
      to: z.string().optional(),
      format: z.enum(FORMATS).default("json"),
      table: z.enum(FOOTPRINT_TABLES).default("served"),
    }),
    progress: true,
    async handle({ req, deps, query, progress }) {
      const audit = auditOf(deps);
      const now = new Date(deps.now());
      const period = parsePeriod(query.from, query.to, now);
      const report = await queued(deps, { progress, gone: goneOf(req) }, () =>
        footprintReport({
          store: deps.store,
          source: audit.source,
          scheme: deps.state().scheme,
          period,
          pseudonymKey: audit.pseudonymKey,
          now,
          onProgress: (done, total) => progress("reading the audit log", done, total),
        }),
      );
      if (query.format === "json") return report;
      return new RawBody(CONTENT_TYPE[query.format], renderFootprint(report, query.format, query.table));
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/schemes/{version}/what-if",
    tag: "schemes",
    summary: "What-if: who gains and who loses access if this scheme version is activated",
    roles: READERS,
    body: whatIfRequest,
    progress: true,
    async handle({ req, deps, params, body, progress }) {
      const { format, ...options } = body;
      const report = await versionWhatIf(deps, params.version ?? "", options, progress, goneOf(req));
      if (format === "json") return report;
      const type = format === "text" ? "text/plain; charset=utf-8" : CONTENT_TYPE[format];
      return new RawBody(type, renderWhatIf(report, format));
    },
  }),
];
