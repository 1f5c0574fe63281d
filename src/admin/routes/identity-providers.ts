/**
 * Partners' identity providers (`/admin/v1/partners/{id}/identity-providers`, every partner's at
 * `/admin/v1/identity-providers`) and the federated principals their tokens created
 * (`/admin/v1/federated-principals`), which an officer can block one by one while the provider
 * keeps issuing tokens.
 */
import { z } from "zod";
import { ClearanceError, InvalidInputError } from "../../errors/index.js";
import { isFederatedPrincipal } from "../../identity/federation.js";
import {
  addProvider,
  BLOCKS,
  checkProvider,
  PROVIDERS,
  providerSummary,
  setBlock,
} from "../../identity/registry.js";
import {
  principalBlockBody,
  providerInputSchema,
  providerUpdateSchema,
  type PrincipalBlock,
  type ProviderRecord,
} from "../../identity/schema.js";
import type { StoredRecord } from "../../store/index.js";
import { zodProblems } from "../../yaml/index.js";
import type { AdminDeps } from "../deps.js";
import { answer, reloadAfter } from "../in-force.js";
import { pageQuery, paginate, route } from "../router.js";
import { OFFICERS, READERS, ownOnly } from "./roles.js";
import type { Caller } from "../deps.js";
import { reasonText } from "./text.js";

/** Where a provider's keys come from: exactly one of these. */
const KEY_SOURCES = ["discovery", "jwks_uri", "jwks"] as const;

/** Readers, and a partner's person for its own partner's records. */
const PARTNER_READERS = [...READERS, "partner"] as const;

/** What a partner's person reads instead of a failed fetch's detail. */
const KEY_ERROR_FOR_PARTNERS =
  "the provider's keys could not be fetched; ask the gateway's operator for the detail";

const view = (r: StoredRecord<ProviderRecord>, deps: AdminDeps, caller: Caller) => {
  const keys = deps.keyStatus === undefined ? undefined : (deps.keyStatus(r.id) ?? null);
  // The detail names the URLs tried and what answered there: the gateway's network, an operator's to read.
  const redact = keys?.last_error != null && ownOnly(caller, PARTNER_READERS);
  return {
    revision: r.revision,
    ...r.document,
    ...(keys === undefined ? {} : { keys: redact ? { ...keys, last_error: KEY_ERROR_FOR_PARTNERS } : keys }),
  };
};

/** A partner's person asking for another partner's records: they do not exist for it. */
function ownPartner(caller: Caller, partner: string): void {
  if (ownOnly(caller, PARTNER_READERS) && caller.organization !== partner) {
    throw new ClearanceError("not-found", "not_found", `no partner ${partner}`);
  }
}

async function live(deps: AdminDeps, partner: string, id: string): Promise<StoredRecord<ProviderRecord>> {
  const r = await deps.store.records.get<ProviderRecord>(PROVIDERS, id);
  if (r === undefined || r.document.removed !== null || r.document.partner !== partner) {
    throw new ClearanceError("not-found", "not_found", `partner ${partner} has no identity provider ${id}`);
  }
  return r;
}

export const identityProviderRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/identity-providers",
    tag: "identity providers",
    summary: "List every partner's identity providers",
    roles: PARTNER_READERS,
    query: z.object({ ...pageQuery, partner: z.string().optional() }),
    async handle({ deps, query, caller }) {
      // One request for the console's page, which asked once a partner; the same scope as per partner.
      const own = ownOnly(caller, PARTNER_READERS);
      const all = (await deps.store.records.list<ProviderRecord>(PROVIDERS))
        .filter(
          (r) =>
            r.document.removed === null &&
            (!own || r.document.partner === caller.organization) &&
            (query.partner === undefined || r.document.partner === query.partner),
        )
        .map((r) => view(r, deps, caller));
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/partners/{id}/identity-providers",
    tag: "identity providers",
    summary: "List a partner's identity providers",
    roles: PARTNER_READERS,
    query: z.object({ ...pageQuery }),
    async handle({ deps, params, query, caller }) {
      ownPartner(caller, params.id!);
      const all = (await deps.store.records.list<ProviderRecord>(PROVIDERS))
        .filter((r) => r.document.partner === params.id && r.document.removed === null)
        .map((r) => view(r, deps, caller));
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/partners/{id}/identity-providers",
    tag: "identity providers",
    summary: "Register an identity provider for a partner",
    roles: OFFICERS,
    status: 201,
    body: providerInputSchema,
    async handle({ deps, params, body, caller }) {
      const doc = await addProvider(
        deps.store,
        deps.state(),
        params.id!,
        body,
        caller.id,
        deps.now(),
        deps.allowHttpLoopback === true,
      );
      return answer(deps, await reloadAfter(deps, `identity provider ${doc.id}`), doc);
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/partners/{id}/identity-providers/{provider}",
    tag: "identity providers",
    summary: "Read an identity provider (and its key set's state on this node)",
    roles: PARTNER_READERS,
    async handle({ deps, params, caller }) {
      ownPartner(caller, params.id!);
      return view(await live(deps, params.id!, params.provider!), deps, caller);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/partners/{id}/identity-providers/{provider}",
    tag: "identity providers",
    summary: "Change an identity provider",
    roles: OFFICERS,
    body: providerUpdateSchema,
    async handle({ deps, params, body, caller }) {
      const r = await live(deps, params.id!, params.provider!);
      const { reason, ...changes } = body;
      const { partner, created_at, created_by, removed, ...kept } = r.document;
      // A change naming a key source replaces the one in force (one source at a time).
      const current: Record<string, unknown> = { ...kept };
      if (KEY_SOURCES.some((k) => k in changes)) for (const k of KEY_SOURCES) delete current[k];
      // The same checks as a new registration, on the changed provider as a whole.
      const parsed = providerInputSchema.safeParse({ ...current, ...changes });
      if (!parsed.success) throw new InvalidInputError(zodProblems(parsed.error, providerInputSchema));
      const merged = parsed.data;
      const providers = await deps.store.records.list<ProviderRecord>(PROVIDERS);
      await checkProvider(
        deps.store,
        deps.state(),
        providers,
        partner,
        merged,
        deps.allowHttpLoopback === true,
      );
      const doc: ProviderRecord = { ...merged, partner, created_at, created_by, removed };
      await deps.store.records.put(PROVIDERS, r.id, doc, r.revision, {
        actor: caller.id,
        action: "identity-provider.update",
        details: {
          partner,
          changed: Object.keys(changes),
          ...providerSummary(merged),
          reason: reason ?? null,
        },
      });
      return answer(deps, await reloadAfter(deps, `identity provider ${r.id}`), doc);
    },
  }),
  route({
    method: "DELETE",
    path: "/admin/v1/partners/{id}/identity-providers/{provider}",
    tag: "identity providers",
    summary: "Remove an identity provider (its tokens are refused from then on)",
    roles: OFFICERS,
    query: z.object({ reason: reasonText().optional() }),
    async handle({ deps, params, query, caller }) {
      const r = await live(deps, params.id!, params.provider!);
      const reason = query.reason ?? "removed";
      const doc: ProviderRecord = { ...r.document, removed: { at: deps.now(), by: caller.id, reason } };
      await deps.store.records.put(PROVIDERS, r.id, doc, r.revision, {
        actor: caller.id,
        action: "identity-provider.remove",
        details: { partner: r.document.partner, issuer: r.document.issuer, reason },
      });
      // Until this node reloads, the provider's tokens are still accepted here: said.
      return answer(deps, await reloadAfter(deps, `identity provider ${r.id}`), { id: r.id, removed: true });
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/federated-principals",
    tag: "identity providers",
    summary: "List principals created from partner tokens",
    roles: PARTNER_READERS,
    query: z.object({
      ...pageQuery,
      provider: z.string().optional(),
      partner: z.string().optional(),
    }),
    async handle({ deps, query, caller }) {
      const blocks = await blockMap(deps);
      const all = (await deps.store.federated.list())
        .filter(
          (p) =>
            (!ownOnly(caller, PARTNER_READERS) || p.partner === caller.organization) &&
            (query.provider === undefined || p.provider === query.provider) &&
            (query.partner === undefined || p.partner === query.partner),
        )
        .map((p) => ({ ...p, source: `identity provider ${p.provider}`, blocked: blocks.get(p.id) ?? null }));
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/federated-principals/{id}",
    tag: "identity providers",
    summary: "Read a federated principal",
    roles: PARTNER_READERS,
    async handle({ deps, params, caller }) {
      const p = await deps.store.federated.get(params.id!);
      if (p === undefined || (ownOnly(caller, PARTNER_READERS) && p.partner !== caller.organization))
        throw new ClearanceError("not-found", "not_found", `no federated principal ${params.id}`);
      const blocks = await blockMap(deps);
      return { ...p, source: `identity provider ${p.provider}`, blocked: blocks.get(p.id) ?? null };
    },
  }),
  block("block", true),
  block("unblock", false),
];

async function blockMap(deps: AdminDeps): Promise<Map<string, PrincipalBlock>> {
  const blocks = await deps.store.records.list<PrincipalBlock>(BLOCKS);
  return new Map(blocks.filter((b) => b.document.blocked).map((b) => [b.id, b.document]));
}

function block(verb: "block" | "unblock", blocked: boolean) {
  return route({
    method: "POST",
    path: `/admin/v1/federated-principals/{id}/${verb}`,
    tag: "identity providers",
    summary: blocked
      ? "Block a federated principal (its provider's tokens for it are refused)"
      : "Unblock a federated principal",
    roles: OFFICERS,
    body: principalBlockBody,
    async handle({ deps, params, body, caller }) {
      const id = params.id!;
      // A principal not seen yet may be blocked too: an id is all it takes.
      if (!isFederatedPrincipal(id))
        throw new ClearanceError("invalid", "invalid_id", `${id} is not a federated principal's id (fed:…)`);
      await setBlock(deps.store, id, blocked, body.reason, caller.id, deps.now());
      const written = await reloadAfter(deps, `federated principal ${id}`);
      const done = { id, blocked, reason: body.reason };
      // Blocked (or unblocked) before, and held so here: only the reason is new, nothing is pending.
      if (deps.blocksPrincipal?.(id) === blocked) return done;
      // Until this node reloads, its tokens are still taken (or refused) here: said.
      return answer(deps, written, done);
    },
  });
}
