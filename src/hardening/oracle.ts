/**
 * The oracles: a reference model of what a request means (who, from where, which model) written
 * from the README and HTTP's rules, not from the gateway's code; the pure `decide()` as the judge
 * of what may reach the upstream (a differential oracle); and the checks every answer must pass —
 * a status below 500, a well-formed error in the caller's wire format, no secret anywhere.
 */
import { CONTENT_SECURITY_POLICY } from "../console/static.js";
import { asciiUpper, isCountryCode } from "../countries/index.js";
import { SECURITY_HEADERS } from "../http/security-headers.js";
import { decide, settleLocation, type Decision, type Principal } from "../policy/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import { ADDRESS_COUNTRY, COUNTRY_HEADER, ROUTES, TRUSTED_PROXY } from "./harness.js";
import type { Intent } from "./hostile.js";
import type { HeaderList, Wire } from "./inputs.js";
import { PROXY_INPUTS } from "./inputs.js";
import type { ConsoleBuild } from "./harness.js";
import type { RawAnswer } from "./raw.js";
import type { Hit } from "./upstream.js";

const values = (headers: HeaderList, name: string) =>
  headers.filter(([n]) => n === name).map(([, v]) => v.trim());

/**
 * The principal a request authenticates as: `x-api-key` (repeated copies are joined, as HTTP joins
 * them), else the first `Authorization: Bearer` (HTTP keeps only the first). Null: no live key.
 */
export function referencePrincipal(
  headers: HeaderList,
  keyOwner: ReadonlyMap<string, string>,
): string | null {
  const x = values(headers, "x-api-key");
  let key: string | null = null;
  if (x.length > 0 && x.join(", ") !== "") key = x.join(", ");
  else {
    const auth = values(headers, "authorization")[0];
    const m = auth === undefined ? null : /^bearer[ \t]+(.*)$/is.exec(auth);
    key = m?.[1]?.trim() || null;
  }
  return key === null ? null : (keyOwner.get(key) ?? null);
}

export type RefLocation = { readonly location: string | null } | "refused";

/**
 * Where a request comes from. Headers count only from the trusted proxy; from anyone else the peer's
 * own address decides. Behind the proxy: the country header, with the mmdb's country for the
 * forwarded client's address where it names another (countries that disagree: the embargo if one
 * names it, else refused; a header value that is no country beside one that is disagrees too);
 * without a header naming a country, that address's country. A chain that ends at the
 * proxy names no client: unknown (the proxy's own country is not the client's).
 */
export function referenceLocation(intent: Intent, scheme: CompiledScheme): RefLocation {
  if (intent.from !== TRUSTED_PROXY) return { location: ADDRESS_COUNTRY[intent.from] ?? null };
  const codes: string[] = [];
  let unreadable = false;
  for (const part of values(intent.headers, COUNTRY_HEADER).join(",").split(",")) {
    const code = asciiUpper(part.trim());
    if (!isCountryCode(code)) unreadable = true;
    else if (!codes.includes(code)) codes.push(code);
  }
  const { country, proxy } = forwardedClient(intent);
  if (codes.length === 0) return { location: country };
  if (!proxy && country !== null && !codes.includes(country)) codes.push(country);
  // A value that is no country beside one that is: the sources disagree (settled below).
  if (codes.length === 1 && !unreadable) return { location: codes[0] as string };
  const settled = settleLocation(scheme, codes);
  return "location" in settled ? { location: settled.location } : "refused";
}

/**
 * The mmdb's country for the client X-Forwarded-For names, walked from the right past the proxy;
 * `proxy` when the walk ended at the proxy's own address (no client address to compare a header with).
 */
function forwardedClient(intent: Intent): { country: string | null; proxy: boolean } {
  const proxy = { country: null, proxy: true };
  const chain = values(intent.headers, "x-forwarded-for").join(", ");
  if (chain.trim() === "") return proxy;
  const hops = chain.split(",").map((s) => s.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] as string)
      .replace(/^(\d+\.\d+\.\d+\.\d+):\d{1,5}$/, "$1")
      .replace(/^\[(.*)\]$/, "$1");
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(hop) && hop !== "::1") return { country: null, proxy: false };
    if (hop.split(".").some((o) => Number(o) > 255)) return { country: null, proxy: false };
    if (hop !== TRUSTED_PROXY) return { country: ADDRESS_COUNTRY[hop] ?? null, proxy: false };
  }
  return proxy;
}

/** The declared purpose: copies joined; over 256 characters or with control characters, refused. */
export function referencePurpose(headers: HeaderList): string | null | "refused" {
  const joined = values(headers, "x-clearance-purpose").join(", ");
  if (joined === "") return null;
  // eslint-disable-next-line no-control-regex
  if (joined.length > 256 || /[\u0000-\u001f\u007f-\u009f]/.test(joined)) return "refused";
  return joined;
}

export interface World {
  readonly scheme: CompiledScheme;
  readonly principals: ReadonlyMap<string, Principal>;
  readonly keyOwner: ReadonlyMap<string, string>;
}

/** What `decide()` says about one intent asking for `model` now; null when no decision is due. */
export function expectedDecision(w: World, intent: Intent, model: string, now: number): Decision | null {
  const id = referencePrincipal(intent.headers, w.keyOwner);
  const principal = id === null ? undefined : w.principals.get(id);
  const location = referenceLocation(intent, w.scheme);
  const purpose = referencePurpose(intent.headers);
  if (principal === undefined || location === "refused" || purpose === "refused") return null;
  return decide(w.scheme, principal, {
    model,
    action: "infer",
    location: location.location,
    purpose,
    time: now,
  });
}

/**
 * A request reached the upstream: some intent of the case must be one `decide()` lets through, for
 * a model it could have asked for, served as exactly that model's upstream name. Anything else is a
 * wrong allow.
 */
export function justified(w: World, intents: readonly Intent[], hit: Hit, now: number): boolean {
  for (const intent of intents) {
    for (const model of new Set(intent.models)) {
      const d = expectedDecision(w, intent, model, now);
      if (d === null || d.decision === "deny" || d.served_model === null) continue;
      if (ROUTES[d.served_model]?.upstream === hit.model) return true;
    }
  }
  return false;
}

/** The wire format an answer must be in, from the request line's path and headers. */
export function expectedWire(bytes: Buffer): { wire: Wire; certain: boolean } {
  const headText = bytes.subarray(0, 8192).toString("latin1");
  const line = /^[A-Z]+ (\S+) HTTP\/1\.[01]\r?\n/.exec(headText);
  const path = line?.[1]?.split("?")[0] ?? "/";
  const proxy = PROXY_INPUTS.find((p) => p.path === path);
  const wire: Wire =
    proxy?.wire ??
    (path.startsWith("/admin/") || path.startsWith("/audit/") || path === "/v1/decisions"
      ? "admin"
      : /^(x-api-key|anthropic-version):/im.test(headText)
        ? "anthropic"
        : "openai");
  return { wire, certain: line !== null };
}

/** Whether a body is an error in the wire format's shape. */
export function isWireError(wire: Wire, body: unknown): boolean {
  const b = body as Record<string, Record<string, unknown> | undefined> | null;
  if (typeof b !== "object" || b === null) return false;
  const e = b.error;
  if (typeof e !== "object" || e === null) return false;
  if (wire === "anthropic")
    return b.type === ("error" as unknown) && typeof e.type === "string" && typeof e.message === "string";
  if (wire === "admin") return typeof e.code === "string" && typeof e.message === "string";
  return (
    typeof e.message === "string" && typeof e.type === "string" && typeof e.code === "string" && "param" in e
  );
}

const DECISIONS = new Set(["none", "allow", "deny", "fallback"]);

/** Headers every answer carries (the admin surface's hardening adds its security headers). */
export const ALWAYS_HEADERS: readonly string[] = ["x-clearance-request-id", "x-content-type-options"];

/** Everything wrong with one answer. `wire` is what the caller speaks; `certain` false accepts any format. */
export function answerProblems(
  answer: RawAnswer,
  expected: { wire: Wire; certain: boolean },
  secrets: readonly string[],
): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push(`status ${answer.status}`);
  for (const h of ALWAYS_HEADERS) if (answer.headers[h] === undefined) problems.push(`no ${h} header`);
  const decision = answer.headers["x-clearance-decision"];
  if (decision !== undefined && !DECISIONS.has(decision)) problems.push(`x-clearance-decision ${decision}`);
  if (answer.status >= 400) {
    if (!(answer.headers["content-type"] ?? "").startsWith("application/json")) {
      problems.push(`error content-type ${answer.headers["content-type"]}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(answer.body.toString("utf8"));
    } catch {
      problems.push(`error body is not JSON: ${answer.body.toString("latin1").slice(0, 80)}`);
    }
    const wires: Wire[] = expected.certain ? [expected.wire] : ["openai", "anthropic", "admin"];
    if (body !== undefined && !wires.some((w) => isWireError(w, body))) {
      problems.push(
        `error body not in the ${wires.join("/")} format: ${answer.body.toString("utf8").slice(0, 160)}`,
      );
    }
  }
  const text = `${answer.statusLine}\n${JSON.stringify(answer.headers)}\n${answer.body.toString("latin1")}`;
  for (const s of secrets) if (text.includes(s)) problems.push(`secret ${s.slice(0, 6)}… in the answer`);
  return problems;
}

/** What reached the upstream must carry the gateway's own credential, never a client's secret. */
export function hitProblems(hit: Hit, secrets: readonly string[], upstreamKey: string): string[] {
  const problems: string[] = [];
  const text = `${JSON.stringify(hit.headers)}\n${hit.body}`;
  for (const s of secrets)
    if (s !== upstreamKey && text.includes(s)) problems.push(`secret ${s.slice(0, 6)}… sent upstream`);
  return problems;
}

/**
 * A console answer (static file or one of the console's API calls): the security headers, a strict
 * policy — the console's own on a page or file it serves, the API's `default-src 'none'` on
 * anything else — no CORS opening for another origin, and a 200 only for GET or HEAD with the
 * bytes of a file inside the build: never the file beside it, never a system file.
 */
export function consoleProblems(
  answer: RawAnswer,
  asked: { method: string; static: boolean },
  build: ConsoleBuild,
): string[] {
  const problems: string[] = [];
  const h = answer.headers;
  if (h["x-content-type-options"] !== "nosniff") problems.push("no x-content-type-options: nosniff");
  if (h["x-frame-options"] !== "DENY") problems.push(`x-frame-options ${h["x-frame-options"]}`);
  if (h["referrer-policy"] !== "no-referrer") problems.push(`referrer-policy ${h["referrer-policy"]}`);
  const csp = h["content-security-policy"];
  const fileServed = asked.static && answer.status === 200;
  const strict = fileServed ? CONTENT_SECURITY_POLICY : SECURITY_HEADERS["content-security-policy"];
  if (csp !== strict) problems.push(`content-security-policy ${csp ?? "missing"}`);
  for (const name of Object.keys(h)) {
    if (name.startsWith("access-control-")) problems.push(`CORS header ${name}: ${h[name]}`);
  }
  const body = answer.body.toString("latin1");
  if (body.includes(build.marker)) problems.push("the file outside the console build was served");
  if (/root:x?:0:0/.test(body)) problems.push("/etc/passwd was served");
  if (asked.static && answer.status < 300) {
    const method = asked.method.toUpperCase();
    if (method !== "GET" && method !== "HEAD") problems.push(`${asked.method} answered ${answer.status}`);
    if (method === "GET" && !build.files.some((f) => f.equals(answer.body)))
      problems.push(`a 200 whose body is no file of the build: ${body.slice(0, 80)}`);
  }
  if (answer.status === 308 && h.location !== "/console/") problems.push(`redirect to ${h.location}`);
  return problems;
}
