/**
 * Every input the hardening suites throw things at, one table entry each: the data plane's routes
 * with the body fields the gateway reads, the headers it reads, and the credentials it accepts.
 * A new surface (a partner token, an import, a console route) is one more entry here; the
 * generators in hostile.ts and the oracles in oracle.ts pick it up.
 */
import fc from "fast-check";

export type Wire = "openai" | "anthropic" | "admin";

export interface ProxyInput {
  readonly name: string;
  readonly path: string;
  readonly wire: "openai" | "anthropic";
  /** A body the gateway accepts, before anything hostile is done to it. */
  readonly base: (model: string) => Record<string, unknown>;
  /** Fields the gateway itself reads (they get wrong types); the others are the upstream's business. */
  readonly reads: readonly string[];
}

const messages = [{ role: "user", content: "hello" }];

export const PROXY_INPUTS: readonly ProxyInput[] = [
  {
    name: "openai chat",
    path: "/v1/chat/completions",
    wire: "openai",
    base: (model) => ({ model, messages }),
    reads: ["model", "stream", "stream_options", "messages"],
  },
  {
    name: "openai completions",
    path: "/v1/completions",
    wire: "openai",
    base: (model) => ({ model, prompt: "hello" }),
    reads: ["model", "stream", "stream_options", "prompt"],
  },
  {
    name: "openai embeddings",
    path: "/v1/embeddings",
    wire: "openai",
    base: (model) => ({ model, input: "hello" }),
    reads: ["model", "input"],
  },
  {
    name: "openai responses",
    path: "/v1/responses",
    wire: "openai",
    base: (model) => ({ model, input: "hello" }),
    reads: ["model", "stream", "input"],
  },
  {
    name: "anthropic messages",
    path: "/v1/messages",
    wire: "anthropic",
    base: (model) => ({ model, max_tokens: 16, messages }),
    reads: ["model", "stream", "max_tokens", "messages"],
  },
  {
    name: "anthropic count_tokens",
    path: "/v1/messages/count_tokens",
    wire: "anthropic",
    base: (model) => ({ model, messages }),
    reads: ["model", "messages"],
  },
];

/** Model names asked for: the scheme's, and near misses of every kind. */
export const MODEL_NAMES: readonly string[] = [
  "mythos-5",
  "mythos-4",
  "fable-5",
  "fable-4",
  "eu-mythos-5",
  "mythos-5-weights",
  "mythos-5-instruct", // the upstream's name, not the scheme's
  "MYTHOS-5",
  " mythos-5",
  "mythos-5 ",
  "mythοs-5", // Greek omicron
  "mythos-5\u0000",
  "mythos-5\n",
  "mythos-5\ud800",
  "",
  "x".repeat(257),
  "../mythos-5",
  "mythos-5?x=1",
  "__proto__",
  "constructor",
];

/** Request headers the gateway reads (besides credentials and location), with values to try. */
export const READ_HEADERS: Readonly<Record<string, readonly string[]>> = {
  "x-clearance-purpose": ["cyber-defense", "", "x".repeat(300), "cyber-defense\u007f", "research"],
  "anthropic-version": ["2023-06-01", "", "9999-99-99"],
  "anthropic-beta": ["tools-2024", ""],
  "openai-beta": ["assistants=v2"],
};

/** Values for a country header or X-Forwarded-For, as a spoofing client or a proxy might send them. */
export const COUNTRY_VALUES: readonly string[] = [
  "US",
  "IR",
  "FR",
  "GB",
  "DE",
  "CN",
  "KP",
  "IN",
  "XX",
  "T1",
  "",
  "us",
  " ir ",
  "ZZ",
  "US, IR",
  "FR,DE",
  "USA",
  "\u00c9",
];
export const FORWARDED_VALUES: readonly string[] = [
  "203.0.113.7",
  "198.51.100.4",
  "192.0.2.9",
  "100.64.0.5",
  "127.0.0.2",
  "127.0.0.1",
  "198.51.100.4:443",
  "not-an-address",
  "",
  "unknown",
  "[::1]",
  "999.1.1.1",
];

/**
 * Credential headers: every malformed shape of a key built from a real one. `real` is a live key,
 * `other` another principal's, `revoked` a revoked one, `admin` the bootstrap admin token.
 */
export interface Keys {
  readonly real: string;
  readonly other: string;
  readonly revoked: string;
  readonly admin: string;
}

export type HeaderList = readonly (readonly [string, string])[];

export const CREDENTIALS: readonly ((k: Keys) => HeaderList)[] = [
  (k) => [["authorization", `Bearer ${k.real}`]],
  (k) => [["x-api-key", k.real]],
  (k) => [["authorization", `bearer\t${k.real}`]],
  (k) => [["authorization", `BEARER   ${k.real}   `]],
  () => [],
  () => [["authorization", "Bearer"]],
  () => [["authorization", "Bearer "]],
  (k) => [["authorization", `Basic ${Buffer.from(`x:${k.real}`).toString("base64")}`]],
  (k) => [["authorization", `Bearer ${k.revoked}`]],
  (k) => [["authorization", `Bearer ${k.admin}`]],
  (k) => [["authorization", `Bearer ${k.real.slice(0, -1)}`]],
  (k) => [["authorization", `Bearer ${k.real}x`]],
  (k) => [["authorization", `Bearer ${k.real.slice(0, -1)}${k.real.endsWith("A") ? "B" : "A"}`]],
  (k) => [["authorization", `Bearer ${k.real.toUpperCase()}`]],
  (k) => [["authorization", `Bearer clr_${k.real}`]],
  (k) => [["authorization", `Bearer ${k.real.split("_").slice(0, 2).join("_")}`]],
  () => [["authorization", "Bearer clr_"]],
  () => [["authorization", "Bearer clr_.."]],
  () => [["authorization", `Bearer clr_${"A".repeat(5000)}`]],
  () => [["authorization", "Bearer clr_\u00e9\u00e9\u00e9"]],
  (k) => [
    ["x-api-key", ""],
    ["authorization", `Bearer ${k.real}`],
  ],
  (k) => [
    ["x-api-key", k.other],
    ["authorization", `Bearer ${k.real}`],
  ],
  (k) => [
    ["x-api-key", k.real],
    ["x-api-key", k.real],
  ],
  (k) => [
    ["authorization", `Bearer ${k.real}`],
    ["authorization", `Bearer ${k.other}`],
  ],
  (k) => [
    ["authorization", `Bearer ${k.revoked}`],
    ["authorization", `Bearer ${k.real}`],
  ],
];

/** JSON values of every type, for fields given the wrong one. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1e308,
    -0,
    Number.MAX_SAFE_INTEGER + 2,
    "",
    "true",
    "\ud800",
    "\u0000",
    [],
    {},
    ["mythos-5"],
    { model: "mythos-5" },
    { include_usage: "yes" },
    { __proto__: { polluted: true } },
  ),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), {
    maxKeys: 4,
  }),
);

/**
 * The console's static files (`/console/…`): path segments a traversal, an encoding trick or a
 * huge path would use. `{asset}` is replaced by a real asset of the build, `{escape}` names a
 * symbolic link inside the build that points outside it, `{outside}` a file beside the build.
 */
export const CONSOLE_SEGMENTS: readonly string[] = [
  "",
  "index.html",
  "assets",
  "{asset}",
  "{escape}",
  "{outside}",
  "licenses",
  "LIC-1",
  ".",
  "..",
  "...",
  "%2e",
  "%2e%2e",
  "%2E%2E",
  ".%2e",
  "%2e.",
  "%252e%252e",
  "%2f",
  "%2F",
  "%5c",
  "%5C..%5C",
  "..%2f..%2f",
  "..%5c..%5c",
  "..\\..\\",
  "%c0%ae%c0%ae",
  "%e0%80%ae%e0%80%ae",
  "%ef%bc%8e%ef%bc%8e", // fullwidth full stops
  "..%c0%af",
  "%00",
  "index.html%00.png",
  "index.html%00",
  "%zz",
  "%",
  "..;",
  "~",
  ".git",
  "package.json",
  "etc",
  "passwd",
  "%2e%2e%2fpackage.json",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "x".repeat(300),
  "x".repeat(6000),
  "%41".repeat(2000),
];

/** How the segments are joined, and what comes before them. */
export const CONSOLE_SEPARATORS: readonly string[] = ["/", "/", "/", "//", "\\", "/./", "/../"];
export const CONSOLE_PREFIXES: readonly string[] = [
  "/console/",
  "/console/",
  "/console/",
  "/console",
  "/CONSOLE/",
  "//console/",
  "/console//",
  "/console/./",
  "/./console/",
  "/admin/../console/",
  "/console%2f",
  "/console/%2e/",
  "/console/assets/",
  "http://x/console/",
];
export const CONSOLE_SUFFIXES: readonly string[] = ["", "", "", "?x=../../etc/passwd", "#..", "?", ";a=b"];

/** Methods a static file route is asked with (it answers GET and HEAD only). */
export const CONSOLE_METHODS: readonly string[] = [
  "GET",
  "GET",
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "TRACE",
  "PROPFIND",
  "get",
  "FOO",
];

/**
 * The calls the console itself makes (console/src/api.ts and audit/log.ts): the admin API under
 * /admin/v1 with the tab's token, and the audit log's checkpoint, tiles and inclusion proofs.
 * `{p}` is a hostile parameter.
 */
export const CONSOLE_CALLS: readonly { readonly method: string; readonly path: string }[] = [
  { method: "GET", path: "/admin/v1/me" },
  { method: "GET", path: "/admin/v1/principals?limit=500" },
  { method: "GET", path: "/admin/v1/keys?limit=500&cursor={p}" },
  { method: "GET", path: "/admin/v1/licenses?limit={p}" },
  { method: "GET", path: "/admin/v1/licenses/{p}" },
  { method: "GET", path: "/admin/v1/licenses/{p}/usage" },
  { method: "GET", path: "/admin/v1/partners?limit=500" },
  { method: "GET", path: "/admin/v1/schemes/{p}" },
  { method: "POST", path: "/admin/v1/schemes/{p}/activate" },
  { method: "POST", path: "/admin/v1/keys/{p}/revoke" },
  { method: "POST", path: "/admin/v1/partners/{p}/status" },
  { method: "POST", path: "/admin/v1/licenses/{p}/approve" },
  { method: "GET", path: "/audit/checkpoint" },
  { method: "GET", path: "/audit/tile/0/{p}" },
  { method: "GET", path: "/audit/tile/entries/{p}" },
  { method: "GET", path: "/audit/tile/{p}/000" },
  { method: "GET", path: "/audit/proof/inclusion?index={p}&size={p}" },
  { method: "GET", path: "/audit/{p}" },
];
export const CONSOLE_CALL_PARAMS: readonly string[] = [
  "0",
  "1",
  "-1",
  "000",
  "x001/000",
  "000.p/1",
  "000.p/0",
  "000.p/257",
  "..%2f..%2faudit.key",
  "%2e%2e",
  "../../audit.key",
  "1e309",
  "99999999999999999999999",
  "%zz",
  "LIC-1",
  "__proto__",
  "x".repeat(300),
];

/**
 * What a browser adds: another site's Origin (the console is same-origin only: no CORS answer may
 * open it), a preflight, a cookie (the token never travels in one).
 */
export const BROWSER_HEADERS: readonly HeaderList[] = [
  [],
  [],
  [["origin", "https://evil.example"]],
  [["origin", "null"]],
  [
    ["origin", "https://evil.example"],
    ["sec-fetch-site", "cross-site"],
  ],
  [
    ["origin", "https://evil.example"],
    ["access-control-request-method", "POST"],
    ["access-control-request-headers", "authorization"],
  ],
  [["cookie", "clearance.token=clra_x"]],
  [["accept", "text/html"]],
];
