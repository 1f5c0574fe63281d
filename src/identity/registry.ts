/**
 * Registering, changing and removing identity providers in the store: the checks every path shares
 * (admin API, config bootstrap). Every change is a record write, so it is an audit entry and reaches
 * every node like any other control-plane change.
 */
import type { ControlState } from "../control/state.js";
import { ClearanceError, InvalidInputError, type Problem } from "../errors/index.js";
import type { PrincipalSuspension, SuspendPrincipal } from "../alerts/service.js";
import { StoreError, type Store, type StoredRecord } from "../store/index.js";
import { zodProblems } from "../yaml/index.js";
import { isFederatedPrincipal } from "./federation.js";
import {
  providerInputSchema,
  type ProviderInput,
  type ProviderRecord,
  type PrincipalBlock,
} from "./schema.js";

export const PROVIDERS = "identity-provider" as const;

/** What an audit entry says about a provider (its keys' source, never inline key material in full). */
export function providerSummary(p: ProviderInput): Record<string, unknown> {
  return {
    issuer: p.issuer,
    keys: p.jwks !== undefined ? "inline" : (p.jwks_uri ?? "discovery"),
    audiences: p.audiences,
    algorithms: p.algorithms,
    max_assurance: p.max_assurance,
  };
}

/**
 * An issuer as compared for "one provider per issuer": host case, the default port, trailing
 * slashes and an empty query or fragment do not make another issuer. A token's iss is still
 * matched exactly (as registered): this only stops two providers, perhaps two partners' reaches,
 * from being registered for what a person would read as one issuer.
 */
function issuerKey(issuer: string): string {
  let u: URL;
  try {
    u = new URL(issuer);
  } catch {
    return issuer;
  }
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}${u.search}${u.hash}`;
}

/**
 * The URLs the keys would be fetched from over plain http (the schema allows it to loopback only),
 * refused unless identity.allow_http_loopback is on: the fetch would refuse them anyway, and the
 * provider would fail later, quietly.
 */
function plainHttpProblems(
  p: ProviderInput,
  allowHttpLoopback: boolean,
  at: readonly (string | number)[] = [],
): Problem[] {
  if (allowHttpLoopback) return [];
  const fetched: ["issuer" | "jwks_uri", string | undefined][] = [
    ["jwks_uri", p.jwks_uri],
    ["issuer", p.jwks === undefined && p.jwks_uri === undefined ? p.issuer : undefined],
  ];
  return fetched
    .filter(([, url]) => url?.startsWith("http:") === true)
    .map(([field]) => ({
      code: "insecure_url",
      path: [...at, field],
      message:
        "plain http is fetched only with identity.allow_http_loopback (an IdP on this machine: demos, tests); use https",
    }));
}

/**
 * The partner must exist; the keys' URLs must be fetchable; the issuer must not be another live
 * provider's. The partner is looked for in the store when this node's snapshot lacks it: one
 * registered through another node (or the CLI) is there before this node reloads.
 */
export async function checkProvider(
  store: Store,
  state: ControlState,
  providers: readonly StoredRecord<ProviderRecord>[],
  partner: string,
  p: ProviderInput,
  allowHttpLoopback: boolean,
): Promise<void> {
  if (
    !state.partners.some((r) => r.id === partner) &&
    (await store.records.get("partner", partner)) === undefined
  )
    throw new ClearanceError("not-found", "not_found", `no partner ${partner}`);
  const insecure = plainHttpProblems(p, allowHttpLoopback);
  if (insecure.length > 0) throw new InvalidInputError(insecure);
  const key = issuerKey(p.issuer);
  const clash = providers.find(
    (r) => r.document.removed === null && r.id !== p.id && issuerKey(r.document.issuer) === key,
  );
  if (clash !== undefined) {
    throw new InvalidInputError([
      {
        code: "conflict",
        path: ["issuer"],
        message: `issuer ${p.issuer} is already registered as ${clash.id} (partner ${clash.document.partner}): one provider per issuer`,
      },
    ]);
  }
}

/** Registers a provider (or re-registers a removed id). */
export async function addProvider(
  store: Store,
  state: ControlState,
  partner: string,
  input: ProviderInput,
  actor: string,
  now: string,
  allowHttpLoopback: boolean,
): Promise<ProviderRecord> {
  const providers = await store.records.list<ProviderRecord>(PROVIDERS);
  await checkProvider(store, state, providers, partner, input, allowHttpLoopback);
  const existing = providers.find((r) => r.id === input.id);
  if (existing !== undefined && existing.document.removed === null) {
    throw new ClearanceError(
      "conflict",
      "conflict",
      `identity provider ${input.id} exists (partner ${existing.document.partner})`,
    );
  }
  const doc: ProviderRecord = { ...input, partner, created_at: now, created_by: actor, removed: null };
  await store.records.put(PROVIDERS, input.id, doc, existing?.revision ?? 0, {
    actor,
    action: "identity-provider.add",
    details: { partner, ...providerSummary(input) },
  });
  return doc;
}

/** A config file's bootstrap list: `partner` plus the provider's members, each checked. */
export function parseBootstrap(
  list: readonly unknown[],
  allowHttpLoopback: boolean,
): {
  entries: { partner: string; provider: ProviderInput }[];
  problems: Problem[];
} {
  const entries: { partner: string; provider: ProviderInput }[] = [];
  const problems: Problem[] = [];
  list.forEach((item, i) => {
    const at = ["identity", "providers", i];
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      problems.push({ code: "invalid_type", path: at, message: "expected a provider (a mapping)" });
      return;
    }
    const { partner, ...rest } = item as Record<string, unknown>;
    if (typeof partner !== "string" || partner === "") {
      problems.push({ code: "invalid_type", path: [...at, "partner"], message: "expected the partner's id" });
    }
    const r = providerInputSchema.safeParse(rest);
    if (!r.success) problems.push(...zodProblems(r.error, providerInputSchema, at));
    else {
      problems.push(...plainHttpProblems(r.data, allowHttpLoopback, at));
      if (typeof partner === "string") entries.push({ partner, provider: r.data });
    }
  });
  return { entries, problems };
}

/**
 * Adds the config's providers that the store does not have yet (never over a change or a removal
 * made since: once bootstrapped, the store is the record). Returns lines to log.
 */
export async function bootstrapProviders(
  store: Store,
  state: ControlState,
  list: readonly unknown[],
  now: string,
  allowHttpLoopback: boolean,
): Promise<string[]> {
  const { entries, problems } = parseBootstrap(list, allowHttpLoopback);
  if (problems.length > 0) throw new InvalidInputError(problems);
  const lines: string[] = [];
  for (const { partner, provider } of entries) {
    if ((await store.records.get(PROVIDERS, provider.id)) !== undefined) continue;
    await addProvider(store, state, partner, provider, "config", now, allowHttpLoopback);
    lines.push(`clearance: identity provider ${provider.id} (partner ${partner}) registered from the config`);
  }
  return lines;
}

export const BLOCKS = "principal-block" as const;

/**
 * Blocks or unblocks one federated principal: its provider's tokens for it are refused from the next
 * snapshot on. An officer does it through the admin API; an alert's `suspend` response does it too.
 * An audit entry names who and why.
 */
export async function setBlock(
  store: Store,
  id: string,
  blocked: boolean,
  reason: string,
  actor: string,
  now: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  const existing = await store.records.get<PrincipalBlock>(BLOCKS, id);
  await putBlock(store, id, existing, blocked, reason, actor, now, details);
}

/** Written over `existing` as read (a change made since is a StoreError "conflict", not lost). */
async function putBlock(
  store: Store,
  id: string,
  existing: StoredRecord<PrincipalBlock> | undefined,
  blocked: boolean,
  reason: string,
  actor: string,
  now: string,
  details: Record<string, unknown>,
): Promise<void> {
  const doc: PrincipalBlock = { blocked, reason, at: now, by: actor };
  await store.records.put(BLOCKS, id, doc, existing?.revision ?? 0, {
    actor,
    action: `federated-principal.${blocked ? "block" : "unblock"}`,
    details: { reason, ...details },
  });
}

/**
 * An alert's `suspend` response for a partner's federated principal (it has no API key to revoke):
 * the same block an officer sets through the admin API, by the detector, naming the alert. A
 * principal already blocked (by an officer, another node's suspension) keeps its block and reason,
 * as a revoked key keeps its first revokedAt: the response says so rather than claim the block.
 * No reload here: the alert service reloads once after its suspension (alert and block together).
 * null for a store principal: its API keys are revoked instead.
 */
export function blockOnAlert(store: Store): SuspendPrincipal {
  return async (id, why) => {
    if (!isFederatedPrincipal(id)) return null;
    const already: PrincipalSuspension = {
      outcome: "already-blocked",
      text: `federated principal ${id} already blocked`,
    };
    const actor = `detector:${why.detector}`;
    const reason = `alert ${why.alert} (${why.detector})`;
    // Twice at most: a block (or an unblock) written between the read and the write is a conflict;
    // read again rather than fail the response (and have it retried) over a principal now blocked.
    for (let attempt = 1; ; attempt++) {
      const existing = await store.records.get<PrincipalBlock>(BLOCKS, id);
      if (existing?.document.blocked === true) return already;
      try {
        await putBlock(store, id, existing, true, reason, actor, new Date().toISOString(), {
          alert: why.alert,
        });
        return { outcome: "blocked", text: `federated principal ${id} blocked` };
      } catch (err) {
        if (attempt >= 2 || !(err instanceof StoreError) || err.code !== "conflict") throw err;
      }
    }
  };
}
