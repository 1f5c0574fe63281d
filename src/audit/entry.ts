/**
 * Audit-log entries: one per decision and one per admin change, encoded as RFC 8785 canonical JSON
 * so that anyone can re-encode an entry and get the same bytes (and leaf hash). They name who asked
 * for what and what was decided, never prompt content, completions or secrets.
 *
 * Decision entry (v1):
 *   {"v":1,"type":"decision","time","request_id","node","principal","organization","location",
 *    "model","served_model","action","decision","reason","grant","scheme"[,"purpose"][,"lookup"]
 *    [,"identity"]}
 *   principal: the principal id, or "hmac-sha256:<base64url>" when pseudonymised with a key;
 *   lookup (true, only for a model lookup, GET /v1/models/{id}): the decision was answered to a
 *     caller asking whether it may use the model, not made for a request served — reports count it
 *     apart (no use of a license or grant); every other entry has no such member;
 *   purpose (only when the request declared one, x-clearance-purpose): the purpose the decision
 *     was made for — a license limited to purposes is matched against it;
 *   grant: "partner-country:<id>#<n>", "partner-organization:<id>#<n>", "license:<id>" or null;
 *   identity (only when a partner's identity provider vouched for the principal):
 *     {"assurance","issuer","key_id","provider","set_aside":["<fact> <claim>",…],"subject"}, the
 *     subject pseudonymised like the principal.
 * Admin entry (v1):
 *   {"v":1,"type":"admin","time","node","change","actor","action","object":{"kind","id"},"details"}
 *   change: the change's sequence number in the store (its outbox id), so a change is logged once.
 *   When principals are pseudonymised, so are they in admin entries, and the personal facts a change
 *   carries are replaced by their digests (see ADMIN_PERSONS below).
 */
import { createHash, createHmac } from "node:crypto";
import { canonicalJson } from "../canonical/index.js";
import { MAX_ENTRY } from "./wal.js";
import type { Decision, GrantRef, Principal } from "../policy/index.js";
import { ALERT_ACTION } from "../store/alerts.js";
import { matchId, type SubjectKind } from "../store/screening.js";

export interface DecisionContext {
  readonly time: Date;
  readonly requestId: string;
  readonly node: string;
  readonly principal: Principal;
  readonly location: string | null;
  readonly action: string;
  /**
   * The purpose the request declared (x-clearance-purpose), which a license's allow may rest on;
   * null or absent: none declared, and the entry has no `purpose` member (its bytes as before).
   */
  readonly purpose?: string | null;
  /**
   * A model lookup (GET /v1/models/{id}), not a request served: the entry says `"lookup":true`.
   * Absent or false: no member, the bytes of an entry written before it existed.
   */
  readonly lookup?: boolean;
}

export type Pseudonymizer = (principalId: string) => string;

/** Principals whose pseudonyms are remembered; beyond it, the memory starts over. */
const PSEUDONYMS = 65_536;

/**
 * Keyed hash of principal ids: the log stays linkable per person without naming them. Worked out
 * once per principal (the same few callers make most requests), not once per request.
 */
export function pseudonymizer(key: string): Pseudonymizer {
  const known = new Map<string, string>();
  return (id) => {
    let pseudonym = known.get(id);
    if (pseudonym === undefined) {
      pseudonym = `hmac-sha256:${createHmac("sha256", key).update(id).digest("base64url")}`;
      if (known.size >= PSEUDONYMS) known.clear();
      known.set(id, pseudonym);
    }
    return pseudonym;
  };
}

export function grantId(grant: GrantRef | null): string | null {
  if (grant === null) return null;
  return grant.kind === "license"
    ? `license:${grant.license}`
    : `${grant.kind}:${grant.partner}#${grant.index}`;
}

/**
 * A decision entry. Its members are strings, null, `true` and one small integer, for which RFC 8785 is
 * JSON.stringify with the keys in code-unit order: written here in that order, it skips a generic
 * canonicaliser on the request path (a test checks the bytes equal canonicalJson's).
 */
export function decisionEntry(d: Decision, ctx: DecisionContext, pseudonymize?: Pseudonymizer): Buffer {
  const org = ctx.principal.organization;
  return Buffer.from(
    JSON.stringify({
      action: ctx.action,
      decision: d.decision,
      grant: grantId(d.grant),
      identity:
        d.identity === undefined
          ? undefined
          : {
              assurance: d.identity.assurance.level,
              issuer: d.identity.issuer,
              key_id: d.identity.key_id,
              provider: d.identity.provider,
              set_aside: d.identity.set_aside.map((c) => `${c.fact} ${c.claim}`),
              subject: pseudonymize ? pseudonymize(d.identity.subject) : d.identity.subject,
            },
      location: ctx.location,
      lookup: ctx.lookup === true ? true : undefined,
      model: d.model,
      node: ctx.node,
      organization: org == null ? null : typeof org === "string" ? org : org.id,
      principal: pseudonymize ? pseudonymize(ctx.principal.id) : ctx.principal.id,
      purpose: ctx.purpose ?? undefined,
      reason: d.reason,
      request_id: ctx.requestId,
      scheme: d.scheme.digest,
      served_model: d.served_model,
      time: ctx.time.toISOString(),
      type: "decision",
      v: 1,
    }),
  );
}

export interface AdminChange {
  readonly time: Date;
  readonly node: string;
  /** Who did it: an admin identity, "cli:<user>", or "scheme-file". */
  readonly actor: string;
  /** What was done, e.g. "principal.put", "key.create", "key.revoke". */
  readonly action: string;
  readonly object: { readonly kind: string; readonly id: string };
  readonly details?: Readonly<Record<string, unknown>>;
  readonly change?: number;
}

/**
 * An admin change's entry. With `pseudonymize` (the log's pseudonym key is set), the principals it
 * names are named by their pseudonyms and the personal facts it carries by their digests, as
 * ADMIN_PERSONS says for its action; without, the change as the store recorded it.
 */
export function adminEntry(c: AdminChange, pseudonymize?: Pseudonymizer): Buffer {
  const { object, details } =
    pseudonymize === undefined
      ? { object: c.object, details: c.details ?? {} }
      : withoutPersons(c.action, { object: c.object, details: c.details ?? {} }, pseudonymize);
  const entry = (
    shown: Readonly<Record<string, unknown>>,
    named: { readonly kind: string; readonly id: string } = object,
    actor: string = c.actor,
  ) =>
    Buffer.from(
      canonicalJson({
        v: 1,
        type: "admin",
        time: c.time.toISOString(),
        node: c.node,
        change: c.change ?? null,
        actor,
        action: c.action,
        object: named,
        details: shown,
      }),
    );
  const full = entry(details);
  if (full.length <= MAX_ENTRY) return full;
  // No log can hold it, and refusing it would leave this change and every later one unlogged: the
  // change is logged all the same, its details replaced by their digest (the operator can show them).
  const withheld = {
    withheld: "too large",
    bytes: full.length,
    sha256: createHash("sha256").update(canonicalJson(details)).digest("hex"),
  };
  const lighter = entry(withheld);
  if (lighter.length <= MAX_ENTRY) return lighter;
  // Still too large: an object id or actor longer than any the API takes (written past it, or by an
  // older release). Named by their digests, for the same reason.
  return entry(withheld, { kind: object.kind, id: digestOf(object.id) }, digestOf(c.actor));
}

/** A name too long for an entry, as `sha256:<hex>` of its UTF-8 (left as it is when short). */
const digestOf = (name: string): string =>
  name.length <= 256 ? name : `sha256:${createHash("sha256").update(name).digest("hex")}`;

/** What an admin entry shows of its change: the object and the details. */
export interface AdminShown {
  readonly object: { readonly kind: string; readonly id: string };
  readonly details: Readonly<Record<string, unknown>>;
}

/** How one action's entry names people when principals are pseudonymised. */
type Withhold = (c: AdminShown, pseudonymize: Pseudonymizer) => AdminShown;

/**
 * What the log shows instead of a personal document or a free text about a person: the pseudonym
 * (keyed, as principals') of `sha256:<hex>` of the value's RFC 8785 canonical JSON (for a text, the
 * JSON string, quotes included). Keyed, so that nobody without the key can confirm a guess (a
 * short note, a label) from the log; the operator, holding the document and the key, can show a
 * regulator that it was this one.
 */
export function contentDigest(value: unknown, pseudonymize: Pseudonymizer): string {
  return pseudonymize(`sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`);
}

/**
 * The parts of a principal's document that an admin entry keeps beside its pseudonym and digest:
 * facts about its organization and how far it is vouched for and screened, not about the person.
 * Name, birth date, citizenships, permanent residencies and residence are left out.
 */
const PRINCIPAL_KEPT = ["organization", "assurance", "screening"] as const;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A copy of `o` with `id` replaced (assigned, not spread: see eslint.config.js on this file). */
const withId = <T extends object>(o: T, id: unknown): T => Object.assign({}, o, { id });

/** Details with the named members (those present) replaced by `fn` of their value. */
function mapDetails(
  details: Readonly<Record<string, unknown>>,
  fns: Readonly<Record<string, (v: unknown) => unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...details };
  for (const [k, fn] of Object.entries(fns)) if (k in out) out[k] = fn(out[k]);
  return out;
}

/** A free text: its keyed digest (null and absent stay as they are). */
const textDigest =
  (p: Pseudonymizer) =>
  (v: unknown): unknown =>
    v === null || v === undefined ? v : contentDigest(v, p);

/** A principal id: its pseudonym. */
const principalId = (p: Pseudonymizer) => (v: unknown) => (typeof v === "string" ? p(v) : v);

/**
 * A credential as identity names it: an API key id stays (it names no one), a federated token's
 * `principal:<id>` becomes `principal:<pseudonym>`.
 */
const credential = (p: Pseudonymizer) => (v: unknown) =>
  typeof v === "string" && v.startsWith("principal:") ? `principal:${p(v.slice("principal:".length))}` : v;

/** A subject `{kind, id}` (alerts, screening): a principal's id, or a federated credential, pseudonymised. */
const subject = (p: Pseudonymizer) => (v: unknown) => {
  if (!isRecord(v) || typeof v.id !== "string") return v;
  if (v.kind === "principal") return withId(v, p(v.id));
  if (v.kind === "key") return withId(v, credential(p)(v.id));
  return v;
};

/** Whether a subject is a person or a person's credential (a text about it may name the person). */
const aboutPerson = (v: unknown) => isRecord(v) && (v.kind === "principal" || v.kind === "key");

/** A principal's document: its pseudonym, the digest of the whole, and the parts that are not personal. */
const principalDocument = (p: Pseudonymizer) => (v: unknown) => {
  if (!isRecord(v)) return textDigest(p)(v);
  const shown: Record<string, unknown> = {};
  for (const k of PRINCIPAL_KEPT) if (k in v) shown[k] = v[k];
  shown.id = principalId(p)(v.id);
  shown.digest = contentDigest(v, p);
  return shown;
};

const pseudonymObject: Withhold = (c, p) => ({
  object: withId(c.object, p(c.object.id)),
  details: c.details,
});
const unchanged: Withhold = (c) => c;

/**
 * Every admin action, and what its entry names of people when principals are pseudonymised. Listed
 * one by one rather than found by walking the details: a field is only known to name a person by
 * the code that writes it (the store drivers, src/screening, src/alerts, src/identity,
 * src/licensing, src/control, src/admin). Principal ids (store principals and federated `fed:…`
 * ids) become their pseudonyms, the same as decision entries', so a reader holding the key joins
 * them; personal documents and free texts about a person become their keyed digests (contentDigest).
 * An action missing here is logged with its details withheld (see withoutPersons), and the test
 * that runs every outbox-writing operation (admin-pseudonyms.test.ts) fails until it is listed.
 */
export const ADMIN_PERSONS: Readonly<Record<string, Withhold>> = {
  // object: the principal; details.principal: its whole document (name, birth date, citizenships,
  // residencies…) → pseudonym, digest, organization, assurance, screening status.
  "principal.put": (c, p) => ({
    object: withId(c.object, p(c.object.id)),
    details: mapDetails(c.details, { principal: principalDocument(p) }),
  }),
  "principal.remove": pseudonymObject,
  // object: the key id (random, names no one). details.principal: whose key; label: an operator's
  // free text about it ("Maria's laptop").
  "key.create": (c, p) => ({
    object: c.object,
    details: mapDetails(c.details, { principal: principalId(p), label: textDigest(p) }),
  }),
  // details: {} from an operator; from an alert's automatic response {alert, detector, reason}, the
  // reason being the alert's summary, which names the principal.
  "key.revoke": (c, p) => ({ object: c.object, details: mapDetails(c.details, { reason: textDigest(p) }) }),
  // object: {kind: "principal" | "organization", id}; details {from, to}.
  "screening.status": (c, p) => (c.object.kind === "principal" ? pseudonymObject(c, p) : c),
  // Matches: object `principal:<id>|<list>|<entry>`; details {subject, list, entry, from, to, score,
  // reviewer?, reason?}. For a principal the listed entry is keyed too (a confirmed match would
  // otherwise say who the person is: the list names them), and the reviewer's reason is digested.
  // An organization's matches name no person.
  "screening.match": screeningMatch,
  "screening.resolve": screeningMatch,
  "screening.confirm": screeningMatch,
  "screening.clear": screeningMatch,
  // A list version's counts and digest: no subject.
  "screening.import": unchanged,
  // Alerts (object: the alert id). raise: {detector, severity, subject, summary, evidence}; the
  // summary names the principal when the subject is a principal or a key (a key's summary names its
  // owner), evidence.details may name the principal (key-sharing) and a federated credential
  // (impossible-travel).
  [ALERT_ACTION.open]: (c, p) => {
    const evidence = (e: unknown) =>
      isRecord(e) && isRecord(e.details)
        ? Object.assign({}, e, {
            details: mapDetails(e.details, { principal: principalId(p), credential: credential(p) }),
          })
        : e;
    const fns: Record<string, (v: unknown) => unknown> = { subject: subject(p), evidence };
    if (aboutPerson(c.details.subject)) fns.summary = textDigest(p);
    return { object: c.object, details: mapDetails(c.details, fns) };
  },
  // {from, to, note}: the note is an officer's free text.
  [ALERT_ACTION.acknowledged]: alertStep,
  [ALERT_ACTION.resolved]: alertStep,
  // {action, result, detector, subject}: the result names what was suspended ("<id> has no active
  // API key", "federated principal <id> blocked").
  "alert.respond": (c, p) => {
    const fns: Record<string, (v: unknown) => unknown> = { subject: subject(p) };
    if (aboutPerson(c.details.subject)) fns.result = textDigest(p);
    return { object: c.object, details: mapDetails(c.details, fns) };
  },
  // {not_yet_in_force: {code, message}, detector, subject}: the message names the alert only.
  "alert.not_in_force": (c, p) => ({
    object: c.object,
    details: mapDetails(c.details, { subject: subject(p) }),
  }),
  // object: {kind: "principal-block", id: the federated principal}; details {reason, alert?}.
  "federated-principal.block": federatedBlock,
  "federated-principal.unblock": federatedBlock,
  // Control-plane records that name no principal. Licenses: the licensee (which may be a principal)
  // is in the record, not in the entry ({status, justification?, conditions?, reason?, from_scheme?,
  // version?, id?}). Identities are the operators who act (named as actors everywhere), not principals.
  "scheme.upload": unchanged,
  "scheme.activate": unchanged,
  "partner.register": unchanged,
  "partner.activate": unchanged,
  "partner.suspend": unchanged,
  "partner.revoke": unchanged,
  "partner.seed": unchanged,
  "license.apply": unchanged,
  "license.approve": unchanged,
  "license.deny": unchanged,
  "license.suspend": unchanged,
  "license.reinstate": unchanged,
  "license.revoke": unchanged,
  "license.seed": unchanged,
  "identity.create": unchanged,
  "identity.revoke": unchanged,
  "identity-provider.add": unchanged,
  "identity-provider.update": unchanged,
  "identity-provider.remove": unchanged,
};

function screeningMatch(c: AdminShown, p: Pseudonymizer): AdminShown {
  const s = c.details.subject;
  if (!isRecord(s) || s.kind !== "principal" || typeof s.id !== "string") return c;
  const { list, entry } = c.details;
  const keyedEntry = typeof entry === "string" ? p(entry) : entry;
  return {
    object:
      typeof list === "string" && typeof keyedEntry === "string"
        ? withId(c.object, matchId(s.kind as SubjectKind, p(s.id), list, keyedEntry))
        : withId(c.object, contentDigest(c.object.id, p)),
    details: mapDetails(c.details, {
      subject: subject(p),
      entry: () => keyedEntry,
      reason: textDigest(p),
    }),
  };
}

function alertStep(c: AdminShown, p: Pseudonymizer): AdminShown {
  return { object: c.object, details: mapDetails(c.details, { note: textDigest(p) }) };
}

function federatedBlock(c: AdminShown, p: Pseudonymizer): AdminShown {
  return {
    object: withId(c.object, p(c.object.id)),
    details: mapDetails(c.details, { reason: textDigest(p) }),
  };
}

/** Object kinds whose ids name no person: an unlisted action's object keeps them. */
const IMPERSONAL_KINDS = new Set([
  "key",
  "alert",
  "license",
  "partner",
  "scheme",
  "setting",
  "identity",
  "identity-provider",
  "screening-list",
]);

/**
 * The change as a pseudonymised log shows it. An action ADMIN_PERSONS does not list (a new one)
 * fails closed: its details are withheld (their digest only) and its object's id pseudonymised
 * unless its kind names no person; the entry still says who did what, and when.
 */
export function withoutPersons(action: string, c: AdminShown, pseudonymize: Pseudonymizer): AdminShown {
  const rule = Object.hasOwn(ADMIN_PERSONS, action) ? ADMIN_PERSONS[action] : undefined;
  if (rule !== undefined) return rule(c, pseudonymize);
  return {
    object: IMPERSONAL_KINDS.has(c.object.kind) ? c.object : withId(c.object, pseudonymize(c.object.id)),
    details: Object.keys(c.details).length === 0 ? {} : { withheld: contentDigest(c.details, pseudonymize) },
  };
}
