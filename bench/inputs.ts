/**
 * (principal, request) pairs for the benchmark, drawn from the generated world. Requests are shaped
 * by what the person holds (licensed models, quotas), so licenses are actually exercised rather than
 * almost every request ending in "no-authorization".
 */
import type { DecisionRequest, Principal } from "../src/policy/types.js";
import type { Kind, Person, World } from "./generate.js";
import {
  CONTROLLED,
  DAY,
  EMBARGOED,
  EU_OTHER,
  HOME_ONLY,
  OPEN,
  OTHER,
  PURPOSES,
  Rng,
  TRUSTED,
  WINDOW_DAYS,
  WINDOW_START,
} from "./generate.js";

export interface Input {
  readonly principal: Principal;
  readonly request: DecisionRequest;
  readonly kind: Kind;
}

interface Holdings {
  models: string[];
  /** [license id, quota tokens] of the licenses with a quota. */
  quotas: [string, number][];
}

function holdingsIndex(world: World): Map<string, Holdings> {
  const index = new Map<string, Holdings>();
  for (const l of world.scheme.licenses ?? []) {
    const holder = "principal" in l.licensee ? l.licensee.principal : l.licensee.organization;
    const h = index.get(holder) ?? { models: [], quotas: [] };
    h.models.push(...l.models);
    if (l.quota_tokens !== undefined) h.quotas.push([l.id, l.quota_tokens]);
    index.set(holder, h);
  }
  return index;
}

function organizationId(p: Principal): string | null {
  const org = p.organization ?? null;
  return org === null ? null : typeof org === "string" ? org : org.id;
}

export function generateInputs(world: World, count: number, seed: number): Input[] {
  const r = new Rng(seed);
  const index = holdingsIndex(world);
  const inputs: Input[] = [];
  for (let i = 0; i < count; i++) {
    const person = r.pick(world.people);
    const own = index.get(person.principal.id);
    const orgId = organizationId(person.principal);
    const org = orgId === null ? undefined : index.get(orgId);
    const held: Holdings = {
      models: [...(own?.models ?? []), ...(org?.models ?? [])],
      quotas: [...(own?.quotas ?? []), ...(org?.quotas ?? [])],
    };
    inputs.push({ principal: person.principal, request: request(r, person, held), kind: person.kind });
  }
  return inputs;
}

/** A request as the person would make it: usually a controlled model, from where they work. */
function request(r: Rng, p: Person, held: Holdings): DecisionRequest {
  const model = r.weighted([
    [55, () => (held.models.length > 0 && r.chance(0.6) ? r.pick(held.models) : r.pick(CONTROLLED))],
    [30, () => r.pick(OPEN)],
    [10, () => HOME_ONLY],
    [3, () => "eu-mythos-5"],
    [2, () => "retired-model"], // unknown to the scheme
  ])();
  const location = r.weighted<() => string | null>([
    [75, () => p.base],
    [12, () => "US"],
    [8, () => r.pick([...TRUSTED, ...EU_OTHER, ...OTHER])],
    [3, () => null],
    [2, () => r.pick(EMBARGOED)],
  ])();
  const time = WINDOW_START + r.int(WINDOW_DAYS * DAY);
  // Usage as the gateway's meter reports it; about one in six metered licenses is used up.
  let usage: Record<string, { tokens: number }> | undefined;
  if (held.quotas.length > 0 && r.chance(0.7)) {
    usage = {};
    for (const [id, quota] of held.quotas) usage[id] = { tokens: Math.floor(r.next() * 1.2 * quota) };
  }
  return {
    model,
    action: r.weighted([
      [70, "infer"],
      [12, "evaluate"],
      [10, "fine_tune"],
      [8, "weights"],
    ] as const),
    location,
    purpose: r.chance(0.6) ? r.pick(PURPOSES) : null,
    // Over the wire the time is an ISO 8601 string; decide() parses it, so the bench does too.
    time: new Date(time).toISOString(),
    ...(usage ? { usage } : {}),
  };
}
