/**
 * The screening status the decision reads (DESIGN.md check 1), laid over the principals of the data
 * plane's snapshot: the worse of what the record says and what screening and review found, for the
 * principal and for its organization.
 */
import { organizationIdOf } from "../policy/facts.js";
import type { Principal, Screening } from "../policy/types.js";
import type { ClearedMatch, SubjectStatusRow } from "../store/screening.js";

const RANK: Readonly<Record<Screening, number>> = { clear: 0, potential: 1, confirmed: 2 };
const worse = (a: Screening | undefined, b: Screening | undefined): Screening =>
  RANK[a ?? "clear"] >= RANK[b ?? "clear"] ? (a ?? "clear") : (b ?? "clear");

/** The statuses screening and review found, by subject id (what the overlay reads). */
export interface StatusMaps {
  /** Subjects whose status is not clear. */
  readonly person: ReadonlyMap<string, Screening>;
  readonly organization: ReadonlyMap<string, Screening>;
  /** Federated principals' clearances, which their in-memory screening honours (federated.ts). */
  readonly cleared: ReadonlyMap<string, readonly ClearedMatch[]>;
}

export function statusMaps(statuses: readonly SubjectStatusRow[]): StatusMaps {
  const person = new Map<string, Screening>();
  const organization = new Map<string, Screening>();
  const cleared = new Map<string, readonly ClearedMatch[]>();
  for (const s of statuses) {
    if (s.status !== "clear") (s.kind === "principal" ? person : organization).set(s.id, s.status);
    if (s.kind === "principal" && s.cleared !== undefined) cleared.set(s.id, s.cleared);
  }
  return { person, organization, cleared };
}

/** One principal with the worse of its own status and what screening found for it and its organization. */
export function screened(p: Principal, maps: StatusMaps): Principal {
  const own = maps.person.get(p.id);
  const org = p.organization ?? null;
  const orgId = organizationIdOf(org);
  const orgStatus = orgId === null ? undefined : maps.organization.get(orgId);
  if (own === undefined && orgStatus === undefined) return p;
  let out: Principal = own === undefined ? p : { ...p, screening: worse(p.screening, own) };
  if (orgStatus !== undefined && org !== null) {
    const ref = typeof org === "string" ? { id: org } : org;
    out = { ...out, organization: { ...ref, screening: worse(ref.screening, orgStatus) } };
  }
  return out;
}

export function applyScreening(
  principals: readonly Principal[],
  statuses: readonly SubjectStatusRow[],
): Principal[] {
  if (statuses.length === 0) return [...principals];
  const maps = statusMaps(statuses);
  return principals.map((p) => screened(p, maps));
}
