/** Principals and their API keys. */
import { z } from "zod";
import { ClearanceError } from "../../errors/index.js";
import { keyCreation } from "../../control/schemas.js";
import { principalSchema } from "../../policy/index.js";
import type { ApiKeyRecord } from "../../store/index.js";
import { principalSubject } from "../../screening/subjects.js";
import { answer, reloadAfter } from "../in-force.js";
import { pageQuery, route } from "../router.js";
import { OFFICERS, READERS } from "./roles.js";

const publicKey = ({ hash: _hash, ...rest }: ApiKeyRecord) => rest;

export const principalRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/principals",
    tag: "principals",
    summary: "List principals",
    roles: READERS,
    query: z.object({
      ...pageQuery,
      organization: z.string().optional(),
      // The console's key form finds a principal by it, among however many there are.
      prefix: z
        .string()
        .min(1, "the prefix is empty: leave it out to list every principal")
        .max(1024, "the prefix is longer than 1024 characters")
        .optional()
        .describe("principals whose id, or name, starts with it (letter case aside)"),
    }),
    async handle({ deps, query }) {
      // Filtered and paged in the store: a page reads its principals, not every one. One more than
      // the page says whether another follows.
      const { limit, cursor, organization, prefix } = query;
      const found = await deps.store.principals.page({
        limit: limit + 1,
        ...(cursor === undefined ? {} : { after: cursor }),
        ...(organization === undefined ? {} : { organization }),
        ...(prefix === undefined ? {} : { prefix }),
      });
      const data = found.slice(0, limit);
      return { data, next_cursor: found.length > limit ? (data.at(-1)?.id ?? null) : null };
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/principals",
    tag: "principals",
    summary: "Add or replace a principal",
    roles: OFFICERS,
    body: principalSchema,
    status: 201,
    async handle({ deps, body, caller }) {
      await deps.store.principals.put(body, caller.id);
      // Screened before answering: the change below carries its screening status to every node.
      const subject = principalSubject(body);
      if (subject !== null) await deps.screening?.screen([subject], "screening");
      return answer(deps, await reloadAfter(deps, `principal ${body.id}`), body);
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/principals/{id}",
    tag: "principals",
    summary: "Read a principal",
    roles: READERS,
    async handle({ deps, params }) {
      const p = await deps.store.principals.get(params.id as string);
      if (p === undefined) throw new ClearanceError("not-found", "not_found", `no principal ${params.id}`);
      return p;
    },
  }),
  route({
    method: "DELETE",
    path: "/admin/v1/principals/{id}",
    tag: "principals",
    summary: "Remove a principal and its keys",
    roles: OFFICERS,
    async handle({ deps, params, caller }) {
      if (!(await deps.store.principals.remove(params.id as string, caller.id))) {
        throw new ClearanceError("not-found", "not_found", `no principal ${params.id}`);
      }
      // Until this node reloads, the principal and its keys are still let through here: said.
      return answer(deps, await reloadAfter(deps, `principal ${params.id}`), {
        id: params.id,
        removed: true,
      });
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/keys",
    tag: "keys",
    summary: "List API keys",
    roles: READERS,
    query: z.object({
      ...pageQuery,
      principal: z.string().optional(),
      status: z.enum(["active", "revoked"]).optional(),
    }),
    async handle({ deps, query }) {
      // Filtered and paged in the store, as principals are: a page reads its keys, not every one.
      const { limit, cursor, principal, status } = query;
      const found = await deps.store.keys.page({
        limit: limit + 1,
        ...(cursor === undefined ? {} : { after: cursor }),
        ...(principal === undefined ? {} : { principal }),
        ...(status === undefined ? {} : { status }),
      });
      const data = found.slice(0, limit).map(publicKey);
      return { data, next_cursor: found.length > limit ? (data.at(-1)?.id ?? null) : null };
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/keys",
    tag: "keys",
    summary: "Create an API key",
    roles: OFFICERS,
    body: keyCreation,
    status: 201,
    async handle({ deps, body, caller }) {
      // An unknown principal is a StoreError "unknown-principal": 404, from the one table.
      const { key, record } = await deps.store.keys.create(body.principal, body.label ?? null, caller.id);
      const written = await reloadAfter(deps, `API key ${record.id}`);
      return answer(deps, written, {
        key,
        ...publicKey(record),
        note: "the key is shown once; store it now",
      });
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/keys/{id}/revoke",
    tag: "keys",
    summary: "Revoke an API key",
    roles: OFFICERS,
    /**
     * `{id, revoked: true}`, with `already_revoked: true` when it was revoked before this call
     * (another officer, the CLI, an alert's suspension): its first revocation stands, nothing changed.
     */
    async handle({ deps, params, caller }) {
      const outcome = await deps.store.keys.revoke(params.id as string, caller.id);
      if (outcome === "unknown") throw new ClearanceError("not-found", "not_found", `no key ${params.id}`);
      const done = {
        id: params.id,
        revoked: true,
        ...(outcome === "already-revoked" ? { already_revoked: true } : {}),
      };
      const written = await reloadAfter(deps, `API key ${params.id}`);
      // Revoked before, and taken so here (revoking again changes nothing): nothing is pending here.
      if (deps.takesKey?.(params.id as string) === false) return done;
      // Until this node reloads, the key is still let through here: said.
      return answer(deps, written, done);
    },
  }),
];
