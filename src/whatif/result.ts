/**
 * What a what-if finds: decisions that change between the scheme in force and a candidate, grouped
 * by location, nationality, organization, model, action and transition (old outcome and reason →
 * new), with counts and a few named examples per group (bounded: a group of a million people names
 * a handful), and roll-ups by each dimension. The summary and its digest are what an activation
 * records.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical/index.js";

export type Outcome = "allow" | "fallback" | "deny";

export interface Side {
  readonly decision: Outcome;
  readonly reason: string;
  readonly served_model: string | null;
}

/** gain: more access (deny → fallback → allow); loss: less; change: same outcome, other basis or model. */
export type Direction = "gain" | "loss" | "change";

export interface ChangeGroup {
  readonly direction: Direction;
  readonly location: string;
  readonly nationality: string;
  readonly organization: string;
  readonly model: string;
  readonly action: string;
  readonly from: Side;
  readonly to: Side;
  /** Decisions (population: principal × location; history: log entries) in the group. */
  readonly count: number;
  /** Up to the example limit: "principal@location" (population) or "#index principal" (history). */
  readonly examples: readonly string[];
}

export interface Tally {
  readonly key: string;
  readonly gained: number;
  readonly lost: number;
  readonly changed: number;
}

export interface WhatIfSummary {
  readonly active: string;
  readonly candidate: string;
  readonly compared: number;
  readonly gained: number;
  readonly lost: number;
  readonly changed: number;
  /** allow → fallback, allow → deny, fallback → deny: the decisions that stop serving what was asked. */
  readonly allow_to_fallback: number;
  readonly allow_to_deny: number;
  readonly fallback_to_deny: number;
  readonly by_transition: readonly Tally[];
  readonly by_model: readonly Tally[];
  readonly by_location: readonly Tally[];
  readonly by_nationality: readonly Tally[];
  readonly by_organization: readonly Tally[];
}

export interface WhatIfPart {
  readonly kind: "population" | "history";
  readonly summary: WhatIfSummary;
  readonly groups: readonly ChangeGroup[];
  /** Things the result could not take into account, said plainly. */
  readonly notes: readonly string[];
}

const RANK: Readonly<Record<Outcome, number>> = { deny: 0, fallback: 1, allow: 2 };

export function direction(from: Side, to: Side): Direction | null {
  if (from.decision === to.decision && from.reason === to.reason && from.served_model === to.served_model) {
    return null;
  }
  const d = RANK[to.decision] - RANK[from.decision];
  return d > 0 ? "gain" : d < 0 ? "loss" : "change";
}

const SEP = "\u0000";

/** A group being counted: its dimensions, and the decisions and examples added to it so far. */
export interface GroupEntry {
  readonly g: Omit<ChangeGroup, "count" | "examples">;
  count: number;
  examples: string[];
}

/** Accumulates changed decisions one by one, grouped by their words (history). */
export class ChangeCollector {
  private readonly groups = new Map<string, GroupEntry>();
  compared = 0;

  constructor(private readonly exampleLimit: number) {}

  add(
    location: string,
    nationality: string,
    organization: string,
    model: string,
    action: string,
    from: Side,
    to: Side,
    count: number,
    examples: readonly string[],
  ): void {
    const dir = direction(from, to);
    if (dir === null) return;
    const key = [
      dir,
      location,
      nationality,
      organization,
      model,
      action,
      from.decision,
      from.reason,
      from.served_model ?? "",
      to.decision,
      to.reason,
      to.served_model ?? "",
    ].join(SEP);
    let entry = this.groups.get(key);
    if (entry === undefined) {
      entry = {
        g: { direction: dir, location, nationality, organization, model, action, from, to },
        count: 0,
        examples: [],
      };
      this.groups.set(key, entry);
    }
    entry.count += count;
    for (const e of examples) {
      if (entry.examples.length >= this.exampleLimit) break;
      entry.examples.push(e);
    }
  }

  result(active: string, candidate: string): { summary: WhatIfSummary; groups: ChangeGroup[] } {
    return resultOf(active, candidate, this.compared, this.groups.values());
  }
}

/**
 * The groups in the report's order — most decisions first; ties by their dimensions in words
 * (`keyOf`, in the locale's collation); remaining ties in the order the groups were first counted —
 * and their summary.
 */
export function resultOf(
  active: string,
  candidate: string,
  compared: number,
  entries: Iterable<GroupEntry>,
): { summary: WhatIfSummary; groups: ChangeGroup[] } {
  const groups: { group: ChangeGroup; key: string }[] = [];
  for (const { g, count, examples } of entries) {
    // One object literal of one shape (a spread per group cost seconds for a population's groups).
    const group: ChangeGroup = {
      direction: g.direction,
      location: g.location,
      nationality: g.nationality,
      organization: g.organization,
      model: g.model,
      action: g.action,
      from: g.from,
      to: g.to,
      count,
      examples,
    };
    groups.push({ group, key: keyOf(group) });
  }
  // Each group's words built once, not per comparison (the sort is stable, as before). V8's
  // localeCompare keeps its collator: faster than an Intl.Collator of the same locale.
  groups.sort((a, b) => b.group.count - a.group.count || a.key.localeCompare(b.key));
  const sorted = groups.map((g) => g.group);
  return { summary: summarize(active, candidate, compared, sorted), groups: sorted };
}

const keyOf = (g: ChangeGroup) =>
  `${g.direction}|${g.model}|${g.action}|${g.location}|${g.nationality}|${g.organization}|${g.from.reason}|${g.to.reason}`;

export const transitionOf = (g: ChangeGroup) =>
  `${g.from.decision} ${g.from.reason}${g.from.served_model && g.from.decision === "fallback" ? ` (${g.from.served_model})` : ""} → ` +
  `${g.to.decision} ${g.to.reason}${g.to.served_model && g.to.decision === "fallback" ? ` (${g.to.served_model})` : ""}`;

/** Gains, losses and changes by one dimension. */
class Tallies {
  private readonly out = new Map<string, { gained: number; lost: number; changed: number }>();

  add(key: string, g: ChangeGroup): void {
    let t = this.out.get(key);
    if (t === undefined) this.out.set(key, (t = { gained: 0, lost: 0, changed: 0 }));
    if (g.direction === "gain") t.gained += g.count;
    else if (g.direction === "loss") t.lost += g.count;
    else t.changed += g.count;
  }

  sorted(): Tally[] {
    return [...this.out]
      .map(([key, t]) => ({ key, ...t }))
      .sort(
        (a, b) =>
          b.gained + b.lost + b.changed - (a.gained + a.lost + a.changed) || a.key.localeCompare(b.key),
      );
  }
}

/** The totals and the roll-ups, in one pass over the groups. */
function summarize(
  active: string,
  candidate: string,
  compared: number,
  groups: readonly ChangeGroup[],
): WhatIfSummary {
  const totals = { gained: 0, lost: 0, changed: 0, allowToFallback: 0, allowToDeny: 0, fallbackToDeny: 0 };
  const by = {
    transition: new Tallies(),
    model: new Tallies(),
    location: new Tallies(),
    nationality: new Tallies(),
    organization: new Tallies(),
  };
  // Transitions and model-action pairs repeat across groups: their words are built once per pair of
  // outcome objects (shared by the groups of a population) and per model and action.
  const transitionWords = new Map<Side, Map<Side, string>>();
  const modelWords = new Map<string, Map<string, string>>();
  for (const g of groups) {
    let byTo = transitionWords.get(g.from);
    if (byTo === undefined) transitionWords.set(g.from, (byTo = new Map()));
    let transition = byTo.get(g.to);
    if (transition === undefined) byTo.set(g.to, (transition = transitionOf(g)));
    let byAction = modelWords.get(g.model);
    if (byAction === undefined) modelWords.set(g.model, (byAction = new Map()));
    let model = byAction.get(g.action);
    if (model === undefined) byAction.set(g.action, (model = `${g.model} ${g.action}`));
    if (g.direction === "gain") totals.gained += g.count;
    else if (g.direction === "loss") totals.lost += g.count;
    else totals.changed += g.count;
    const from = g.from.decision;
    const to = g.to.decision;
    if (from === "allow" && to === "fallback") totals.allowToFallback += g.count;
    else if (from === "allow" && to === "deny") totals.allowToDeny += g.count;
    else if (from === "fallback" && to === "deny") totals.fallbackToDeny += g.count;
    by.transition.add(transition, g);
    by.model.add(model, g);
    by.location.add(g.location, g);
    by.nationality.add(g.nationality, g);
    by.organization.add(g.organization, g);
  }
  return {
    active,
    candidate,
    compared,
    gained: totals.gained,
    lost: totals.lost,
    changed: totals.changed,
    allow_to_fallback: totals.allowToFallback,
    allow_to_deny: totals.allowToDeny,
    fallback_to_deny: totals.fallbackToDeny,
    by_transition: by.transition.sorted(),
    by_model: by.model.sorted(),
    by_location: by.location.sorted(),
    by_nationality: by.nationality.sorted(),
    by_organization: by.organization.sorted(),
  };
}

/** `sha256:` over the canonical JSON of the summaries: what an activation records it reviewed. */
export function summaryDigest(summaries: readonly WhatIfSummary[]): string {
  return `sha256:${createHash("sha256").update(canonicalJson(summaries)).digest("hex")}`;
}
