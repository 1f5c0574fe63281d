/**
 * Joining the audit log with the store: the log names a principal by id, or by a keyed hash of it
 * when the gateway pseudonymises (audit.pseudonym_key_env). The operator holding that key can hash
 * every principal in the store and so recognise them; without it, pseudonyms stay unknown.
 */
import { pseudonymizer } from "../audit/entry.js";
import type { PrincipalBlock } from "../identity/schema.js";
import { timeOf } from "../policy/decide.js";
import { factsOf, type PrincipalFacts } from "../policy/facts.js";
import type { Principal } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { screened, statusMaps } from "../screening/status.js";
import type { Store } from "../store/index.js";
import { comparableTime } from "./period.js";

export type PrincipalIndex = ReadonlyMap<string, Principal>;

export interface KnownPrincipals {
  /**
   * Everyone the log may name: the store's principals, then the people partners' identity providers
   * vouched for (`fed:<provider>:<subject>`, with the facts the provider was last believed for). Each
   * with the screening status the gateway decides on: the worse of its record's and what screening
   * and review found for it and its organization (as the data plane's snapshot lays it over them).
   */
  readonly all: readonly Principal[];
  /** Of those, the ones a request can come from now: a blocked federated principal is refused first. */
  readonly servable: readonly Principal[];
  /** How many of `all` are federated, and how many of those are blocked. */
  readonly federated: number;
  readonly blocked: number;
}

/** The store's principals and its federated ones (both drivers list them, ordered by id). */
export async function knownPrincipals(store: Store): Promise<KnownPrincipals> {
  const [stored, federated, blocks, statuses] = await Promise.all([
    store.principals.list(),
    store.federated.list(),
    store.records.list<PrincipalBlock>("principal-block"),
    store.screening.statuses(),
  ]);
  // A denied party the gateway refuses everything must not come out of a what-if gaining access.
  const maps = statusMaps(statuses);
  const own = stored.map((p) => screened(p, maps));
  const blocked = new Set(blocks.filter((b) => b.document.blocked).map((b) => b.id));
  const vouched = federated.map((r) => screened(r.principal, maps));
  const servable = vouched.filter((p) => !blocked.has(p.id));
  return {
    all: own.length === 0 ? vouched : [...own, ...vouched],
    servable: servable.length === 0 ? own : [...own, ...servable],
    federated: vouched.length,
    blocked: vouched.length - servable.length,
  };
}

/** The store's principals by the name the log gives them (their id, and their pseudonym with a key). */
export function principalIndex(principals: Iterable<Principal>, pseudonymKey: string | null): PrincipalIndex {
  const out = new Map<string, Principal>();
  const hash = pseudonymKey === null ? null : pseudonymizer(pseudonymKey);
  for (const p of principals) {
    out.set(p.id, p);
    if (hash !== null) out.set(hash(p.id), p);
  }
  return out;
}

/**
 * A principal's nationality as decisions see it: a home person's home country; a foreign person's
 * relevant nationalities under the scheme's rule ("CA", or "CN+CA" when several count); "none" when
 * nothing is on record.
 */
export function nationalityLabel(scheme: CompiledScheme, p: Principal): string {
  // Every nationality on record, dated or not: the label at no time in particular (the latest).
  return nationalityLabelAt(scheme, p, Infinity);
}

/**
 * The label at `time` (ms), from the facts decide() works out for that time: a citizenship or
 * residency acquired after it (its `since`) is not held yet, as decide() reads it. The facts are
 * decide()'s own, kept per interval between listed dates (factsOf), and the label with them: one
 * person gets one label per interval, the one its decisions at that time were made on.
 */
function nationalityLabelAt(scheme: CompiledScheme, p: Principal, time: number): string {
  const facts = factsOf(scheme, p, time);
  let label = LABELS.get(facts);
  if (label === undefined) {
    label =
      facts.homeCountry ?? (facts.relevant.length === 0 ? "none" : [...facts.relevant].sort().join("+"));
    LABELS.set(facts, label);
  }
  return label;
}

const LABELS = new WeakMap<PrincipalFacts, string>();

interface Named {
  readonly principal: Principal;
  /** The label from `heldFrom` on (an ISO time; "" when no nationality has a date). */
  readonly label: string;
  readonly heldFrom: string;
}

/**
 * The log's names resolved to principals and labelled at each decision's time, for a pass over the
 * log: a name is looked up once; a decision at or after the principal's last listed date (nearly
 * all of them) gets the label kept for it by comparing the entry's time as text, the rest go
 * through nationalityLabelAt.
 */
export class NationalityLabels {
  private readonly named = new Map<string, Named | null>();
  /** Names in the log the index does not hold. */
  readonly unknown = new Set<string>();

  constructor(
    private readonly scheme: CompiledScheme,
    private readonly principals: PrincipalIndex,
  ) {}

  /** The principal a name in the log stands for (undefined: one the store does not hold). */
  principal(name: string): Principal | undefined {
    return this.lookup(name)?.principal;
  }

  /** The label of the principal a name in the log stands for, at an entry's time (ISO 8601). */
  at(name: string, time: string): string {
    const n = this.lookup(name);
    if (n === null) return UNKNOWN_PRINCIPAL;
    return time >= n.heldFrom ? n.label : nationalityLabelAt(this.scheme, n.principal, timeOf(time));
  }

  private lookup(name: string): Named | null {
    let n = this.named.get(name);
    if (n === undefined) {
      const p = this.principals.get(name);
      if (p === undefined) {
        this.unknown.add(name);
        n = null;
      } else {
        const { heldFrom } = factsOf(this.scheme, p);
        n = {
          principal: p,
          label: nationalityLabelAt(this.scheme, p, Infinity),
          // Entry times are toISOString()'s: four-digit years (a date outside them, see comparableTime).
          heldFrom: heldFrom === -Infinity ? "" : comparableTime(new Date(heldFrom).toISOString()),
        };
      }
      this.named.set(name, n);
    }
    return n;
  }
}

export const UNKNOWN_PRINCIPAL = "unknown";
