/**
 * The admin API (`/admin/v1/…`, JSON): principals, keys, identities and roles, partners, licenses
 * and their workflow, scheme versions, models, usage, alerts. Described by `/admin/openapi.json`, which is
 * generated from the same route table and schemas that validate requests.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../http/index.js";
import type { AdminDeps } from "./deps.js";
import { createRouter, openApiDocument } from "./router.js";
import { alertRoutes } from "./routes/alerts.js";
import { identityRoutes } from "./routes/identities.js";
import { identityProviderRoutes } from "./routes/identity-providers.js";
import { licenseRoutes } from "./routes/licenses.js";
import { partnerRoutes } from "./routes/partners.js";
import { principalRoutes } from "./routes/principals.js";
import { reportRoutes } from "./routes/reports.js";
import { schemeRoutes } from "./routes/schemes.js";
import { screeningRoutes } from "./routes/screening.js";
import { usageRoutes } from "./routes/usage.js";

export { authenticate, authenticateReader } from "./auth.js";
export type { AdminDeps, Caller } from "./deps.js";
export { LICENSE_READERS, READERS, ownOnly } from "./routes/roles.js";

export const ROUTES = [
  ...principalRoutes,
  ...identityRoutes,
  ...partnerRoutes,
  ...identityProviderRoutes,
  ...licenseRoutes,
  ...schemeRoutes,
  ...usageRoutes,
  ...screeningRoutes,
  ...reportRoutes,
  ...alertRoutes,
];

let document: Record<string, unknown> | undefined;
export const openApi = (): Record<string, unknown> => (document ??= openApiDocument(ROUTES));

export function createAdminHandler(
  deps: AdminDeps,
): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
  const router = createRouter(ROUTES, deps);
  return async (req, res, path) => {
    if (path === "/admin/openapi.json") return sendJson(res, 200, openApi());
    // Before anyone is signed in: which partners' providers offer console sign-in (public facts of
    // an OIDC client: issuer and client id).
    // With each, identity.allow_http_loopback (deps.allowHttpLoopback): the console may follow the
    // provider's discovery document to plain http on loopback (at the issuer's origin), as the
    // gateway's key fetch may.
    if (path === "/admin/v1/sign-in/providers" && req.method === "GET") {
      const allow_http_loopback = deps.allowHttpLoopback === true;
      const providers = deps.consoleSignIn?.providers() ?? [];
      return sendJson(res, 200, {
        data: providers.map((p) => Object.assign({}, p, { allow_http_loopback })),
      });
    }
    return router(req, res, path);
  };
}
