/**
 * The admin console's static files (the Vite build of `console/`), served at `/console/` on the same
 * origin as the admin API, so the browser needs no CORS opening. Only files inside the build
 * directory are ever read: the path is decoded once, `.`/`..` segments, backslashes and NUL are
 * refused, and the resolved real path must stay inside the directory. A path without a file
 * extension that names no file is one of the app's own pages: it gets index.html.
 */
import { existsSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { ClearanceError } from "../errors/index.js";
import { cspOrigin, SignInOrigins } from "./sign-in-origins.js";

export { SignInOrigins } from "./sign-in-origins.js";

export const CONSOLE_PATH = "/console/";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

/**
 * Everything from this origin, nothing inline, nothing from elsewhere: the console needs no CDN and
 * evaluates no strings. (React sets `style` through the CSSOM, which `style-src 'self'` permits.)
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The policy with the origins partner sign-in fetches from added to connect-src: each identity
 * provider's issuer (its discovery document) and token endpoint, where the code is redeemed (OIDC
 * code flow with PKCE) — on another host than the issuer at many providers (sign-in-origins.ts).
 * Nothing else is opened. Each origin is written as scheme, host and port only: one that is not
 * (a host name carrying `;`, `,` or `*`, which a URL's origin lets through) is left out rather than
 * let end the directive or the policy.
 */
export function consolePolicy(signInOrigins: readonly string[]): string {
  const origins = [...new Set(signInOrigins.flatMap((o) => (cspOrigin(o) === o ? [o] : [])))];
  if (origins.length === 0) return CONTENT_SECURITY_POLICY;
  return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${origins.join(" ")}`);
}

/**
 * Where the build is: `dist/console` of the package, whether this module runs from `src/` (tests,
 * tsx) or from `dist/src/` (the built CLI). Null when the console has not been built.
 */
export function defaultConsoleDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [resolve(here, "../../console"), resolve(here, "../../dist/console")]) {
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  return null;
}

/**
 * Serves a console file. `signIn`: the origins partner sign-in fetches from (connect-src), or the
 * gateway's SignInOrigins, which reads the sign-in providers' discovery documents for their token
 * endpoints (a page waits for a document not read yet; other files use what is known).
 */
export async function serveConsole(
  dir: string | null,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  signIn: readonly string[] | SignInOrigins = [],
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new ClearanceError("method", "method_not_allowed", "the console is read-only: use GET", {
      allow: ["GET", "HEAD"],
    });
  }
  if (path === "/console") {
    res.writeHead(308, { location: CONSOLE_PATH, "content-length": 0 });
    res.end();
    return;
  }
  if (dir === null) {
    throw new ClearanceError(
      "not-found",
      "not_found",
      "the console is not built: run `npm run build` (it builds console/ into dist/console)",
    );
  }
  const file = await locate(dir, path.slice(CONSOLE_PATH.length));
  const signInOrigins =
    signIn instanceof SignInOrigins ? await signIn.origins(file.endsWith(".html")) : signIn;
  const body = req.method === "HEAD" ? null : await readFile(file);
  const immutable = file.startsWith(join(dir, "assets") + sep);
  res.writeHead(200, {
    "content-type": TYPES[extname(file)] ?? "application/octet-stream",
    "content-length": body?.length ?? (await stat(file)).size,
    // Vite names assets by content hash: they never change. index.html must always be revalidated.
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "content-security-policy": consolePolicy(signInOrigins),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
  });
  res.end(body);
}

/** The file a request path names, strictly inside `dir`; a page of the app gets index.html. */
async function locate(dir: string, rel: string): Promise<string> {
  const notFound = () => new ClearanceError("not-found", "not_found", `no console file /console/${rel}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    throw new ClearanceError("invalid", "invalid_path", "malformed percent-escape in the path");
  }
  const segments = decoded.split("/");
  if (decoded.includes("\\") || decoded.includes("\0") || segments.some((s) => s === "." || s === "..")) {
    throw notFound();
  }
  const root = await realpath(dir);
  const candidate = join(root, ...segments.filter((s) => s !== ""));
  const real = await realpath(candidate).catch(() => null);
  if (real !== null && (real === root || real.startsWith(root + sep))) {
    const info = await stat(real);
    if (info.isFile()) return real;
    if (info.isDirectory() && existsSync(join(real, "index.html")) && real === root) {
      return join(root, "index.html");
    }
  }
  // A client-side route (/console/licenses/LIC-1) is the app's page, not a file.
  const last = segments.at(-1) ?? "";
  if (!last.includes(".") && segments[0] !== "assets") return join(root, "index.html");
  throw notFound();
}
