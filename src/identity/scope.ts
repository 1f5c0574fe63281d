/**
 * The scope of vouching (pure): a provider is believed only within its partner's reach. A country
 * partner's provider vouches for citizenships, permanent residencies and residence in that
 * partner's countries, never for organization membership; an organization partner's provider for
 * membership of that organization only, and for its members' nationality and residence only in the
 * organization's own country. Everything else a token claims is set aside, and the identity basis
 * says which and why — except a nationality or residence against the holder's interest (embargoed
 * or restricted), which is believed from any source: setting it aside would widen access. A home
 * country's citizenship or permanent residency is never believed from a provider, even one whose
 * partner's countries include it: it would make a home person, served every model and action at
 * any assurance, above every grant the partner has (an administrator's record says that).
 */
import type { IdentityBasis, Nationality, Principal, SetAsideClaim } from "../policy/types.js";
import type { Claimed, ClaimedFacts } from "./claims.js";

/** What a provider's partner may vouch for. */
export interface Reach {
  readonly kind: "country" | "organization";
  readonly partner: string;
  /** The countries whose nationality and residence it may vouch for. */
  readonly countries: ReadonlySet<string>;
  /** Nationalities believed from anyone (the scheme's embargoed and restricted sets). */
  readonly adverse: ReadonlySet<string>;
  /** The scheme's home countries: their citizenship or permanent residency is never believed from a provider. */
  readonly home: ReadonlySet<string>;
}

export interface Vouched {
  readonly principal: Principal;
  readonly basis: IdentityBasis;
  readonly displayName: string | null;
}

export interface TokenFacts {
  readonly principalId: string;
  readonly issuer: string;
  readonly provider: string;
  readonly keyId: string | null;
  readonly subject: string;
}

export function vouch(reach: Reach, facts: ClaimedFacts, token: TokenFacts): Vouched {
  const used: string[] = [];
  const setAside: SetAsideClaim[] = [...facts.unreadable];
  const aside = (fact: string, c: Claimed<unknown>, value: string, why: string) =>
    setAside.push({ fact, claim: c.claim, value, why });

  const nationalities = (fact: string, list: readonly Claimed<Nationality>[]): Nationality[] => {
    const kept: Nationality[] = [];
    for (const c of list) {
      const code = c.value.country;
      const since = (c.value.since ? ` since ${c.value.since}` : "") + (c.note ? ` (${c.note})` : "");
      if (reach.home.has(code)) {
        aside(
          fact,
          c,
          code,
          `${code} is a home country: a partner's provider does not vouch for a home person (an administrator's record does)`,
        );
      } else if (reach.countries.has(code)) {
        kept.push(c.value);
        used.push(`${fact} ${code}${since} (claim ${c.claim})`);
      } else if (reach.adverse.has(code)) {
        kept.push(c.value);
        used.push(
          `${fact} ${code}${since} (claim ${c.claim}): outside ${reach.partner}'s reach, but an embargoed or restricted nationality is believed from any source`,
        );
      } else {
        aside(fact, c, code, outside(reach, fact, code));
      }
    }
    return kept;
  };
  const citizenships = nationalities("citizenships", facts.citizenships);
  const residencies = nationalities("permanent residencies", facts.permanent_residencies);

  let residence: string | null = null;
  if (facts.residence !== null) {
    const code = facts.residence.value;
    if (reach.countries.has(code)) {
      residence = code;
      used.push(`residence ${code} (claim ${facts.residence.claim})`);
    } else if (reach.adverse.has(code)) {
      // As for nationality: an embargoed residence set aside would turn embargoed-residence into an allow.
      residence = code;
      used.push(
        `residence ${code} (claim ${facts.residence.claim}): outside ${reach.partner}'s reach, but an embargoed or restricted residence is believed from any source`,
      );
    } else aside("residence", facts.residence, code, outside(reach, "residence", code));
  }

  let organization: string | null = null;
  if (reach.kind === "organization") {
    const claimed = facts.organization;
    // A claim the mapper could not read (a list of two, a number) is already set aside: it names
    // someone's organization, maybe another's, so it is no membership, as a readable other one is not.
    const unread = facts.unreadable.some((c) => c.fact === "organization");
    if (claimed === null && unread) {
      organization = null;
    } else if (claimed === null) {
      organization = reach.partner;
      used.push(`organization ${reach.partner} (the provider's own organization)`);
    } else if (claimed.value === reach.partner) {
      organization = reach.partner;
      used.push(`organization ${reach.partner} (claim ${claimed.claim})`);
    } else {
      // The token names someone else's organization: believe neither (no membership is vouched).
      aside(
        "organization",
        claimed,
        claimed.value,
        `organization partner ${reach.partner}'s provider vouches only for membership of ${reach.partner}`,
      );
    }
  } else if (facts.organization !== null) {
    aside(
      "organization",
      facts.organization,
      facts.organization.value,
      `country partner ${reach.partner}'s provider vouches for nationality and residence, not organization membership`,
    );
  }

  const principal: Principal = {
    id: token.principalId,
    citizenships,
    permanent_residencies: residencies,
    residence,
    organization,
    assurance: facts.assurance.level,
    // Never from the token: the screening engine and a reviewer set it.
    screening: "clear",
  };
  return {
    principal,
    displayName: facts.display_name,
    basis: {
      issuer: token.issuer,
      provider: token.provider,
      partner: reach.partner,
      key_id: token.keyId,
      subject: token.subject,
      used,
      set_aside: setAside,
      assurance: facts.assurance,
    },
  };
}

function outside(reach: Reach, fact: string, code: string): string {
  return reach.kind === "country"
    ? `${code} is outside country partner ${reach.partner}'s countries`
    : `organization partner ${reach.partner}'s provider vouches for ${fact} only in its own country (${[...reach.countries].join(", ")})`;
}
