/**
 * The policy footprint: from the scheme in force alone, for every country × model × action, who may
 * be served there and on what basis (home persons, nationals of which country partners, partner
 * organizations, licensees, or nobody), and down the fallback chain, who is served which model instead
 * and what everyone else gets — "which models serve which regions" as one table. Pure: time is an
 * input (licenses have periods).
 *
 * It reads the same compiled structures `decide()` does and follows its check order: an embargoed
 * location serves nobody; a model not offered there serves nobody; an open model serves everyone
 * (but embargoed nationals, residents and organizations); a home-only model serves home persons
 * inside the home countries only; a controlled model serves home persons and then whoever a partner
 * grant or license reaches at that location.
 */
import { allCountryCodes } from "../countries/index.js";
import { ACTIONS, ASSURANCE_LEVELS, type Action } from "../policy/types.js";
import type { CompiledModel, CompiledScheme } from "../scheme/compile.js";
import { ACTION_INDEX } from "../scheme/compile.js";
import type { Access, PolicyFallback } from "./words.js";

export { ACCESS_LEVELS, fallbackText, type Access, type PolicyFallback } from "./words.js";

export interface PolicyRow {
  readonly country: string;
  readonly model: string;
  readonly control: CompiledModel["control"];
  readonly action: Action;
  readonly access: Access;
  readonly home_persons: boolean;
  /** Country partners whose nationals are served here: "<id> (<assurance>): <countries>". */
  readonly partner_nationals: readonly string[];
  /** Organization partners whose members are served here. */
  readonly partner_organizations: readonly string[];
  /** "<licensee> (<license>)", for licenses that cover this place. */
  readonly licensees: readonly string[];
  /**
   * What everyone else asking for this model here is served instead: anyone neither the row nor
   * `fallbacks` names (a foreign person no partner grant or license reaches here) gets the first
   * model down the fallback chain that is served to everyone here (open, offered here), or nothing.
   */
  readonly fallback_model: string | null;
  /** "everyone" with a fallback model, else null. */
  readonly fallback_access: Access | null;
  /**
   * The fallback chain as decide() follows it for someone denied this model here: each model that
   * serves somebody not served before in the chain, with those people (the first that serves a
   * person is the one the person gets); it ends with the model served to everyone, if any.
   */
  readonly fallbacks: readonly PolicyFallback[];
}

/** A model of the fallback chain, and whom it serves that the models before it do not. */

export interface PolicyFootprint {
  readonly scheme: { readonly name: string; readonly digest: string };
  /** The time licenses were judged valid at (ISO 8601). */
  readonly at: string;
  readonly rows: readonly PolicyRow[];
}

interface Served {
  readonly access: Access;
  readonly home: boolean;
  readonly nationals: string[];
  readonly organizations: string[];
  readonly licensees: string[];
}

const NOBODY = (access: Access): Served => ({
  access,
  home: false,
  nationals: [],
  organizations: [],
  licensees: [],
});

/** Who is served `modelId` for `action` at `country`, under the scheme, at `time`. */
function servedAt(
  scheme: CompiledScheme,
  modelId: string,
  actionIndex: number,
  country: string,
  time: number,
): Served {
  const model = scheme.models.get(modelId);
  if (scheme.embargoed.has(country)) return NOBODY("embargoed");
  if (model === undefined) return NOBODY("nobody");
  if (model.availableIn !== null && !model.availableIn.has(country)) return NOBODY("not-offered");
  if (model.control === "open") return { ...NOBODY("everyone"), home: true };
  if (model.control === "home-only") {
    return scheme.home.has(country) ? { ...NOBODY("home-persons"), home: true } : NOBODY("nobody");
  }
  const nationals: string[] = [];
  for (const p of scheme.countryPartners) {
    if (p.status !== "active" || (p.grants.get(modelId)?.[actionIndex] ?? -1) < 0) continue;
    if (!p.countries.has(country) && !scheme.home.has(country)) continue;
    const members = [...p.countries].filter((c) => !scheme.embargoed.has(c)).sort();
    nationals.push(`${p.id} (${ASSURANCE_LEVELS[p.assurance]}): ${members.join(" ")}`);
  }
  const organizations: string[] = [];
  for (const p of scheme.organizationPartners.values()) {
    if (p.status !== "active" || (p.grants.get(modelId)?.[actionIndex] ?? -1) < 0) continue;
    if (!p.locations.has(country) || scheme.embargoed.has(p.country)) continue;
    organizations.push(p.id);
  }
  const licensees: string[] = [];
  for (const l of scheme.licenses.values()) {
    if (l.status !== "approved" || !(time >= l.validFrom && time < l.validUntil)) continue;
    if (!l.models.has(modelId) || (l.actions & (1 << actionIndex)) === 0) continue;
    if (!l.destinations.has(country)) continue;
    licensees.push(`${l.licensee.kind} ${l.licensee.id} (${l.id})`);
  }
  const access: Access =
    nationals.length > 0
      ? "partner-nationals"
      : organizations.length > 0
        ? "partner-organizations"
        : licensees.length > 0
          ? "licensees"
          : "home-persons";
  return { access, home: true, nationals, organizations, licensees: licensees.sort() };
}

/**
 * Down the fallback chain of `model` at `country`: who each fallback serves that the requested model
 * and the fallbacks before it do not (decide() serves a person the first one that allows; audiences
 * are the same people from model to model: home persons, a partner's nationals, an organization
 * partner's members, a license's licensee, each under the same conditions). Not-offered and home-only
 * fallbacks serve nobody here but the chain goes on, as decide() goes on; it ends at a model served
 * to everyone.
 */
function fallbacksOf(
  scheme: CompiledScheme,
  model: CompiledModel,
  actionIndex: number,
  country: string,
  time: number,
  served: Served,
): PolicyFallback[] {
  const out: PolicyFallback[] = [];
  let home = served.home;
  const before = new Set([...served.nationals, ...served.organizations, ...served.licensees]);
  const fresh = (list: readonly string[]) => list.filter((x) => !before.has(x));
  let next = model.fallback;
  const seen = new Set<string>([model.id]);
  while (next !== null && !seen.has(next)) {
    seen.add(next);
    const f = servedAt(scheme, next, actionIndex, country, time);
    if (f.access === "everyone") {
      out.push({ ...NO_ONE, model: next, access: "everyone", home_persons: !home });
      break;
    }
    const gains = {
      home_persons: f.home && !home,
      partner_nationals: fresh(f.nationals),
      partner_organizations: fresh(f.organizations),
      licensees: fresh(f.licensees),
    };
    const access: Access | null =
      gains.partner_nationals.length > 0
        ? "partner-nationals"
        : gains.partner_organizations.length > 0
          ? "partner-organizations"
          : gains.licensees.length > 0
            ? "licensees"
            : gains.home_persons
              ? "home-persons"
              : null;
    if (access !== null) out.push({ model: next, access, ...gains });
    home ||= f.home;
    for (const x of [...f.nationals, ...f.organizations, ...f.licensees]) before.add(x);
    next = scheme.models.get(next)?.fallback ?? null;
  }
  return out;
}

const NO_ONE = { home_persons: false, partner_nationals: [], partner_organizations: [], licensees: [] };

export function policyFootprint(scheme: CompiledScheme, time: number): PolicyFootprint {
  const rows: PolicyRow[] = [];
  const models = [...scheme.models.values()];
  for (const country of allCountryCodes()) {
    for (const model of models) {
      for (const action of ACTIONS) {
        const ai = ACTION_INDEX[action];
        const s = servedAt(scheme, model.id, ai, country, time);
        // Everyone not served the model asked for goes down its fallback chain, except where the
        // place itself is embargoed (a universal denial never falls back).
        const fallbacks =
          s.access === "everyone" || s.access === "embargoed"
            ? []
            : fallbacksOf(scheme, model, ai, country, time, s);
        const everyone =
          fallbacks.at(-1)?.access === "everyone" ? (fallbacks.at(-1) as PolicyFallback) : null;
        rows.push({
          country,
          model: model.id,
          control: model.control,
          action,
          access: s.access,
          home_persons: s.home,
          partner_nationals: s.nationals,
          partner_organizations: s.organizations,
          licensees: s.licensees,
          fallback_model: everyone?.model ?? null,
          fallback_access: everyone === null ? null : "everyone",
          fallbacks,
        });
      }
    }
  }
  return { scheme: scheme.ref, at: new Date(time).toISOString(), rows };
}
