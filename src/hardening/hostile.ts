/**
 * Generators of hostile requests (fast-check), each paired with what it means to the reference
 * model: who it authenticates as, where it comes from, which models it could be asking for. The
 * bytes are rendered by hand so that framing errors are exactly what is generated.
 */
import fc from "fast-check";
import { BODY_LIMIT, COUNTRY_HEADER, TRUSTED_PROXY, UNTRUSTED_PEER } from "./harness.js";
import {
  COUNTRY_VALUES,
  CREDENTIALS,
  FORWARDED_VALUES,
  MODEL_NAMES,
  PROXY_INPUTS,
  READ_HEADERS,
  wrongValue,
  type HeaderList,
  type Keys,
  type ProxyInput,
} from "./inputs.js";

/** One request as the reference model sees it. */
export interface Intent {
  readonly from: string;
  /** Every header as sent (name, value), credentials and location included. */
  readonly headers: HeaderList;
  /** The body's bytes as sent (before framing). */
  readonly body: Buffer;
  /** Every model name the bytes could be read as asking for. */
  readonly models: readonly string[];
  /** The model the body names when it parses as JSON (null: it does not, or names none). */
  readonly parsed: string | null;
}

export interface HostileCase {
  readonly label: string;
  readonly [fc.toStringMethod]?: () => string;
  readonly from: string;
  readonly bytes: Buffer;
  readonly intents: readonly Intent[];
  /** Complete requests in the bytes (answers to wait for). */
  readonly requests: number;
  /** The framing is valid HTTP/1.1: the server must parse it and answer every request. */
  readonly wellFramed: boolean;
  /** The path the first request line names (for the caller's wire format). */
  readonly path: string;
}

const BODY_ENCODINGS = [
  "plain",
  "plain",
  "plain",
  "dup-model-first",
  "dup-model-last",
  "bom",
  "invalid-utf8",
  "lone-surrogate-escape",
  "unicode-escape-model",
  "deep-ok",
  "deep-over",
  "huge-number",
  "big-int",
  "trailing-garbage",
  "truncated",
  "at-limit",
  "over-limit",
  "not-object",
] as const;

const CONTENT_TYPES = [
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/vnd.api+json",
  "application/jsonx",
  "text/plain",
  "",
  null,
] as const;

interface BodyPlan {
  readonly model: string;
  readonly alt: string;
  readonly stream: boolean;
  readonly overrides: readonly (readonly [string, unknown])[];
  readonly encoding: (typeof BODY_ENCODINGS)[number];
}

function arbBodyPlan(input: ProxyInput): fc.Arbitrary<BodyPlan> {
  // Weighted toward requests that get as far as a decision: that is where a wrong allow would be.
  return fc.record({
    model: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...SCHEME_MODELS) },
      fc.constantFrom(...MODEL_NAMES),
    ),
    alt: fc.constantFrom(...MODEL_NAMES),
    stream: fc.boolean(),
    overrides: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      fc.array(fc.tuple(fc.constantFrom(...input.reads), wrongValue), { minLength: 1, maxLength: 2 }),
    ),
    encoding: fc.oneof(
      { weight: 4, arbitrary: fc.constant("plain" as const) },
      { weight: 3, arbitrary: fc.constantFrom(...BODY_ENCODINGS) },
    ),
  });
}

/** The body's bytes and the model names they could mean. */
export function renderBody(
  input: ProxyInput,
  plan: BodyPlan,
  caseId: string,
): { body: Buffer; models: string[]; parsed: string | null } {
  // x_case travels to the upstream with the body: a request that arrives there late is still
  // judged against the case that sent it.
  const obj: Record<string, unknown> = {
    ...input.base(plan.model),
    ...(plan.stream ? { stream: true } : {}),
    x_case: caseId,
  };
  for (const [field, value] of plan.overrides) obj[field] = value;
  const json = JSON.stringify(obj);
  const models = [plan.model, plan.alt];
  const withField = (text: string) => `${json.slice(0, -1)}${json.length > 2 ? "," : ""}${text}}`;
  let body: Buffer;
  switch (plan.encoding) {
    case "dup-model-first":
      body = Buffer.from(`{"model":${JSON.stringify(plan.alt)},${json.slice(1)}`);
      break;
    case "dup-model-last":
      body = Buffer.from(withField(`"model":${JSON.stringify(plan.alt)}`));
      break;
    case "bom":
      body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]);
      break;
    case "invalid-utf8": {
      const [head, tail] = [json.slice(0, json.length - 1), "}"];
      body = Buffer.concat([
        Buffer.from(head),
        Buffer.from(`${json.length > 2 ? "," : ""}"model":"myth`),
        Buffer.from([0xff, 0xc3, 0x28]),
        Buffer.from(`os-5"${tail}`),
      ]);
      break;
    }
    case "lone-surrogate-escape":
      body = Buffer.from(withField(`"model":"mythos-5\\ud800"`));
      break;
    case "unicode-escape-model":
      body = Buffer.from(withField(`"model":"\\u006dythos-5"`));
      models.push("mythos-5");
      break;
    case "deep-ok":
      body = Buffer.from(withField(`"metadata":${"[".repeat(100)}${"]".repeat(100)}`));
      break;
    case "deep-over":
      body = Buffer.from(withField(`"metadata":${"[".repeat(200)}${"]".repeat(200)}`));
      break;
    case "huge-number":
      body = Buffer.from(withField(`"temperature":1e999999,"n":-1e-999999`));
      break;
    case "big-int":
      body = Buffer.from(withField(`"seed":123456789012345678901234567890123456789`));
      break;
    case "trailing-garbage":
      body = Buffer.from(`${json}}`);
      break;
    case "truncated":
      body = Buffer.from(json.slice(0, Math.max(1, json.length - 3)));
      break;
    case "at-limit":
    case "over-limit": {
      const want = BODY_LIMIT + (plan.encoding === "over-limit" ? 1 : 0);
      const shell = withField(`"pad":""`);
      body = Buffer.from(withField(`"pad":"${"p".repeat(Math.max(0, want - Buffer.byteLength(shell)))}"`));
      break;
    }
    case "not-object":
      body = Buffer.from(JSON.stringify([obj]));
      break;
    default:
      body = Buffer.from(json);
  }
  let parsed: string | null = null;
  try {
    const json = JSON.parse(body.toString("utf8")) as { model?: unknown };
    if (typeof json?.model === "string") parsed = json.model;
  } catch {
    /* the gateway must refuse it; nothing more to read */
  }
  if (parsed !== null) models.push(parsed);
  return { body, models, parsed };
}

export interface RequestPlan {
  readonly input: ProxyInput;
  readonly body: BodyPlan;
  readonly principal: string;
  readonly other: string;
  readonly credential: number;
  readonly from: string;
  readonly countries: readonly string[];
  readonly forwarded: readonly (readonly string[])[];
  readonly extra: readonly (readonly [string, string])[];
  readonly contentType: (typeof CONTENT_TYPES)[number];
}

const SCHEME_MODELS = MODEL_NAMES.slice(0, 6);
const PRINCIPALS = ["alice", "benoit", "chloe", "devi", "erik", "feng"];

export function arbRequestPlan(): fc.Arbitrary<RequestPlan> {
  return fc.constantFrom(...PROXY_INPUTS).chain((input) =>
    fc.record({
      input: fc.constant(input),
      body: arbBodyPlan(input),
      principal: fc.constantFrom(...PRINCIPALS),
      other: fc.constantFrom(...PRINCIPALS),
      credential: fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(0, 1) },
        fc.nat({ max: CREDENTIALS.length - 1 }),
      ),
      from: fc.constantFrom(TRUSTED_PROXY, TRUSTED_PROXY, UNTRUSTED_PEER),
      countries: fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(...COUNTRY_VALUES.slice(0, 8)).map((c) => [c]) },
        fc.array(fc.constantFrom(...COUNTRY_VALUES), { maxLength: 3 }),
      ),
      forwarded: fc.array(fc.array(fc.constantFrom(...FORWARDED_VALUES), { minLength: 1, maxLength: 4 }), {
        maxLength: 2,
      }),
      extra: fc.array(
        fc
          .constantFrom(...Object.entries(READ_HEADERS))
          .chain(([name, values]) => fc.constantFrom(...values).map((v) => [name, v] as const)),
        { maxLength: 3 },
      ),
      contentType: fc.oneof(
        { weight: 3, arbitrary: fc.constant("application/json" as const) },
        fc.constantFrom(...CONTENT_TYPES),
      ),
    }),
  );
}

/** A request plan as headers, body and intent (before framing). */
export function planIntent(
  plan: RequestPlan,
  keysOf: (principal: string, other: string) => Keys,
  caseId: string,
): Intent {
  const keys = keysOf(plan.principal, plan.other);
  const { body, models, parsed } = renderBody(plan.input, plan.body, caseId);
  const headers: [string, string][] = [
    ...(CREDENTIALS[plan.credential] as (k: Keys) => HeaderList)(keys),
  ].map(([n, v]) => [n, v]);
  for (const c of plan.countries) headers.push([COUNTRY_HEADER, c]);
  for (const f of plan.forwarded) headers.push(["x-forwarded-for", f.join(", ")]);
  for (const [n, v] of plan.extra) headers.push([n, v]);
  if (plan.contentType !== null) headers.push(["content-type", plan.contentType]);
  return { from: plan.from, headers, body, models, parsed };
}

export const FRAMINGS = [
  "cl",
  "chunked",
  "pipelined",
  "dup-cl-same",
  "dup-cl-diff",
  "cl-and-te",
  "te-gzip",
  "te-chunked-identity",
  "te-space-colon",
  "bad-chunk-size",
  "chunk-size-overflow",
  "chunk-ext",
  "cl-negative",
  "cl-plus",
  "cl-short-smuggle",
  "te-smuggle",
  "folding",
  "bare-lf",
  "nul-in-header",
  "no-colon-header",
  "space-in-header-name",
  "oversize-header",
  "many-headers",
  "lowercase-method",
  "double-space",
  "http10",
  "http2-version",
  "no-version",
  "absolute-form",
  "asterisk",
  "percent-nul",
  "fragment",
  "unknown-method",
  "long-target",
  "no-host",
  "get-with-body",
] as const;
export type Framing = (typeof FRAMINGS)[number];

/** Framings that are valid HTTP/1.1: every request in them must be parsed and answered. */
const WELL_FRAMED: ReadonlySet<Framing> = new Set([
  "cl",
  "chunked",
  "pipelined",
  "dup-cl-same",
  "chunk-ext",
  "fragment",
  "double-space",
]);

/** RFC 9110 field-value characters: visible ASCII, space, tab, and obs-text. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function head(lines: readonly string[], eol = "\r\n"): string {
  return lines.join(eol) + eol + eol;
}

function headerLines(headers: HeaderList): string[] {
  return headers.map(([n, v]) => `${n}: ${v}`);
}

function chunked(body: Buffer, ext = ""): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length; at += 1000) {
    const piece = body.subarray(at, at + 1000);
    parts.push(Buffer.from(`${piece.length.toString(16)}${ext}\r\n`, "latin1"), piece, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

/** Renders one intent as bytes with the given framing; `second` is a request smuggled or pipelined after it. */
export function frame(
  framing: Framing,
  path: string,
  intent: Intent,
  host: string,
  second: Intent | null,
): HostileCase {
  const h = headerLines(intent.headers);
  const hostLine = `host: ${host}`;
  const body = intent.body;
  const latin = (s: string) => Buffer.from(s, "latin1");
  const plain = (extra: string[] = [], method = "POST", target = path, version = "HTTP/1.1") =>
    Buffer.concat([
      latin(
        head([
          `${method} ${target} ${version}`,
          hostLine,
          ...h,
          ...extra,
          `content-length: ${body.length}`,
          "connection: close",
        ]),
      ),
      body,
    ]);
  const secondBytes = (close: boolean) =>
    second === null
      ? Buffer.alloc(0)
      : Buffer.concat([
          latin(
            head([
              `POST ${path} HTTP/1.1`,
              hostLine,
              ...headerLines(second.headers),
              `content-length: ${second.body.length}`,
              ...(close ? ["connection: close"] : []),
            ]),
          ),
          second.body,
        ]);
  let bytes: Buffer;
  let requests = 1;
  const intents = [intent];
  switch (framing) {
    case "cl":
      bytes = plain();
      break;
    case "chunked":
      bytes = Buffer.concat([
        latin(
          head([`POST ${path} HTTP/1.1`, hostLine, ...h, "transfer-encoding: chunked", "connection: close"]),
        ),
        chunked(body),
      ]);
      break;
    case "chunk-ext":
      bytes = Buffer.concat([
        latin(
          head([`POST ${path} HTTP/1.1`, hostLine, ...h, "transfer-encoding: chunked", "connection: close"]),
        ),
        chunked(body, ";name=value"),
      ]);
      break;
    case "pipelined": {
      const first = Buffer.concat([
        latin(head([`POST ${path} HTTP/1.1`, hostLine, ...h, `content-length: ${body.length}`])),
        body,
      ]);
      bytes = Buffer.concat([first, secondBytes(true)]);
      if (second !== null) {
        requests = 2;
        intents.push(second);
      }
      break;
    }
    case "dup-cl-same":
      bytes = plain([`content-length: ${body.length}`]);
      break;
    case "dup-cl-diff":
      bytes = plain([`content-length: ${body.length + 5}`]);
      break;
    case "cl-and-te":
      bytes = Buffer.concat([
        latin(
          head([
            `POST ${path} HTTP/1.1`,
            hostLine,
            ...h,
            `content-length: 4`,
            "transfer-encoding: chunked",
            "connection: close",
          ]),
        ),
        chunked(body),
      ]);
      break;
    case "te-gzip":
      bytes = Buffer.concat([
        latin(
          head([`POST ${path} HTTP/1.1`, hostLine, ...h, "transfer-encoding: gzip", "connection: close"]),
        ),
        body,
      ]);
      break;
    case "te-chunked-identity":
      bytes = Buffer.concat([
        latin(
          head([
            `POST ${path} HTTP/1.1`,
            hostLine,
            ...h,
            "transfer-encoding: chunked, identity",
            "connection: close",
          ]),
        ),
        chunked(body),
      ]);
      break;
    case "te-space-colon":
      bytes = Buffer.concat([
        latin(
          head([
            `POST ${path} HTTP/1.1`,
            hostLine,
            ...h,
            "transfer-encoding : chunked",
            `content-length: ${body.length}`,
            "connection: close",
          ]),
        ),
        body,
      ]);
      break;
    case "bad-chunk-size":
      bytes = Buffer.concat([
        latin(
          head([`POST ${path} HTTP/1.1`, hostLine, ...h, "transfer-encoding: chunked", "connection: close"]),
        ),
        latin("zz\r\n"),
        body,
        latin("\r\n0\r\n\r\n"),
      ]);
      break;
    case "chunk-size-overflow":
      bytes = Buffer.concat([
        latin(
          head([`POST ${path} HTTP/1.1`, hostLine, ...h, "transfer-encoding: chunked", "connection: close"]),
        ),
        latin("ffffffffffffffffff\r\n"),
        body,
      ]);
      break;
    case "cl-negative":
      bytes = Buffer.concat([
        latin(head([`POST ${path} HTTP/1.1`, hostLine, ...h, "content-length: -1", "connection: close"])),
        body,
      ]);
      break;
    case "cl-plus":
      bytes = Buffer.concat([
        latin(
          head([
            `POST ${path} HTTP/1.1`,
            hostLine,
            ...h,
            `content-length: +${body.length}`,
            "connection: close",
          ]),
        ),
        body,
      ]);
      break;
    case "cl-short-smuggle": {
      // The declared length stops early; what follows is read as a second request.
      const cut = Math.max(1, Math.floor(body.length / 2));
      bytes = Buffer.concat([
        latin(head([`POST ${path} HTTP/1.1`, hostLine, ...h, `content-length: ${cut}`])),
        body.subarray(0, cut),
        secondBytes(true),
      ]);
      if (second !== null) {
        requests = 2;
        intents.push(second);
      }
      break;
    }
    case "te-smuggle":
      // CL.TE: a proxy honouring the length would pass the smuggled request as body.
      {
        const smuggled = secondBytes(true);
        const chunkedBody = Buffer.concat([latin("0\r\n\r\n"), smuggled]);
        bytes = Buffer.concat([
          latin(
            head([
              `POST ${path} HTTP/1.1`,
              hostLine,
              ...h,
              `content-length: ${chunkedBody.length}`,
              "transfer-encoding: chunked",
            ]),
          ),
          chunkedBody,
        ]);
        if (second !== null) intents.push(second);
        requests = second === null ? 1 : 2;
      }
      break;
    case "folding":
      bytes = plain(["x-folded: first", " continued-line"]);
      break;
    case "bare-lf":
      bytes = Buffer.concat([
        latin(
          head(
            [`POST ${path} HTTP/1.1`, hostLine, ...h, `content-length: ${body.length}`, "connection: close"],
            "\n",
          ),
        ),
        body,
      ]);
      break;
    case "nul-in-header":
      bytes = plain(["x-evil: a\u0000b"]);
      break;
    case "no-colon-header":
      bytes = plain(["x-no-colon-here"]);
      break;
    case "space-in-header-name":
      bytes = plain(["x bad name: 1"]);
      break;
    case "oversize-header":
      bytes = plain([`x-big: ${"b".repeat(20_000)}`]);
      break;
    case "many-headers":
      bytes = plain(Array.from({ length: 300 }, (_, i) => `x-h${i}: ${i}`));
      break;
    case "lowercase-method":
      bytes = plain([], "post");
      break;
    case "double-space":
      bytes = plain([], "POST", ` ${path}`);
      break;
    case "http10":
      bytes = plain([], "POST", path, "HTTP/1.0");
      break;
    case "http2-version":
      bytes = plain([], "POST", path, "HTTP/2.0");
      break;
    case "no-version":
      bytes = Buffer.concat([
        latin(head([`POST ${path}`, hostLine, ...h, `content-length: ${body.length}`])),
        body,
      ]);
      break;
    case "absolute-form":
      bytes = plain([], "POST", `http://evil.example${path}`);
      break;
    case "asterisk":
      bytes = plain([], "POST", "*");
      break;
    case "percent-nul":
      bytes = plain([], "POST", `${path}%00`);
      break;
    case "fragment":
      bytes = plain([], "POST", `${path}?a=1&a=2#frag`);
      break;
    case "unknown-method":
      bytes = plain([], "BREW");
      break;
    case "long-target":
      bytes = plain([], "POST", `${path}?${"q".repeat(20_000)}`);
      break;
    case "no-host":
      bytes = Buffer.concat([
        latin(head([`POST ${path} HTTP/1.1`, ...h, `content-length: ${body.length}`, "connection: close"])),
        body,
      ]);
      break;
    case "get-with-body":
      bytes = plain([], "GET");
      break;
  }
  // A control character in a header value is not valid HTTP either, whatever the framing.
  const validValues = intents.every((i) => i.headers.every(([, v]) => FIELD_VALUE.test(v)));
  return {
    label: framing,
    from: intent.from,
    bytes,
    intents,
    requests,
    wellFramed: WELL_FRAMED.has(framing) && validValues,
    path,
    // Counterexamples print as the request's text, not as a byte array.
    [fc.toStringMethod]: () =>
      `${framing} from ${intent.from}: ${JSON.stringify(bytes.toString("latin1").slice(0, 600))}`,
  };
}
