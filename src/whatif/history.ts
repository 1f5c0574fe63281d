/**
 * What-if over history: the decisions of a period (or a range of log indexes) re-decided under the
 * scheme in force and under the candidate, each with the principal's current facts from the store
 * and the request as the log recorded it (model, action, location, declared purpose, time). Both
 * sides get the same inputs, so every change is the candidate's doing; what the log does not record
 * is said. Model lookups (GET /v1/models/{id}, `"lookup":true`) are not requests: they are counted
 * apart and not re-decided.
 */
import type { LogSource } from "../audit/source.js";
import { decide } from "../policy/decide.js";
import type { Action } from "../policy/types.js";
import { checkedDecision, readEntries } from "../report/log.js";
import { periodBounds, type Period } from "../report/period.js";
import { NationalityLabels, type PrincipalIndex } from "../report/principals.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { organizationOf, sideOf } from "./population.js";
import { ChangeCollector, type WhatIfPart } from "./result.js";

export interface HistoryInput {
  readonly source: LogSource;
  readonly active: CompiledScheme;
  readonly candidate: CompiledScheme;
  readonly principals: PrincipalIndex;
  /** Decisions whose time is in the period … */
  readonly period?: Period;
  /** … and whose index is in [from, to). */
  readonly range?: { readonly from?: bigint; readonly to?: bigint };
  readonly examples?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function historyWhatIf(
  input: HistoryInput,
): Promise<WhatIfPart & { readonly decisions: number }> {
  const { active, candidate, period } = input;
  const collector = new ChangeCollector(input.examples ?? 5);
  let decisions = 0;
  let lookups = 0;
  let unknown = 0;
  let differs = 0;
  /** Re-decided entries without a purpose; those of them resting on a license limited to purposes. */
  let noPurpose = 0;
  let purposeLimited = 0;
  // Labelled as held at each decision's time, as both re-decisions read the principal.
  const labels = new NationalityLabels(active, input.principals);
  const bounds = period === undefined ? null : periodBounds(period);
  const log = `the audit log at ${input.source.location}`;
  for await (const batch of readEntries(input.source, {
    ...(input.range?.from === undefined ? {} : { from: input.range.from }),
    ...(input.range?.to === undefined ? {} : { to: input.range.to }),
    ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
  })) {
    let index = batch.first;
    for (const text of batch.entries) {
      const at = index++;
      // A damaged entry refuses the what-if, as it refuses the footprint: re-decided, a decision
      // whose time is garbled would fall in a period it was not logged in.
      const e = checkedDecision(text, at, log);
      if (e === null) continue;
      if (bounds !== null && (e.time < bounds.from || e.time >= bounds.to)) continue;
      if (e.lookup === true) {
        lookups++; // a lookup answered, not a request served: as the footprint counts it
        continue;
      }
      decisions++;
      const p = labels.principal(e.principal);
      if (p === undefined) {
        unknown++;
        continue;
      }
      // Logged before purposes were recorded, or declaring none: judged as if none was declared.
      if (e.purpose === undefined) {
        noPurpose++;
        if (e.grant?.startsWith("license:") && active.licenses.get(e.grant.slice(8))?.purposes)
          purposeLimited++;
      }
      const request = {
        model: e.model,
        action: e.action as Action,
        location: e.location,
        purpose: e.purpose ?? null,
        time: e.time,
      };
      const a = sideOf(decide(active, p, request));
      const b = sideOf(decide(candidate, p, request));
      if (a.decision !== e.decision || a.reason !== e.reason || a.served_model !== e.served_model) differs++;
      const label = labels.at(e.principal, e.time);
      collector.compared++;
      collector.add(e.location ?? "unknown", label, organizationOf(p), e.model, e.action, a, b, 1, [
        `#${at} ${p.id}`,
      ]);
    }
  }
  const { summary, groups } = collector.result(active.digest, candidate.digest);
  const where = period === undefined ? "" : ` from ${period.from} to ${period.to}`;
  return {
    kind: "history",
    summary,
    groups,
    decisions,
    notes: [
      `${decisions} logged decisions${where}; ${collector.compared} re-decided under both schemes`,
      "not recorded in the log, so not used: the principal's facts at the time (their current facts from the store are used), " +
        "and token usage at the time (quotas are not applied)",
      ...(noPurpose > 0
        ? [
            `${noPurpose} re-decided decisions have no purpose in the log (logged before purposes were recorded, or ` +
              "declaring none): licenses limited to purposes are judged for them as if none was declared" +
              (purposeLimited > 0 ? `; ${purposeLimited} of them rested on such a license` : ""),
          ]
        : []),
      ...(lookups > 0
        ? [
            `${lookups} model lookups (GET /v1/models/{id}) in the log were not re-decided: they are not requests`,
          ]
        : []),
      ...(unknown > 0
        ? [
            `${unknown} decisions of principals the store does not hold (or whose pseudonyms it cannot resolve) were not re-decided`,
          ]
        : []),
      `${differs} of the re-decided decisions come out differently from the record even under the scheme in force: ` +
        "facts or unrecorded inputs have changed since",
    ],
  };
}
