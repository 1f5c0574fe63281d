/**
 * The words of a scheme diff: country names, lists, (model, action) pairs, and a collector that
 * turns "this value moved from A to B" into a `SchemeChange` with a one-sentence summary.
 */
import { countryName } from "../countries/index.js";
import { ACTIONS, type Action } from "../policy/types.js";
import type { ChangeArea, SchemeChange } from "./diff.js";

/** Code-point order: the same in every locale, so the output is deterministic. */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const sorted = (items: Iterable<string>): string[] => [...items].sort(byText);
export const byAction = (a: string, b: string): number =>
  ACTIONS.indexOf(a as Action) - ACTIONS.indexOf(b as Action);

/** "RU (Russian Federation)"; a code the library does not know stays as it is. */
export function country(code: string): string {
  const name = countryName(code);
  return name === undefined ? code : `${code} (${name})`;
}

export const countryList = (codes: readonly string[]): string =>
  codes.length === 0 ? "no countries" : codes.map(country).join(", ");

/** "a", "a and b", "a, b and c". */
export function listJoin(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

export interface Pair {
  readonly model: string;
  readonly action: Action;
}

export const pairKey = (p: Pair): string => `${p.model}\u0000${p.action}`;

/** Sorted by model, then in ACTIONS order. */
export const sortPairs = (pairs: Iterable<Pair>): Pair[] =>
  [...pairs].sort((a, b) => byText(a.model, b.model) || byAction(a.action, b.action));

/** "infer and evaluate on fable-5 and mythos-5, fine_tune on mythos-5": models sharing actions merge. */
export function pairsPhrase(pairs: readonly Pair[]): string {
  const actionsByModel = new Map<string, Action[]>();
  for (const p of sortPairs(pairs))
    actionsByModel.set(p.model, [...(actionsByModel.get(p.model) ?? []), p.action]);
  const groups = new Map<string, { actions: Action[]; models: string[] }>();
  for (const [model, actions] of actionsByModel) {
    const key = actions.join(",");
    const group = groups.get(key) ?? { actions, models: [] };
    group.models.push(model);
    groups.set(key, group);
  }
  if (groups.size === 0) return "nothing";
  return [...groups.values()].map((g) => `${listJoin(g.actions)} on ${listJoin(g.models)}`).join(", ");
}

type Show<T> = (value: T) => string;

/** Collects the changes of one diff, writing each summary as it goes. */
export class ChangeList {
  readonly list: SchemeChange[] = [];

  /** A whole subject (model, partner, set, license) appears or disappears. */
  entity(area: ChangeArea, subject: string, kind: "added" | "removed", text: string, snapshot: object): void {
    this.list.push(
      kind === "added"
        ? { kind, area, subject, summary: `${subject} added: ${text}`, details: { to: snapshot } }
        : { kind, area, subject, summary: `${subject} removed (was ${text})`, details: { from: snapshot } },
    );
  }

  /** Subjects present in either map, by id: added, removed, or compared field by field. */
  keyed<T>(
    area: ChangeArea,
    noun: string,
    from: ReadonlyMap<string, T>,
    to: ReadonlyMap<string, T>,
    describe: (value: T) => { text: string; snapshot: object },
    compare: (subject: string, a: T, b: T) => void,
  ): void {
    for (const id of sorted(new Set([...from.keys(), ...to.keys()]))) {
      const subject = `${noun} ${id}`;
      const a = from.get(id);
      const b = to.get(id);
      if (a !== undefined && b !== undefined) compare(subject, a, b);
      else if (a !== undefined || b !== undefined) {
        const { text, snapshot } = describe((a ?? b) as T);
        this.entity(area, subject, a === undefined ? "added" : "removed", text, snapshot);
      }
    }
  }

  /** A single value: "subject: field changes from A to B". `same` decides effective equality. */
  value<T>(
    area: ChangeArea,
    subject: string,
    field: string | null,
    from: T,
    to: T,
    show: Show<T> = String,
    same: (a: T, b: T) => boolean = Object.is,
  ): void {
    if (same(from, to)) return;
    const label = field === null ? subject : `${subject}: ${field}`;
    this.list.push({
      kind: "changed",
      area,
      subject,
      summary: `${label} changes from ${show(from)} to ${show(to)}`,
      details: { ...(field === null ? {} : { field }), from, to },
    });
  }

  /**
   * A set of members (countries, models, actions, purposes), already in display order. null means
   * "no restriction" and is shown as `whole` ("everywhere", "any").
   */
  members(
    area: ChangeArea,
    subject: string,
    field: string | null,
    from: readonly string[] | null,
    to: readonly string[] | null,
    show: Show<string>,
    whole = "any",
  ): void {
    const label = field === null ? subject : `${subject}: ${field}`;
    const base = field === null ? {} : { field };
    if (from === null || to === null) {
      const list = (v: readonly string[] | null) =>
        v === null ? whole : v.length === 0 ? "none" : v.map(show).join(", ");
      this.value(area, subject, field, from, to, list, (a, b) => a === null && b === null);
      return;
    }
    const before = new Set(from);
    const after = new Set(to);
    const added = to.filter((x) => !before.has(x));
    const removed = from.filter((x) => !after.has(x));
    if (added.length === 0 && removed.length === 0) return;
    // "set trusted adds …", "model m: available_in adds …", but "license l: destinations add …".
    const s = field?.endsWith("s") === true ? "" : "s";
    const parts = [
      ...(added.length > 0 ? [`add${s} ${added.map(show).join(", ")}`] : []),
      ...(removed.length > 0 ? [`remove${s} ${removed.map(show).join(", ")}`] : []),
    ];
    this.list.push({
      kind: removed.length === 0 ? "added" : added.length === 0 ? "removed" : "changed",
      area,
      subject,
      summary: `${label} ${parts.join(", ")}`,
      details: { ...base, added, removed },
    });
  }

  /** Effective (model, action) pairs a partner gains and loses; grant order and grouping do not matter. */
  grants(subject: string, from: readonly Pair[], to: readonly Pair[]): void {
    const before = new Set(from.map(pairKey));
    const after = new Set(to.map(pairKey));
    const gained = sortPairs(to.filter((p) => !before.has(pairKey(p))));
    const lost = sortPairs(from.filter((p) => !after.has(pairKey(p))));
    if (gained.length === 0 && lost.length === 0) return;
    const parts = [
      ...(gained.length > 0 ? [`gains ${pairsPhrase(gained)}`] : []),
      ...(lost.length > 0 ? [`loses ${pairsPhrase(lost)}`] : []),
    ];
    this.list.push({
      kind: lost.length === 0 ? "added" : gained.length === 0 ? "removed" : "changed",
      area: "grant",
      subject,
      summary: `${subject} ${parts.join("; ")}`,
      details: { added: gained, removed: lost },
    });
  }
}
