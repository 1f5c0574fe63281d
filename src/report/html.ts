/**
 * The footprint as one self-contained HTML page: no CDN, no external file. Two choropleth maps
 * (requests by location; who a model is served to, per country, with a model × action selector
 * driven by a few lines of inline script over embedded JSON) and the tables behind them.
 */
import { countryName } from "../countries/index.js";
import { ACTIONS } from "../policy/types.js";
import type { FootprintReport } from "./footprint.js";
import { escapeHtml as esc, worldSvg } from "./map.js";
import { type PolicyRow } from "./policy.js";
import { ACCESS_LEVELS, ACCESS_TEXT, fallbackText, policyGroups as groupRows, type Access } from "./words.js";

export const ACCESS_COLOURS: Readonly<Record<Access, string>> = {
  embargoed: "#7f0000",
  "not-offered": "#d9d9d9",
  nobody: "#9e9e9e",
  "home-persons": "#fdd49e",
  licensees: "#fc8d59",
  "partner-organizations": "#a1d99b",
  "partner-nationals": "#31a354",
  everyone: "#3182bd",
};
const NO_DATA = "#f0f0f0";
const REQUEST_SCALE = ["#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];
/** Rows shown in the page's served table; the CSV and JSON have them all. */
export const HTML_ROW_LIMIT = 2000;

/** JSON inside <script>: "<" escaped so no string can close the element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c");

export function pageHtml(title: string, body: string, script = ""): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:12px}th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.map{width:100%;height:auto;background:#fbfdff;border:1px solid #eee}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.meta{color:#555}code{font-size:12px}
</style></head>
<body>
${body}
${script === "" ? "" : `<script>${script}</script>`}
</body></html>
`;
}

export function table(header: readonly string[], rows: readonly (readonly unknown[])[], cls = ""): string {
  const cell = (v: unknown) =>
    typeof v === "number"
      ? `<td class="n">${v.toLocaleString("en-US")}</td>`
      : `<td>${esc(String(v ?? "-"))}</td>`;
  return (
    `<table${cls === "" ? "" : ` class="${cls}"`}><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")}</tbody></table>`
  );
}

export function legend(items: readonly [string, string][]): string {
  return `<p class="legend">${items.map(([c, t]) => `<span><i style="background:${c}"></i>${esc(t)}</span>`).join("")}</p>`;
}

const label = (code: string | null, name: string) =>
  code === null ? name : `${countryName(code) ?? name} (${code})`;

/** Bucket bounds for request counts: quantiles of the non-zero counts, so the map shows contrast. */
function buckets(counts: readonly number[]): number[] {
  const sorted = [...counts].filter((c) => c > 0).sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  return REQUEST_SCALE.slice(1).map(
    (_, i) => sorted[Math.floor(((i + 1) * sorted.length) / REQUEST_SCALE.length)] ?? Infinity,
  );
}

const count = (n: number) => n.toLocaleString("en-US");

/** The entries read and left out, and why, so that the figures add up to what was read. */
const notCounted = ({ not_counted: n }: FootprintReport["served"]) =>
  `${count(n.before_period)} decisions before the period, ${count(n.after_period)} at or after its end, ` +
  `${count(n.not_decisions)} entries that are not decisions (administrative changes)`;

function servedSection(r: FootprintReport): string {
  const s = r.served;
  const byCountry = new Map(s.locations.map((l) => [l.location, l]));
  const bounds = buckets(s.locations.map((l) => l.requests));
  const colour = (n: number) => REQUEST_SCALE[bounds.filter((b) => n >= b).length] as string;
  const svg = worldSvg(
    "served-map",
    (code) => {
      const t = code === null ? undefined : byCountry.get(code);
      return t === undefined ? NO_DATA : colour(t.requests);
    },
    (code, name) => {
      const t = code === null ? undefined : byCountry.get(code);
      return t === undefined
        ? `${label(code, name)}: no requests`
        : `${label(code, name)}: ${t.requests} requests (${t.allow} allowed, ${t.fallback} fallback, ${t.deny} denied)`;
    },
  );
  const rows = s.rows.slice(0, HTML_ROW_LIMIT);
  return `<h2>Served footprint</h2>
<p class="meta">${s.decisions.toLocaleString("en-US")} decisions from ${esc(s.period.from)} to ${esc(s.period.to)}${s.lookups > 0 ? `, of which ${s.lookups.toLocaleString("en-US")} model lookups (counted apart: not requests served, nor use of a grant)` : ""}
(${s.entries_read.toLocaleString("en-US")} log entries read; not counted: ${notCounted(s)}); scheme versions in the period: ${s.schemes.map((d) => `<code>${esc(d)}</code>`).join(", ")};
${s.unknown_principals} principal(s) not in the store or not recognisable (nationality "unknown").</p>
${svg}
${legend([[NO_DATA, "no requests"], ...REQUEST_SCALE.map((c, i): [string, string] => [c, i === 0 ? `fewer than ${bounds[0] ?? 1}` : `${bounds[i - 1]} or more`])])}
<h3>By location</h3>
${table(
  ["location", "requests", "allow", "fallback", "deny"],
  s.locations.map((l) => [l.location, l.requests, l.allow, l.fallback, l.deny]),
  "locations",
)}
<h3>By location, nationality, organization, model and outcome</h3>
<p class="meta">${rows.length === s.rows.length ? `${s.rows.length} rows` : `the ${rows.length} largest of ${s.rows.length} rows (CSV and JSON have all)`}.</p>
${table(
  [
    "location",
    "nationality",
    "organization",
    "model",
    "served model",
    "action",
    "decision",
    "reason",
    "requests",
    "lookups",
  ],
  rows.map((x) => [
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
  "served",
)}
<h2>Licenses and partner grants</h2>
<p class="meta">Tokens are metered per UTC day: the tokens column counts the whole UTC days ${esc(s.tokens_days.from)} to ${esc(s.tokens_days.to)} (both included), which may reach outside the period.</p>
${table(
  [
    "grant",
    "requests",
    `tokens (UTC days ${s.tokens_days.from} to ${s.tokens_days.to})`,
    "quota",
    "period",
    "used in period",
    "remaining",
  ],
  s.grants.map((g) => [
    g.grant,
    g.requests,
    g.tokens,
    g.quota_tokens,
    g.quota_period,
    g.quota_used,
    g.quota_remaining,
  ]),
  "grants",
)}`;
}

/** Countries with the same answer for a model and action, grouped: the readable form of the table. */
function policyGroups(rows: readonly PolicyRow[]): string {
  const list = groupRows(rows).filter((g) => g.row.access !== "embargoed");
  return table(
    [
      "model",
      "action",
      "served to",
      "country partners (nationals)",
      "partner organizations",
      "licensees",
      "the others fall back to (the first that serves them)",
      "countries",
    ],
    list.map(({ row, countries }) => [
      row.model,
      row.action,
      ACCESS_TEXT[row.access],
      row.partner_nationals.map((n) => n.split(":")[0]).join(", ") || "-",
      row.partner_organizations.join(", ") || "-",
      row.licensees.join(", ") || "-",
      row.fallbacks.length === 0
        ? "nothing"
        : row.fallbacks.map(fallbackText).join("; ") + (row.fallback_model === null ? "; else nothing" : ""),
      countries.length > 12 ? `${countries.length} countries: ${countries.join(" ")}` : countries.join(" "),
    ]),
    "policy",
  );
}

function policySection(r: FootprintReport): { html: string; script: string } {
  const data: Record<string, Record<string, Access>> = {};
  for (const p of r.policy.rows) (data[`${p.model}|${p.action}`] ??= {})[p.country] = p.access;
  const models = [...new Set(r.policy.rows.map((p) => p.model))];
  const controlled = r.policy.rows.find((p) => p.control !== "open")?.model ?? models[0] ?? "";
  const first = `${controlled}|infer`;
  const initial = data[first] ?? {};
  const svg = worldSvg(
    "policy-map",
    (code) => (code === null ? NO_DATA : ACCESS_COLOURS[initial[code] ?? "nobody"]),
    (code, name) => label(code, name),
  );
  const options = models
    .flatMap((m) => ACTIONS.map((a) => `${m}|${a}`))
    .map(
      (k) =>
        `<option value="${esc(k)}"${k === first ? " selected" : ""}>${esc(k.replace("|", " — "))}</option>`,
    )
    .join("");
  const html = `<h2>Policy footprint: which models serve which regions</h2>
<p class="meta">From the scheme in force alone (<code>${esc(r.policy.scheme.digest)}</code>), licenses as valid at ${esc(r.policy.at)}.
Each country shows the widest group a model is served to there; embargoes apply to nationals, residents and organizations wherever they are.</p>
<p><label>Model and action: <select id="policy-select">${options}</select></label></p>
${svg}
${legend(ACCESS_LEVELS.map((a) => [ACCESS_COLOURS[a], ACCESS_TEXT[a]]))}
<h3>Controlled and home-only models, by country</h3>
${policyGroups(r.policy.rows)}`;
  const script = `(function(){var data=${scriptJson(data)},colours=${scriptJson(ACCESS_COLOURS)},text=${scriptJson(ACCESS_TEXT)};
var sel=document.getElementById("policy-select"),paths=document.querySelectorAll("#policy-map path");
function paint(){var d=data[sel.value]||{};paths.forEach(function(p){var c=p.getAttribute("data-country");var a=c?d[c]||"nobody":null;
p.setAttribute("fill",a?colours[a]:"${NO_DATA}");var t=p.querySelector("title");if(t&&c)t.textContent=t.textContent.split(":")[0]+": "+text[a];});}
sel.addEventListener("change",paint);paint();})();`;
  return { html, script };
}

export function footprintHtml(r: FootprintReport): string {
  const policy = policySection(r);
  const body = `<h1>Jurisdiction footprint — ${esc(r.scheme.name)}</h1>
<p class="meta">Generated ${esc(r.generated_at)}; policy in force <code>${esc(r.scheme.digest)}</code>.</p>
${servedSection(r)}
${policy.html}`;
  return pageHtml(`Jurisdiction footprint — ${r.scheme.name}`, body, policy.script);
}
