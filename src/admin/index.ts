/**
 * The minimal admin API (the full control plane is a later issue): principals and API keys, behind
 * an admin token. Changes made here reach the data plane's snapshot before the response is sent.
 *   GET/POST /admin/v1/principals, GET/DELETE /admin/v1/principals/{id}
 *   GET/POST /admin/v1/keys (?principal=ID), POST /admin/v1/keys/{id}/revoke
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "../errors/index.js";
import { readJson, sendJson } from "../http/index.js";
import { parsePrincipal } from "../policy/index.js";
import { StoreError, type ApiKeyRecord, type Store } from "../store/index.js";

export interface AdminContext {
  readonly store: Store;
  /** SHA-256 of the admin token, or null: the admin API is disabled. */
  readonly tokenHash: Buffer | null;
  /** Brings the data plane's snapshot up to date after a change. */
  readonly changed: () => Promise<void>;
}

/** Who the audit log says made a change through this API (one shared token until roles arrive). */
const ADMIN_ACTOR = "admin-token";

export const hashToken = (token: string): Buffer => createHash("sha256").update(token).digest();

/** Constant-time check of `Authorization: Bearer <admin token>`. */
export function requireAdmin(req: IncomingMessage, tokenHash: Buffer | null): void {
  if (tokenHash === null) {
    throw new HttpError(
      403,
      "admin_disabled",
      "the admin API is disabled: set CLEARANCE_ADMIN_TOKEN (or admin.token_env)",
    );
  }
  const auth = req.headers.authorization ?? "";
  const presented = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
  if (presented === "" || !timingSafeEqual(hashToken(presented), tokenHash)) {
    throw new HttpError(401, "invalid_admin_token", "missing or invalid admin token");
  }
}

/** Key records as shown to administrators: never the hash. */
const publicKey = ({ hash: _hash, ...rest }: ApiKeyRecord) => rest;

export async function handleAdmin(
  ctx: AdminContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  requireAdmin(req, ctx.tokenHash);
  const url = new URL(req.url ?? "/", "http://localhost");
  const parts = path.split("/").filter(Boolean).slice(2); // drop "admin", "v1"
  const [collection, id, action] = parts.map(decodeURIComponent);
  const method = req.method ?? "GET";

  if (collection === "principals") {
    if (id === undefined && method === "GET")
      return sendJson(res, 200, { data: await ctx.store.principals.list() });
    if (id === undefined && method === "POST") {
      const principal = parsePrincipal(await readJson(req));
      const { created } = await ctx.store.principals.put(principal, ADMIN_ACTOR);
      await ctx.changed();
      return sendJson(res, created ? 201 : 200, principal);
    }
    if (id !== undefined && action === undefined && method === "GET") {
      const p = await ctx.store.principals.get(id);
      if (p === undefined) throw new HttpError(404, "not_found", `no principal ${id}`);
      return sendJson(res, 200, p);
    }
    if (id !== undefined && action === undefined && method === "DELETE") {
      if (!(await ctx.store.principals.remove(id, ADMIN_ACTOR)))
        throw new HttpError(404, "not_found", `no principal ${id}`);
      await ctx.changed();
      return sendJson(res, 200, { id, removed: true });
    }
  }
  if (collection === "keys") {
    if (id === undefined && method === "GET") {
      const principal = url.searchParams.get("principal") ?? undefined;
      return sendJson(res, 200, { data: (await ctx.store.keys.list(principal)).map(publicKey) });
    }
    if (id === undefined && method === "POST") {
      const body = (await readJson(req)) as { principal?: unknown; label?: unknown };
      if (typeof body?.principal !== "string") {
        throw new HttpError(400, "invalid_request", "principal: expected a principal id", {
          problems: [
            { code: "invalid_type", path: ["principal"], message: "expected a principal id (a string)" },
          ],
        });
      }
      const label = typeof body.label === "string" ? body.label : null;
      try {
        const { key, record } = await ctx.store.keys.create(body.principal, label, ADMIN_ACTOR);
        await ctx.changed();
        return sendJson(res, 201, { key, ...publicKey(record), note: "the key is shown once; store it now" });
      } catch (err) {
        if (err instanceof StoreError && err.code === "unknown-principal") {
          throw new HttpError(404, "not_found", `no principal ${body.principal}`);
        }
        throw err;
      }
    }
    if (id !== undefined && action === "revoke" && method === "POST") {
      if (!(await ctx.store.keys.revoke(id, ADMIN_ACTOR)))
        throw new HttpError(404, "not_found", `no key ${id}`);
      await ctx.changed();
      return sendJson(res, 200, { id, revoked: true });
    }
  }
  if (collection === "principals" || collection === "keys") {
    throw new HttpError(405, "method_not_allowed", `${method} is not allowed on ${path}`);
  }
  throw new HttpError(404, "not_found", `no admin route ${path}`);
}
