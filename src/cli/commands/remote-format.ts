/** Readable output for the remote commands: aligned tables and `key  value` blocks. */
import { cellText } from "../io.js";

/**
 * Columns padded to the widest cell, two spaces apart; the first row is the header. Cells are
 * values the server stored, written as cellText shows them.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows.map((r) => r.map(cellText))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map(
      (r) =>
        `${header
          .map((_, i) => (r[i] ?? "").padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

/** A list: its table, or a line saying there is nothing (a header alone reads as a glitch). */
export function listTable(
  what: string,
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  return rows.length === 0 ? `no ${what}\n` : table(header, rows);
}

/** `key  value` lines, keys aligned; undefined values are left out; values as cellText shows them. */
export function fields(entries: readonly (readonly [string, string | undefined])[]): string {
  const present = entries.filter((e): e is readonly [string, string] => e[1] !== undefined);
  const width = Math.max(0, ...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}\n`).join("");
}

export const dash = (v: string | number | null | undefined): string =>
  v === null || v === undefined || v === "" ? "-" : String(v);

export const joined = (list: readonly unknown[] | null | undefined, max = Infinity): string => {
  if (list === null || list === undefined || list.length === 0) return "-";
  const shown = list.slice(0, max).map(String).join(",");
  return list.length > max ? `${shown},… (${list.length})` : shown;
};

/** A scheme set expression: `A,B` or `A,B except C`. */
export function setText(expr: unknown): string {
  if (Array.isArray(expr)) return joined(expr);
  if (typeof expr === "object" && expr !== null && "include" in expr) {
    const { include, exclude } = expr as { include: unknown[]; exclude?: unknown[] };
    return exclude && exclude.length > 0 ? `${joined(include)} except ${joined(exclude)}` : joined(include);
  }
  return dash(undefined);
}

/** Date-times to the second, in UTC as stored: 2026-07-01T10:00:00Z. */
export const time = (iso: string | null | undefined): string =>
  iso === null || iso === undefined ? "-" : iso.replace(/\.\d+Z$/, "Z");

export const tokens = (n: number | null | undefined): string =>
  n === null || n === undefined ? "unlimited" : n.toLocaleString("en-US");
