/** Admin identities: a token (shown once, stored hashed) bound to roles. */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { tokenHash } from "../../control/state.js";
import { ROLES, type Identity } from "../../control/types.js";
import { ClearanceError } from "../../errors/index.js";
import { answer, reloadAfter } from "../in-force.js";
import { pageQuery, paginate, route } from "../router.js";
import { ADMINS } from "./roles.js";
import { MAX_NAME, nameText } from "../../scheme/text.js";
import { organizationId } from "../../licensing/schema.js";

/** Actors the audit log already uses: an identity must not be mistaken for them. */
const RESERVED = new Set(["admin", "scheme-file", "system", "demo"]);

const view = ({ token_hash: _hash, ...rest }: Identity) => rest;

export const identityRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/me",
    tag: "identities",
    summary: "Who the caller is: identity, roles and organization",
    roles: ROLES,
    query: z.object({}),
    // The console shows what these roles allow; every route still checks them itself.
    async handle({ deps, caller }) {
      const name =
        caller.name ??
        deps.state().identityRecords.find((r) => r.id === caller.id)?.document.name ??
        caller.id;
      return { id: caller.id, name, roles: [...caller.roles], organization: caller.organization };
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/identities",
    tag: "identities",
    summary: "List identities",
    roles: ADMINS,
    query: z.object(pageQuery),
    async handle({ deps, query }) {
      const all = deps.state().identityRecords.map((r) => ({ ...view(r.document), id: r.id }));
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/identities",
    tag: "identities",
    summary: "Create an identity with roles",
    roles: ADMINS,
    status: 201,
    body: z
      .strictObject({
        // Every change and approval it makes names it in the audit log: bounded, as other ids are.
        id: z
          .string()
          .regex(/^[a-z0-9][a-z0-9._@-]*$/, "lower-case letters, digits and . _ @ -")
          .max(MAX_NAME, `at most ${MAX_NAME} characters`),
        name: nameText,
        roles: z.array(z.enum(ROLES)).min(1),
        /** An organization id (as licenses and partners name it), never free text. */
        organization: organizationId.optional(),
        /** Default: admin_security.token_ttl_days. */
        expires_in_days: z.number().int().min(1).max(3650).optional(),
      })
      .refine((b) => !b.roles.includes("applicant") || b.organization !== undefined, {
        message: "an applicant acts for an organization: set organization",
        path: ["organization"],
      }),
    async handle({ deps, body, caller }) {
      if (RESERVED.has(body.id)) {
        throw new ClearanceError(
          "invalid",
          "reserved_id",
          `${body.id} names a built-in actor in the audit log; choose another id`,
          {
            problems: [{ code: "reserved_id", path: ["id"], message: "reserved" }],
          },
        );
      }
      if (deps.state().identityRecords.some((r) => r.id === body.id)) {
        throw new ClearanceError("conflict", "conflict", `identity ${body.id} exists`);
      }
      const token = `clra_${randomBytes(32).toString("base64url")}`;
      const days = body.expires_in_days ?? deps.tokenTtlDays;
      const expires =
        days === undefined ? null : new Date(Date.parse(deps.now()) + days * 86_400_000).toISOString();
      const doc: Identity = {
        id: body.id,
        name: body.name,
        roles: body.roles,
        organization: body.organization ?? null,
        token_hash: tokenHash(token),
        created_at: deps.now(),
        revoked_at: null,
        expires_at: expires,
      };
      await deps.store.records.put("identity", body.id, doc, 0, {
        actor: caller.id,
        action: "identity.create",
        details: { roles: body.roles, organization: doc.organization },
      });
      const written = await reloadAfter(deps, `identity ${body.id}`);
      return answer(deps, written, { ...view(doc), token, note: "the token is shown once; store it now" });
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/identities/{id}/revoke",
    tag: "identities",
    summary: "Revoke an identity's token",
    roles: ADMINS,
    async handle({ deps, params, caller }) {
      const r = deps.state().identityRecords.find((i) => i.id === params.id);
      if (r === undefined) throw new ClearanceError("not-found", "not_found", `no identity ${params.id}`);
      // Already revoked: nothing changes, and the first revoked_at stands (as for API keys).
      if (r.document.revoked_at !== null) return { id: r.id, revoked: true };
      await deps.store.records.put("identity", r.id, { ...r.document, revoked_at: deps.now() }, r.revision, {
        actor: caller.id,
        action: "identity.revoke",
      });
      // Until this node reloads, the token is still accepted here: said.
      return answer(deps, await reloadAfter(deps, `identity ${r.id}`), { id: r.id, revoked: true });
    },
  }),
];
