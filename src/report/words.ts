/**
 * How the policy footprint is said to a reader: who a model is served to, what the others fall back
 * to, and countries with the same answer grouped. No imports: the console bundles it to say the JSON
 * report the way the HTML report says it.
 */

/** The widest access at a place, for maps: who besides home persons is served. */
export const ACCESS_LEVELS = [
  "embargoed",
  "not-offered",
  "nobody",
  "home-persons",
  "licensees",
  "partner-organizations",
  "partner-nationals",
  "everyone",
] as const;
export type Access = (typeof ACCESS_LEVELS)[number];

/** Who a model is served to, in words. */
export const ACCESS_TEXT: Readonly<Record<Access, string>> = {
  embargoed: "embargoed: nobody",
  "not-offered": "not offered here",
  nobody: "nobody",
  "home-persons": "home persons only",
  licensees: "home persons and licensees",
  "partner-organizations": "home persons, partner organizations (and licensees)",
  "partner-nationals": "home persons, partner nationals (and more)",
  everyone: "everyone (open model)",
};

/** A model down the fallback chain and who it serves of those the requested one does not. */
export interface PolicyFallback {
  readonly model: string;
  readonly access: Access;
  readonly home_persons: boolean;
  readonly partner_nationals: readonly string[];
  readonly partner_organizations: readonly string[];
  readonly licensees: readonly string[];
}

/** A fallback as a reader says it: "mythos-5: home persons, nationals of g7-fvey"; "mythos-4: everyone". */
export function fallbackText(f: PolicyFallback): string {
  if (f.access === "everyone") return `${f.model}: everyone`;
  const who = [
    ...(f.home_persons ? ["home persons"] : []),
    ...f.partner_nationals.map((n) => `nationals of ${n.split(" ")[0] ?? n}`),
    ...f.partner_organizations.map((o) => `members of ${o}`),
    ...f.licensees.map((l) => `licensee ${l}`),
  ];
  return `${f.model}: ${who.join(", ")}`;
}

/** What grouping compares of a policy row (the report's PolicyRow, or the JSON the console reads). */
export interface GroupedRow {
  readonly country: string;
  readonly model: string;
  readonly control: string;
  readonly action: string;
  readonly access: Access;
  readonly partner_nationals: readonly string[];
  readonly partner_organizations: readonly string[];
  readonly licensees: readonly string[];
  readonly fallbacks: readonly PolicyFallback[];
}

/**
 * Countries with the same answer for a controlled model and action, grouped (open models left
 * out), in the rows' order: the readable form of the policy table.
 */
export function policyGroups<R extends GroupedRow>(rows: readonly R[]): { row: R; countries: string[] }[] {
  const groups = new Map<string, { row: R; countries: string[] }>();
  for (const p of rows) {
    if (p.control === "open") continue;
    const key = JSON.stringify([
      p.model,
      p.action,
      p.access,
      p.partner_nationals,
      p.partner_organizations,
      p.licensees,
      p.fallbacks,
    ]);
    const g = groups.get(key) ?? { row: p, countries: [] };
    g.countries.push(p.country);
    groups.set(key, g);
  }
  return [...groups.values()];
}
