/** A readable account of a decision, check by check, for people (`clearance check --explain`). */
import type { CheckResult, Decision, GrantRef, IdentityBasis } from "./types.js";
import { describeFinding } from "./words.js";

const MARK = { pass: "·", allow: "✔", deny: "✘" } as const;

export function describeGrant(grant: GrantRef | null): string {
  if (grant === null) return "none";
  if (grant.kind === "license") return `license ${grant.license}`;
  return `${grant.kind === "partner-country" ? "country" : "organization"} partner ${grant.partner}, grant #${grant.index + 1}`;
}

function checkLines(checks: readonly CheckResult[], indent: string): string[] {
  return checks.map(
    (c, i) =>
      `${indent}${i + 1}. ${MARK[c.outcome]} ${c.check.padEnd(20)} ${c.outcome}${c.reason ? ` (${c.reason})` : ""}: ${describeFinding(c.finding)}`,
  );
}

export function explain(d: Decision): string {
  const lines: string[] = [];
  const served = d.decision === "fallback" ? ` → served by ${d.served_model}` : "";
  lines.push(`${d.decision.toUpperCase()} ${d.model}${served} — ${d.reason}`);
  lines.push(`scheme ${d.scheme.name} (${d.scheme.digest})`);
  lines.push(`checks for ${d.model}:`);
  lines.push(...checkLines(d.checks, "  "));
  for (const f of d.fallbacks ?? []) {
    lines.push(`fallback to ${f.model}: ${f.outcome} (${f.reason})`);
    lines.push(...checkLines(f.checks, "  "));
  }
  lines.push(`rests on: ${describeGrant(d.grant)}`);
  if (d.identity !== undefined) lines.push(...identityLines(d.identity));
  return lines.join("\n");
}

/** The identity basis: which provider vouched, what it was believed for, and what was set aside. */
export function identityLines(b: IdentityBasis): string[] {
  return [
    `identity: ${b.subject} vouched for by ${b.provider} (partner ${b.partner}, issuer ${b.issuer}, key ${b.key_id ?? "none named"})`,
    ...b.used.map((u) => `  used: ${u}`),
    ...b.set_aside.map((c) => `  set aside: ${c.fact} ${c.value} (claim ${c.claim}): ${c.why}`),
    `  assurance ${b.assurance.level}: ${b.assurance.why}`,
  ];
}
