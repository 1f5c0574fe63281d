/** A scheme diff as plain text, for the terminal and for the review step before activation. */
import type { ChangeArea, ChangeKind, SchemeDiff } from "./diff.js";

/** Section headings, in the order sections are printed (the order of CHANGE_AREAS). */
const AREA_TITLES: Readonly<Record<ChangeArea, string>> = {
  scheme: "Scheme",
  home: "Home countries",
  embargo: "Embargo",
  restricted: "Restricted nationalities",
  "nationality-rule": "Nationality rule",
  set: "Country sets",
  model: "Models",
  "country-partner": "Country partners",
  "organization-partner": "Organization partners",
  grant: "Partner grants",
  license: "Licenses",
};

const MARKERS: Readonly<Record<ChangeKind, string>> = { added: "+", removed: "-", changed: "~" };

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * A heading (names and digests), a count, then the changes grouped by area; each line starts with
 * "+" (added), "-" (removed) or "~" (changed). Ends with a newline.
 */
export function formatDiff(diff: SchemeDiff): string {
  const lines = [
    `Scheme diff: ${diff.from.name} → ${diff.to.name}`,
    `  from ${diff.from.digest}`,
    `  to   ${diff.to.digest}`,
    "",
  ];
  if (diff.identical) {
    lines.push(
      diff.from.digest === diff.to.digest
        ? "No changes: the two versions have the same content."
        : "No effective changes: the files differ only in how they are written (for example set expressions or the order of grants).",
    );
    return `${lines.join("\n")}\n`;
  }
  const count = (kind: ChangeKind) => diff.changes.filter((c) => c.kind === kind).length;
  lines.push(
    `${plural(diff.changes.length, "change")}: ${count("added")} added, ${count("removed")} removed, ${count("changed")} changed`,
  );
  for (const [area, title] of Object.entries(AREA_TITLES) as [ChangeArea, string][]) {
    const changes = diff.changes.filter((c) => c.area === area);
    if (changes.length === 0) continue;
    lines.push("", title);
    for (const c of changes) lines.push(`  ${MARKERS[c.kind]} ${c.summary}`);
  }
  return `${lines.join("\n")}\n`;
}
