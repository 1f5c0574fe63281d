/**
 * Who is screened: principals with a name, and organizations — partners in the registry and
 * organizations principals name with a name.
 */
import { createHash } from "node:crypto";
import type { PartnerDocument } from "../control/types.js";
import type { Principal } from "../policy/types.js";
import type { Store } from "../store/index.js";
import type { SubjectKind } from "../store/screening.js";
import type { CurrentFacts } from "../store/screening-current.js";
import type { SubjectFacts } from "./matcher.js";

export interface Subject {
  readonly kind: SubjectKind;
  readonly id: string;
  readonly facts: SubjectFacts;
}

/**
 * What a clearance is for on the subject's side: a digest of every fact the matcher reads (name,
 * type, birth date, nationalities or country). A change to any of them reopens a cleared match.
 */
export function factsDigest(facts: SubjectFacts): string {
  const canonical = {
    name: facts.name,
    type: facts.type ?? "unknown",
    birth_date: facts.birth_date ?? null,
    nationalities: [...new Set((facts.nationalities ?? []).map((n) => n.toUpperCase()))].sort(),
  };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}

export function principalSubject(p: Principal): Subject | null {
  if (p.name == null || p.name.trim() === "") return null;
  return {
    kind: "principal",
    id: p.id,
    facts: {
      name: p.name,
      type: "person",
      ...(p.birth_date == null ? {} : { birth_date: p.birth_date }),
      nationalities: (p.citizenships ?? []).map((c) => c.country),
    },
  };
}

export function organizationSubjects(
  principals: readonly Principal[],
  partners: readonly PartnerDocument[],
): Subject[] {
  const out = new Map<string, Subject>();
  const add = (id: string, name: string | null | undefined, country: string | null | undefined) => {
    if (name == null || name.trim() === "" || out.has(id)) return;
    out.set(id, {
      kind: "organization",
      id,
      facts: { name, type: "organization", nationalities: country == null ? [] : [country] },
    });
  };
  // The partner registry's name is authoritative; principals' own references come after.
  for (const d of partners)
    if (d.kind === "organization") add(d.partner.id, d.partner.name, d.partner.country);
  for (const p of principals) {
    const org = p.organization;
    if (org !== null && typeof org === "object") add(org.id, org.name, org.country);
  }
  return [...out.values()];
}

export function subjectsOf(
  principals: readonly Principal[],
  partners: readonly PartnerDocument[],
): Subject[] {
  return [
    ...principals.map(principalSubject).filter((s): s is Subject => s !== null),
    ...organizationSubjects(principals, partners),
  ];
}

/**
 * The facts digests the store's principal is screened on now (none: deleted, or no name): a
 * screening of other facts is not recorded over them (`ScreeningStore.record`).
 */
export const currentFacts: CurrentFacts = (stored) =>
  [
    stored.principal,
    stored.federated?.display_name == null
      ? undefined
      : { ...stored.federated.principal, name: stored.federated.display_name },
  ].flatMap((p) => {
    const subject = p === undefined ? null : principalSubject(p);
    return subject === null ? [] : [factsDigest(subject.facts)];
  });

/** Every subject the store knows: its principals, partners' federated principals, organizations. */
export async function loadSubjects(store: Store): Promise<Subject[]> {
  const [principals, federated, partners] = await Promise.all([
    store.principals.list(),
    store.federated.list(),
    store.records.list<PartnerDocument>("partner"),
  ]);
  const named = federated.flatMap((r) =>
    r.display_name === null ? [] : [{ ...r.principal, name: r.display_name }],
  );
  return subjectsOf(
    [...principals, ...named],
    partners.map((r) => r.document),
  );
}
