/**
 * Loading `clearance.yaml`: shape (with line/column errors), then cross-checks against the scheme
 * (every scheme model must be routed to a provider that exists, and every fallback to a provider
 * sharing a wire format with its model's), then secrets from the environment.
 */
import { dirname, resolve } from "node:path";
import { InvalidInputError, type Problem } from "../errors/index.js";
import { isLoopbackHost } from "../identity/provider-urls.js";
import { parseBootstrap } from "../identity/registry.js";
import { cidrProblem, countryDbProblem, isHeaderName } from "../location/index.js";
import { CONTROL_LEVELS } from "../policy/types.js";
import { loadSchemeFile, type CompiledScheme } from "../scheme/index.js";
import { wiresOf, type Wire } from "../upstream/types.js";
import { placed, readYaml, readYamlFile, validate, type YamlSource } from "../yaml/index.js";
import { TIMER_MAX_MS, configSchema, type ConfigFile, type ProviderConfig } from "./schema.js";
import { nameList, plainOrQuoted, quoted } from "../policy/text.js";

export { configSchema, type ConfigFile, type ProviderConfig } from "./schema.js";

/** The bootstrap admin token's least length: it opens everything, and guesses cost only a 429. */
export const MIN_ADMIN_TOKEN = 32;
/**
 * The alert webhook's signing secret's least length, in bytes: receivers trust an alert by its HMAC,
 * and a short secret can be guessed from one signed alert offline (HMAC-SHA256 wants a key of 32).
 */
export const MIN_WEBHOOK_SECRET = 32;

export interface Route {
  readonly provider: string;
  readonly upstreamModel: string;
}

export interface GatewayConfig {
  readonly file: ConfigFile;
  readonly schemePath: string;
  readonly scheme: CompiledScheme;
  readonly routes: ReadonlyMap<string, Route>;
  /** The upstream for any model: its route, or the default provider (for models of later versions). */
  readonly route: (model: string) => Route | undefined;
  /** The wire formats a configured provider answers in (undefined: no such provider). */
  readonly wires: (provider: string) => readonly Wire[] | undefined;
  /** Where a configured provider's requests go (see upstreamOf): one for two names of one upstream. */
  readonly upstream: (provider: string) => string;
  /** Secrets read from the environment, by provider name. */
  readonly apiKeys: ReadonlyMap<string, string>;
  /** The admin token, or null when the admin API is disabled. */
  readonly adminToken: string | null;
  /** The key for pseudonymising principals in the audit log, when configured. */
  readonly pseudonymKey: string | null;
  /** The audit log's signing key, when it comes from the environment (audit.key_env). */
  readonly auditKey: string | null;
  /** The PostgreSQL connection string, when the store is PostgreSQL. */
  readonly storeUrl: string | null;
  /** The Redis URL, when the quota and rate-limit counters are in Redis. */
  readonly countersUrl: string | null;
  /** The alert webhook's HMAC signing secret, when a webhook is configured. */
  readonly webhookSecret: string | null;
  /**
   * What is accepted but worth an operator's attention (plain http carrying an API key beyond
   * loopback), one sentence each: start-up logs them.
   */
  readonly warnings: readonly string[];
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return configFrom(readYamlFile(path), env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return configFrom(readYaml(text, file), env);
}

function configFrom(source: YamlSource, env: NodeJS.ProcessEnv): GatewayConfig {
  const { value, problems } = validate(source, configSchema);
  if (value === undefined || problems.length > 0) throw new InvalidInputError(placed(source, problems));
  const schemePath = resolve(dirname(source.file), value.scheme);
  const scheme = schemeAt(source, schemePath);
  const routes = routeModels(value, scheme, problems);
  const wires = (provider: string): readonly Wire[] | undefined => {
    const p = Object.hasOwn(value.providers, provider) ? value.providers[provider] : undefined;
    return p === undefined ? undefined : wiresOf(p.type);
  };
  for (const m of fallbackWireMismatches(scheme, (model) => routes.get(model), wires)) {
    // At the route a reader would change: the model's own when the config lists it, else its fallback's.
    const listed = [m.model, m.fallback].find((model) => Object.hasOwn(value.models, model));
    problems.push({
      code: "fallback_wire_mismatch",
      path: listed === undefined ? ["default_provider"] : ["models", listed, "provider"],
      message: m.message,
    });
  }
  const upstream = (provider: string): string => {
    const p = Object.hasOwn(value.providers, provider) ? value.providers[provider] : undefined;
    return p === undefined ? provider : upstreamOf(provider, p);
  };
  for (const s of sharedUpstreams(scheme, (model) => routes.get(model), upstream)) {
    // At the laxer model's route when the config lists it (its upstream_model is the likelier slip).
    const listed = [s.model, s.other].find((model) => Object.hasOwn(value.models, model));
    problems.push({
      code: "shared_upstream_model",
      path: listed === undefined ? ["default_provider"] : ["models", listed, "upstream_model"],
      message: s.message,
    });
  }
  const apiKeys = new Map<string, string>();
  for (const [name, p] of Object.entries(value.providers)) {
    if (p.type === "demo" || p.api_key_env === undefined) continue;
    const key = envSecret(env, p.api_key_env, ["providers", name, "api_key_env"], "token", problems);
    if (key !== null) apiKeys.set(name, key);
  }
  const warnings = plainHttpKeys(value);
  problems.push(...parseBootstrap(value.identity.providers, value.identity.allow_http_loopback).problems);
  if (value.freshness_ms <= value.refresh_ms) {
    problems.push({
      code: "too_small",
      path: ["freshness_ms"],
      message: `freshness_ms (${value.freshness_ms}) must be larger than refresh_ms (${value.refresh_ms}): a node must get to check the store within the bound`,
    });
  }
  if (value.listen.headers_timeout_ms > value.listen.request_timeout_ms) {
    problems.push({
      code: "too_big",
      path: ["listen", "headers_timeout_ms"],
      message: `headers_timeout_ms (${value.listen.headers_timeout_ms}) must not exceed request_timeout_ms (${value.listen.request_timeout_ms}): the headers are part of the request`,
    });
  }
  // A PostgreSQL change is given up on after lock_timeout_ms + 2 × query_timeout_ms (adminBounds): one timer.
  const storeWait = value.store.lock_timeout_ms + 2 * value.store.query_timeout_ms;
  if (value.store.driver === "postgres" && storeWait > TIMER_MAX_MS) {
    problems.push({
      code: "too_big",
      path: ["store", "lock_timeout_ms"],
      message: `lock_timeout_ms + 2 × query_timeout_ms (${storeWait}) must be at most ${TIMER_MAX_MS}: a change waits that long, and Node's timers cannot wait longer (they would fire after 1 ms instead)`,
    });
  }
  problems.push(...locationProblems(value.location));
  const alerts = value.monitoring.alerts;
  // A PostgreSQL store means several nodes; with per-node alerts each node's detectors see only
  // its share of the traffic and miss what is spread over the fleet. Redis is there to share it.
  const store = value.store.driver;
  if (
    store === "postgres" &&
    value.counters.driver === "redis" &&
    alerts.enabled &&
    alerts.shared === "node"
  ) {
    problems.push({
      code: "alerts_not_shared",
      path: ["monitoring", "alerts", "shared"],
      message:
        "with a PostgreSQL store (several nodes) each node's detectors would see only its own share of the traffic; set monitoring.alerts.shared: redis (or monitoring.alerts.enabled: false)",
    });
  }
  // Secrets last, every problem with the others: one start-up tells them all.
  const required = (name: string | undefined, path: string[], kind: SecretKind) =>
    name === undefined ? null : envSecret(env, name, path, kind, problems);
  const pseudonymKey = required(value.audit.pseudonym_key_env, ["audit", "pseudonym_key_env"], "exact");
  const auditKey = required(value.audit.key_env, ["audit", "key_env"], "text");
  const storeUrl =
    value.store.driver === "postgres" ? required(value.store.url_env, ["store", "url_env"], "text") : null;
  const countersUrl =
    value.counters.driver === "redis"
      ? required(value.counters.url_env, ["counters", "url_env"], "text")
      : null;
  const hook = value.monitoring.alerts.webhook;
  const webhookSecret =
    hook.url === undefined
      ? null
      : required(hook.secret_env, ["monitoring", "alerts", "webhook", "secret_env"], "exact");
  // Counted without surrounding white space (a file's newline), which adds nothing to guess.
  const webhookBytes = webhookSecret === null ? 0 : Buffer.byteLength(webhookSecret.trim(), "utf8");
  if (webhookSecret !== null && webhookBytes < MIN_WEBHOOK_SECRET) {
    problems.push({
      code: "weak_secret",
      path: ["monitoring", "alerts", "webhook", "secret_env"],
      message: `environment variable ${hook.secret_env} holds ${webhookBytes} bytes; the webhook signing secret needs at least ${MIN_WEBHOOK_SECRET} (e.g. openssl rand -base64 32)`,
    });
  }
  const tokenEnv = value.admin.token_env;
  // Optional: unset, the admin API is off.
  const adminToken = env[tokenEnv]?.trim()
    ? envSecret(env, tokenEnv, ["admin", "token_env"], "token", problems)
    : null;
  if (adminToken !== null && adminToken.length < MIN_ADMIN_TOKEN) {
    problems.push({
      code: "weak_secret",
      path: ["admin", "token_env"],
      message: `environment variable ${tokenEnv} holds ${adminToken.length} characters; the admin token needs at least ${MIN_ADMIN_TOKEN} (e.g. openssl rand -base64 32)`,
    });
  }
  if (problems.length > 0) throw new InvalidInputError(placed(source, problems));
  const fallback = value.default_provider;
  const route = (model: string): Route | undefined =>
    routes.get(model) ?? (fallback === undefined ? undefined : { provider: fallback, upstreamModel: model });
  return {
    file: value,
    schemePath,
    scheme,
    routes,
    route,
    wires,
    upstream,
    apiKeys,
    adminToken,
    pseudonymKey,
    auditKey,
    storeUrl,
    countersUrl,
    webhookSecret,
    warnings,
  };
}

/**
 * The compiled scheme file. One that cannot be read (missing, a directory) is refused at the
 * config's `scheme` line, naming the file: the read error alone named no line, or only the
 * config's directory. Problems inside a scheme that was read keep their own file and line.
 */
function schemeAt(source: YamlSource, path: string): CompiledScheme {
  try {
    return loadSchemeFile(path);
  } catch (err) {
    const unread =
      err instanceof InvalidInputError && err.problems.every((p) => p.code === "file_unreadable");
    if (!unread) throw err;
    // readYamlFile says `cannot read <path>: <why>`; here the path is said once, as the scheme file.
    const why = err.problems.map((p) => p.message.replace(`cannot read ${path}: `, "")).join("; ");
    throw new InvalidInputError(
      placed(source, [
        { code: "file_unreadable", path: ["scheme"], message: `cannot read scheme file ${path}: ${why}` },
      ]),
    );
  }
}

/**
 * Providers sending an API key over plain http to a host other than loopback. Accepted — a model
 * server inside the cluster or a private network is a legitimate choice (deploy/kubernetes has
 * one) — but said, naming the provider and host: anyone on the path reads the key.
 */
function plainHttpKeys(config: ConfigFile): string[] {
  const warnings: string[] = [];
  for (const [name, p] of Object.entries(config.providers)) {
    if (p.type === "demo" || p.api_key_env === undefined) continue;
    const url = new URL(p.base_url);
    if (url.protocol !== "http:" || isLoopbackHost(url.hostname)) continue;
    warnings.push(
      `provider ${name} sends its API key (${p.api_key_env}) over plain http to ${url.host}, unencrypted: anyone on the network path can read it; use https unless that network is trusted (a cluster's own)`,
    );
  }
  return warnings;
}

/** A fallback the configured upstreams could never serve, and why (see fallbackWireMismatches). */
export interface WireMismatch {
  readonly model: string;
  readonly fallback: string;
  readonly message: string;
}

/**
 * Fallbacks the upstreams could never serve: a model whose fallback chain reaches a model routed to
 * a provider sharing no wire format with the model's own. A request for the model comes in one of
 * its provider's formats, and the fallback would be refused in it (404 `wrong_wire_format`) after
 * being decided on. Every model down the chain is checked (a denied fallback passes the request
 * on); models without a route or a known provider are reported elsewhere (`unrouted_models`).
 */
export function fallbackWireMismatches(
  scheme: CompiledScheme,
  route: (model: string) => Route | undefined,
  wires: (provider: string) => readonly Wire[] | undefined,
): WireMismatch[] {
  const upstream = (model: string) => {
    const provider = route(model)?.provider;
    const formats = provider === undefined ? undefined : wires(provider);
    return provider === undefined || formats === undefined ? undefined : { provider, formats };
  };
  const mismatches: WireMismatch[] = [];
  for (const m of scheme.models.values()) {
    const from = upstream(m.id);
    if (from === undefined) continue;
    const passed = new Set([m.id]); // cycles are refused when the scheme is compiled; guarded all the same
    for (let f = m.fallback; f !== null && !passed.has(f); f = scheme.models.get(f)?.fallback ?? null) {
      passed.add(f);
      const to = upstream(f);
      if (to === undefined || from.formats.some((w) => to.formats.includes(w))) continue;
      // The config's provider names are any text: each bare when plain, quoted when `quoted` would
      // change it. A compiled scheme's name and model ids are plain (the scheme refuses others).
      mismatches.push({
        model: m.id,
        fallback: f,
        message:
          `scheme ${scheme.name}: ${m.id} falls back to ${f}, but ${m.id} is served by provider ` +
          `${plainOrQuoted(from.provider)} (${from.formats.join(", ")}) and ${f} by provider ` +
          `${plainOrQuoted(to.provider)} (${to.formats.join(", ")}): no wire format in common, so no ` +
          `request for ${m.id} could be served by ${f}; route them to providers sharing a wire format`,
      });
    }
  }
  return mismatches;
}

/** A model answered by an upstream model that a more controlled model is routed to (see sharedUpstreams). */
export interface SharedUpstream {
  /** The less controlled model. */
  readonly model: string;
  readonly other: string;
  readonly message: string;
}

/**
 * Where a provider's requests go: its base URL's origin and path as requests are sent (the URL
 * parser lowers the scheme and host and drops a default port; trailing slashes are not sent), so
 * two provider names for one upstream are one. The demo provider is each name's own.
 */
export function upstreamOf(name: string, provider: ProviderConfig): string {
  if (provider.type === "demo") return `demo provider ${name}`;
  const url = new URL(provider.base_url);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * Scheme models of different control levels routed to one upstream's same upstream model. A
 * request is decided for the model it names and forwarded under that model's upstream name, so an
 * open model routed to a controlled model's upstream model (a copied `upstream_model`, or one
 * naming a model the default provider serves under its own name) would serve the controlled model
 * to anyone the open one is allowed to: its checks never made. `upstream` says where a provider's
 * requests go (upstreamOf): two provider names with one base URL are one upstream. Models of one
 * control level may share one (a deployment under two names).
 */
export function sharedUpstreams(
  scheme: CompiledScheme,
  route: (model: string) => Route | undefined,
  upstream: (provider: string) => string = (provider) => provider,
): SharedUpstream[] {
  const level = (model: string) => scheme.models.get(model)?.control ?? "open";
  const rank = (model: string) => CONTROL_LEVELS.indexOf(level(model));
  const byUpstream = new Map<string, string[]>();
  for (const id of scheme.models.keys()) {
    const r = route(id);
    if (r === undefined) continue;
    const key = JSON.stringify([upstream(r.provider), r.upstreamModel]);
    byUpstream.set(key, [...(byUpstream.get(key) ?? []), id]);
  }
  const shared: SharedUpstream[] = [];
  for (const [key, models] of byUpstream) {
    const [where, upstreamModel] = JSON.parse(key) as [string, string];
    const strictest = models.reduce((a, b) => (rank(b) > rank(a) ? b : a));
    const providerOf = (model: string) => route(model)?.provider ?? "";
    for (const model of models) {
      if (rank(model) === rank(strictest)) continue;
      const [lax, strict] = [providerOf(model), providerOf(strictest)];
      const routed =
        lax === strict
          ? `routed to provider ${lax} as ${upstreamModel}`
          : `routed to ${upstreamModel} at one upstream (providers ${lax} and ${strict}, ${where})`;
      shared.push({
        model,
        other: strictest,
        message:
          `scheme ${scheme.name}: ${model} (${level(model)}) and ${strictest} (${level(strictest)}) are both ` +
          `${routed}: a request for ${model} would be answered by ` +
          `${strictest}'s upstream model without ${strictest}'s checks; give each its own upstream_model`,
      });
    }
  }
  return shared;
}

/** Why a config's upstreams cannot serve a scheme: `unrouted_models`, `fallback_wire_mismatch` or `shared_upstream_model`. */
export interface ServingProblem {
  readonly code: "unrouted_models" | "fallback_wire_mismatch" | "shared_upstream_model";
  readonly message: string;
}

/**
 * What keeps these upstreams from serving a scheme, in the order activation refuses for it: models
 * no upstream serves, fallbacks in no wire format in common with their model's, and models of
 * different control answered by one upstream model. Checked against the scheme file when the
 * config is loaded, against a version when it is activated, and against the version in force
 * wherever a node installs it (start-up, reloads): one activated elsewhere, or before the config
 * changed, is not served by a node whose upstreams could not have activated it. Empty: it can be.
 */
export function servingProblems(
  scheme: CompiledScheme,
  upstreams: {
    readonly route: (model: string) => Route | undefined;
    readonly wires?: ((provider: string) => readonly Wire[] | undefined) | undefined;
    readonly upstream?: ((provider: string) => string) | undefined;
  },
): ServingProblem[] {
  const problems: ServingProblem[] = [];
  const unrouted = [...scheme.models.keys()].filter((m) => upstreams.route(m) === undefined);
  if (unrouted.length > 0)
    problems.push({ code: "unrouted_models", message: `no upstream serves ${unrouted.join(", ")}` });
  if (upstreams.wires !== undefined) {
    for (const m of fallbackWireMismatches(scheme, upstreams.route, upstreams.wires))
      problems.push({ code: "fallback_wire_mismatch", message: m.message });
  }
  for (const s of sharedUpstreams(scheme, upstreams.route, upstreams.upstream))
    problems.push({ code: "shared_upstream_model", message: s.message });
  return problems;
}

/**
 * The location settings the locator would refuse at start-up, refused here with their lines instead
 * (start-up opens the store and the audit log first, and would end with a stack).
 */
function locationProblems(location: ConfigFile["location"]): Problem[] {
  const problems: Problem[] = [];
  const at = (path: (string | number)[], code: string, message: string) =>
    problems.push({ code, path: ["location", ...path], message });
  location.trusted_proxies.forEach((entry, i) => {
    const problem = cidrProblem(entry);
    if (problem !== null) at(["trusted_proxies", i], "invalid_cidr", `${quoted(entry)}: ${problem}`);
  });
  const header = location.header;
  if (header !== undefined && !isHeaderName(header)) {
    at(["header"], "invalid_header", `${quoted(header)} is not a valid HTTP header name`);
  } else if (header !== undefined && location.trusted_proxies.length === 0) {
    at(
      ["header"],
      "header_never_believed",
      `location.header ${quoted(header)} needs location.trusted_proxies: it is only believed from them, so without any it could never apply`,
    );
  }
  if (location.mmdb !== undefined) {
    const problem = countryDbProblem(location.mmdb);
    if (problem !== null) at(["mmdb"], "invalid_mmdb", problem);
  }
  return problems;
}

/**
 * How a secret is read. token: sent or compared in an HTTP header (API keys, the admin token), so
 * trimmed and printable ASCII without spaces, as the CLI's CLEARANCE_TOKEN. text: trimmed (URLs,
 * the audit signing key). exact: an HMAC key, used byte for byte, a file's trailing newline included
 * as it always was: trimming it, or refusing it, would change every pseudonym or signature made so
 * far (or stop an upgraded gateway with a key its log depends on).
 */
type SecretKind = "token" | "text" | "exact";

const TOKEN = /^[\x21-\x7e]+$/;
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * The named environment variable's value, or null with a problem at the key that names it. A
 * Kubernetes Secret or a file read into the variable often ends in a newline: kept, an admin token
 * never matched and every upstream call failed. Messages name the variable, never the value.
 */
function envSecret(
  env: NodeJS.ProcessEnv,
  name: string,
  path: string[],
  kind: SecretKind,
  problems: Problem[],
): string | null {
  const raw = env[name] ?? "";
  const value = kind === "exact" ? raw : raw.trim();
  const refuse = (message: string) => {
    problems.push({ code: "invalid_secret", path, message: `environment variable ${name} ${message}` });
    return null;
  };
  if (value.trim() === "") {
    problems.push({ code: "missing_secret", path, message: `environment variable ${name} is not set` });
    return null;
  }
  if (kind === "token" && !TOKEN.test(value)) {
    return refuse(
      "holds a space, a line break or a character outside printable ASCII, which cannot be sent in an HTTP header (a second line from a file?): set it to the token alone",
    );
  }
  if (CONTROL.test(kind === "exact" ? value.trim() : value)) {
    return refuse(
      "holds a line break or another control character (a second line from a file?): set it to the value alone",
    );
  }
  return value;
}

/** Every scheme model gets a route; a controlled model without one could never be served correctly. */
function routeModels(config: ConfigFile, scheme: CompiledScheme, problems: Problem[]): Map<string, Route> {
  const routes = new Map<string, Route>();
  const known = Object.keys(config.providers);
  const check = (provider: string, path: (string | number)[]) => {
    // Own keys only: "constructor" or "toString" are not providers (every request was 503 then).
    if (Object.hasOwn(config.providers, provider)) return true;
    problems.push({
      code: "unknown_provider",
      path,
      message: `unknown provider ${quoted(provider)}; expected one of: ${nameList(known)}`,
    });
    return false;
  };
  if (config.default_provider !== undefined) check(config.default_provider, ["default_provider"]);
  for (const [model, route] of Object.entries(config.models)) {
    if (!scheme.models.has(model)) {
      problems.push({
        code: "unknown_model",
        path: ["models", model],
        message: `model ${quoted(model)} is not in scheme ${scheme.name}; expected one of: ${[...scheme.models.keys()].join(", ")}`,
      });
      continue;
    }
    if (check(route.provider, ["models", model, "provider"])) {
      routes.set(model, { provider: route.provider, upstreamModel: route.upstream_model ?? model });
    }
  }
  const unrouted: string[] = [];
  for (const model of scheme.models.keys()) {
    if (routes.has(model)) continue;
    if (config.default_provider !== undefined && Object.hasOwn(config.providers, config.default_provider)) {
      routes.set(model, { provider: config.default_provider, upstreamModel: model });
    } else unrouted.push(model);
  }
  if (unrouted.length > 0) {
    problems.push({
      code: "unrouted_models",
      path: ["models"],
      message: `no provider for scheme models ${unrouted.join(", ")}; list them under models or set default_provider`,
    });
  }
  return routes;
}
