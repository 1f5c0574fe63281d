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
