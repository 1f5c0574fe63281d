/** Rendering a what-if: JSON (all), CSV (the changed groups, population and history), or HTML with a map. */
import { csvTable, type Format } from "../report/format.js";
import { HTML_ROW_LIMIT, legend, pageHtml, table } from "../report/html.js";
import { escapeHtml as esc, worldSvg } from "../report/map.js";
import { countryName } from "../countries/index.js";
import { transitionOf, type WhatIfPart } from "./result.js";
import type { WhatIfReport } from "./report.js";

const parts = (r: WhatIfReport): WhatIfPart[] => [r.population, ...(r.history === null ? [] : [r.history])];

export function whatIfCsv(r: WhatIfReport): string {
  return csvTable(
    [
      "part",
      "direction",
      "location",
      "nationality",
      "organization",
      "model",
      "action",
      "from_decision",
      "from_reason",
      "from_served_model",
      "to_decision",
      "to_reason",
      "to_served_model",
      "count",
      "examples",
    ],
    parts(r).flatMap((p) =>
      p.groups.map((g) => [
        p.kind,
        g.direction,
        g.location,
        g.nationality,
        g.organization,
        g.model,
        g.action,
        g.from.decision,
        g.from.reason,
        g.from.served_model,
        g.to.decision,
        g.to.reason,
        g.to.served_model,
        g.count,
        g.examples,
      ]),
    ),
  );
}

/** A short account for terminals and activation answers. */
export function whatIfText(r: WhatIfReport): string {
  const lines = [
    `what-if: ${r.candidate.name} (${r.candidate.digest}) against ${r.active.name} (${r.active.digest})`,
  ];
  for (const p of parts(r)) {
    const s = p.summary;
    lines.push(
      `${p.kind}: ${s.compared} decisions compared; ${s.gained} gain access, ${s.lost} lose it, ${s.changed} change basis ` +
        `(allow → fallback ${s.allow_to_fallback}, allow → deny ${s.allow_to_deny}, fallback → deny ${s.fallback_to_deny})`,
    );
    for (const t of s.by_transition.slice(0, 10)) {
      lines.push(`  ${t.key}: ${t.gained + t.lost + t.changed}`);
    }
    for (const g of p.groups.slice(0, 10)) {
      lines.push(
        `  ${g.direction} ${g.model} ${g.action} at ${g.location}, ${g.nationality}, ${g.organization}: ${g.count} (${g.examples.join(", ")})`,
      );
    }
    for (const n of p.notes) lines.push(`  note: ${n}`);
  }
  lines.push(`digest: ${r.digest}`);
  return `${lines.join("\n")}\n`;
}

const GAIN = "#31a354";
const LOSS = "#de2d26";
const BOTH = "#fdae6b";
const NONE = "#f0f0f0";

function partHtml(p: WhatIfPart): string {
  const s = p.summary;
  const byLocation = new Map(s.by_location.map((t) => [t.key, t]));
  const svg = worldSvg(
    `${p.kind}-map`,
    (code) => {
      const t = code === null ? undefined : byLocation.get(code);
      if (t === undefined || t.gained + t.lost === 0) return NONE;
      return t.lost === 0 ? GAIN : t.gained === 0 ? LOSS : BOTH;
    },
    (code, name) => {
      const t = code === null ? undefined : byLocation.get(code);
      const label = code === null ? name : `${countryName(code) ?? name} (${code})`;
      return t === undefined
        ? `${label}: no change`
        : `${label}: ${t.gained} gain, ${t.lost} lose, ${t.changed} change basis`;
    },
  );
  const tally = (title: string, rows: WhatIfPart["summary"]["by_model"]) =>
    `<h4>${esc(title)}</h4>${table(
      [title, "gain", "lose", "change basis"],
      rows.map((t) => [t.key, t.gained, t.lost, t.changed]),
      "tally",
    )}`;
  const groups = p.groups.slice(0, HTML_ROW_LIMIT);
  return `<h2>${p.kind === "population" ? "Population" : "History"}</h2>
<p><strong>${s.compared.toLocaleString("en-US")}</strong> decisions compared: <strong>${s.gained.toLocaleString("en-US")}</strong> gain access,
<strong>${s.lost.toLocaleString("en-US")}</strong> lose it, ${s.changed.toLocaleString("en-US")} change basis.
Allow → fallback ${s.allow_to_fallback}, allow → deny ${s.allow_to_deny}, fallback → deny ${s.fallback_to_deny}.</p>
<ul class="meta">${p.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>
${svg}
${legend([
  [GAIN, "only gains"],
  [LOSS, "only losses"],
  [BOTH, "gains and losses"],
  [NONE, "no change in access"],
])}
${tally("transition", s.by_transition)}
${tally("model and action", s.by_model)}
${tally("nationality", s.by_nationality)}
${tally("organization", s.by_organization)}
<h3>Changed decisions, grouped</h3>
<p class="meta">${groups.length === p.groups.length ? `${p.groups.length} groups` : `the ${groups.length} largest of ${p.groups.length} groups (CSV and JSON have all)`}.</p>
${table(
  ["change", "location", "nationality", "organization", "model", "action", "from → to", "count", "examples"],
  groups.map((g) => [
    g.direction,
    g.location,
    g.nationality,
    g.organization,
    g.model,
    g.action,
    transitionOf(g),
    g.count,
    g.examples.join(", "),
  ]),
  `groups-${p.kind}`,
)}`;
}

export function whatIfHtml(r: WhatIfReport): string {
  const body = `<h1>What-if: ${esc(r.candidate.name)}</h1>
<p class="meta">Candidate <code>${esc(r.candidate.digest)}</code> against the policy in force <code>${esc(r.active.digest)}</code>;
generated ${esc(r.generated_at)}; impact digest <code>${esc(r.digest)}</code>.</p>
${parts(r).map(partHtml).join("\n")}`;
  return pageHtml(`What-if: ${r.candidate.name}`, body);
}

export function renderWhatIf(r: WhatIfReport, format: Format | "text"): string {
  if (format === "json") return `${JSON.stringify(r, null, 2)}\n`;
  if (format === "csv") return whatIfCsv(r);
  if (format === "text") return whatIfText(r);
  return whatIfHtml(r);
}
