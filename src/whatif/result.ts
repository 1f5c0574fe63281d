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

/** A collector's contents as plain data (structured-cloneable). */
export interface ExportedChanges {
  readonly compared: number;
  readonly groups: readonly (readonly [string, Omit<ChangeGroup, "count" | "examples">, number, string[]])[];
}

/** Accumulates changed decisions; `add` is called once per (principal class × location × model × action). */
export class ChangeCollector {
  private readonly groups = new Map<
    string,
    { g: Omit<ChangeGroup, "count" | "examples">; count: number; examples: string[] }
  >();
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

  /** What this collector holds, to be absorbed by another (results from worker threads). */
  exported(): ExportedChanges {
    return {
      compared: this.compared,
      groups: [...this.groups].map(([key, e]) => [key, e.g, e.count, e.examples]),
    };
  }

  absorb(other: ExportedChanges): void {
    this.compared += other.compared;
    for (const [key, g, count, examples] of other.groups) {
      const entry = this.groups.get(key);
      if (entry === undefined) {
        this.groups.set(key, { g, count, examples: examples.slice(0, this.exampleLimit) });
        continue;
      }
      entry.count += count;
      for (const e of examples) {
        if (entry.examples.length >= this.exampleLimit) break;
        entry.examples.push(e);
      }
    }
  }

  result(active: string, candidate: string): { summary: WhatIfSummary; groups: ChangeGroup[] } {
    const groups = [...this.groups.values()]
      .map(({ g, count, examples }) => ({ ...g, count, examples }))
      .sort((a, b) => b.count - a.count || keyOf(a).localeCompare(keyOf(b)));
    return { summary: summarize(active, candidate, this.compared, groups), groups };
  }
}

const keyOf = (g: ChangeGroup) =>
  `${g.direction}|${g.model}|${g.action}|${g.location}|${g.nationality}|${g.organization}|${g.from.reason}|${g.to.reason}`;

export const transitionOf = (g: ChangeGroup) =>
  `${g.from.decision} ${g.from.reason}${g.from.served_model && g.from.decision === "fallback" ? ` (${g.from.served_model})` : ""} → ` +
  `${g.to.decision} ${g.to.reason}${g.to.served_model && g.to.decision === "fallback" ? ` (${g.to.served_model})` : ""}`;

function tallies(groups: readonly ChangeGroup[], dim: (g: ChangeGroup) => string): Tally[] {
  const out = new Map<string, { gained: number; lost: number; changed: number }>();
  for (const g of groups) {
    const t = out.get(dim(g)) ?? { gained: 0, lost: 0, changed: 0 };
    if (g.direction === "gain") t.gained += g.count;
    else if (g.direction === "loss") t.lost += g.count;
    else t.changed += g.count;
    out.set(dim(g), t);
  }
  return [...out]
    .map(([key, t]) => ({ key, ...t }))
    .sort(
      (a, b) => b.gained + b.lost + b.changed - (a.gained + a.lost + a.changed) || a.key.localeCompare(b.key),
    );
}

function summarize(
  active: string,
  candidate: string,
  compared: number,
  groups: readonly ChangeGroup[],
): WhatIfSummary {
  const sum = (f: (g: ChangeGroup) => boolean) => groups.reduce((n, g) => (f(g) ? n + g.count : n), 0);
  return {
    active,
    candidate,
    compared,
    gained: sum((g) => g.direction === "gain"),
    lost: sum((g) => g.direction === "loss"),
    changed: sum((g) => g.direction === "change"),
    allow_to_fallback: sum((g) => g.from.decision === "allow" && g.to.decision === "fallback"),
    allow_to_deny: sum((g) => g.from.decision === "allow" && g.to.decision === "deny"),
    fallback_to_deny: sum((g) => g.from.decision === "fallback" && g.to.decision === "deny"),
    by_transition: tallies(groups, transitionOf),
    by_model: tallies(groups, (g) => `${g.model} ${g.action}`),
    by_location: tallies(groups, (g) => g.location),
    by_nationality: tallies(groups, (g) => g.nationality),
    by_organization: tallies(groups, (g) => g.organization),
  };
}

/** `sha256:` over the canonical JSON of the summaries: what an activation records it reviewed. */
export function summaryDigest(summaries: readonly WhatIfSummary[]): string {
  return `sha256:${createHash("sha256").update(canonicalJson(summaries)).digest("hex")}`;
}
