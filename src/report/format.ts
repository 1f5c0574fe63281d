/**
 * Rendering a footprint report: JSON (all of it), CSV (one table at a time, so that every file is
 * one clean table for a spreadsheet) or a self-contained HTML page with world maps (html.ts).
 */
import { stringify } from "csv-stringify/sync";
import type { FootprintReport } from "./footprint.js";
import { footprintHtml } from "./html.js";
import { fallbackText } from "./policy.js";

export const FORMATS = ["csv", "json", "html"] as const;
export type Format = (typeof FORMATS)[number];
export const FOOTPRINT_TABLES = ["served", "locations", "grants", "policy"] as const;
export type FootprintTable = (typeof FOOTPRINT_TABLES)[number];

/**
 * One CSV table. Cells come from stored data (organization and principal ids are any text), and a
 * spreadsheet runs a cell starting with = + - @ (or a tab or carriage return) as a formula: such
 * cells get a leading ' (csv-stringify's escape_formulas), so a report opened in one runs nothing.
 */
export function csvTable(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? "" : Array.isArray(v) ? v.join("; ") : v);
  return stringify([header, ...rows.map((r) => r.map(cell))], { escape_formulas: true });
}

export function footprintCsv(r: FootprintReport, table: FootprintTable): string {
  switch (table) {
    case "served":
      return csvTable(
        [
          "location",
          "nationality",
          "organization",
          "model",
          "served_model",
          "action",
          "decision",
          "reason",
          "requests",
          "lookups",
        ],
        r.served.rows.map((x) => [
          x.location,
          x.nationality,
          x.organization,
          x.model,
          x.served_model,
          x.action,
          x.decision,
          x.reason,
          x.requests,
          x.lookups,
        ]),
      );
    case "locations":
      return csvTable(
        ["location", "requests", "allow", "fallback", "deny"],
        r.served.locations.map((x) => [x.location, x.requests, x.allow, x.fallback, x.deny]),
      );
    case "grants":
      return csvTable(
        // The tokens column counts whole UTC days (usage is metered per day): which ones, on each row.
        [
          "grant",
          "requests",
          "tokens",
          "tokens_from_day",
          "tokens_to_day",
          "quota_tokens",
          "quota_period",
          "quota_used",
          "quota_remaining",
        ],
        r.served.grants.map((g) => [
          g.grant,
          g.requests,
          g.tokens,
          g.tokens === null ? null : r.served.tokens_days.from,
          g.tokens === null ? null : r.served.tokens_days.to,
          g.quota_tokens,
          g.quota_period,
          g.quota_used,
          g.quota_remaining,
        ]),
      );
    case "policy":
      return csvTable(
        [
          "country",
          "model",
          "control",
          "action",
          "access",
          "home_persons",
          "partner_nationals",
          "partner_organizations",
          "licensees",
          "fallback_model",
          "fallback_access",
          "fallbacks",
        ],
        r.policy.rows.map((p) => [
          p.country,
          p.model,
          p.control,
          p.action,
          p.access,
          p.home_persons,
          p.partner_nationals,
          p.partner_organizations,
          p.licensees,
          p.fallback_model,
          p.fallback_access,
          p.fallbacks.map(fallbackText),
        ]),
      );
  }
}

export function renderFootprint(
  r: FootprintReport,
  format: Format,
  table: FootprintTable = "served",
): string {
  if (format === "json") return `${JSON.stringify(r, null, 2)}\n`;
  if (format === "csv") return footprintCsv(r, table);
  return footprintHtml(r);
}
