/**
 * Audit-log entries: one per decision and one per admin change, encoded as RFC 8785 canonical JSON
 * so that anyone can re-encode an entry and get the same bytes (and leaf hash). They name who asked
 * for what and what was decided, never prompt content, completions or secrets.
 *
 * Decision entry (v1):
 *   {"v":1,"type":"decision","time","request_id","node","principal","organization","location",
 *    "model","served_model","action","decision","reason","grant","scheme"}
 *   principal: the principal id, or "hmac-sha256:<base64url>" when pseudonymised with a key;
 *   grant: "partner-country:<id>#<n>", "partner-organization:<id>#<n>", "license:<id>" or null;
 *   identity (only when a partner's identity provider vouched for the principal):
 *     {"assurance","issuer","key_id","provider","set_aside":["<fact> <claim>",…],"subject"}, the
 *     subject pseudonymised like the principal.
 * Admin entry (v1):
 *   {"v":1,"type":"admin","time","node","change","actor","action","object":{"kind","id"},"details"}
 *   change: the change's sequence number in the store (its outbox id), so a change is logged once.
 */
import { createHmac } from "node:crypto";
import { canonicalJson } from "../canonical/index.js";
import type { Decision, GrantRef, Principal } from "../policy/index.js";

export interface DecisionContext {
  readonly time: Date;
  readonly requestId: string;
  readonly node: string;
  readonly principal: Principal;
  readonly location: string | null;
  readonly action: string;
}

export type Pseudonymizer = (principalId: string) => string;

/** Keyed hash of principal ids: the log stays linkable per person without naming them. */
export function pseudonymizer(key: string): Pseudonymizer {
  return (id) => `hmac-sha256:${createHmac("sha256", key).update(id).digest("base64url")}`;
}

export function grantId(grant: GrantRef | null): string | null {
  if (grant === null) return null;
  return grant.kind === "license"
    ? `license:${grant.license}`
    : `${grant.kind}:${grant.partner}#${grant.index}`;
}

/**
 * A decision entry. Its members are strings, null and one small integer, for which RFC 8785 is
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
      model: d.model,
      node: ctx.node,
      organization: org == null ? null : typeof org === "string" ? org : org.id,
      principal: pseudonymize ? pseudonymize(ctx.principal.id) : ctx.principal.id,
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

export function adminEntry(c: AdminChange): Buffer {
  return Buffer.from(
    canonicalJson({
      v: 1,
      type: "admin",
      time: c.time.toISOString(),
      node: c.node,
      change: c.change ?? null,
      actor: c.actor,
      action: c.action,
      object: c.object,
      details: c.details ?? {},
    }),
  );
}
