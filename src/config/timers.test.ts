/**
 * Durations that feed Node's timers. A timer longer than 2^31 - 1 ms is not an error to Node: it
 * fires after 1 ms (TimeoutOverflowWarning). A `refresh_ms` of 30 days polled the store every
 * millisecond, a `checkpoint_ms` signed a checkpoint every millisecond, and a `timeout_ms` of the
 * webhook, a key fetch, Redis or PostgreSQL timed every call out at once, and an upstream's
 * `first_byte_ms` or `idle_ms` cut its answer off. Socket timeouts (the listener's idle and
 * kept-alive ones) are cut to the longest instead, warning on every connection. Refused at their line.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { refusedWith } from "../testing/config.js";
import { parseConfig } from "./index.js";

const BASE = `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo }, slow: { type: demo, token_delay_ms: %D } }
default_provider: demo
`;
const parse = (extra: string, delay = 0) =>
  parseConfig(BASE.replace("%D", String(delay)) + extra, join("examples", "test.yaml"), {
    DATABASE_URL: "postgres://db/clearance",
  });

/** The longest a Node timer waits: 2^31 - 1 ms, 24.8 days. */
const TIMER_MAX_MS = 2_147_483_647;
const TOO_LONG = TIMER_MAX_MS + 1;

/** Each timer-fed setting, as YAML setting it to `v`, and its path. */
const TIMED: readonly [string, (v: number) => string][] = [
  ["refresh_ms", (v) => `refresh_ms: ${v}\nfreshness_ms: ${v + 1}\n`],
  ["metering.flush_ms", (v) => `metering: { flush_ms: ${v} }\n`],
  ["audit.checkpoint_ms", (v) => `audit: { checkpoint_ms: ${v} }\n`],
  ["identity.maintain_ms", (v) => `identity: { maintain_ms: ${v} }\n`],
  ["identity.key_fetch_timeout_ms", (v) => `identity: { key_fetch_timeout_ms: ${v} }\n`],
  ["monitoring.alerts.quota.check_ms", (v) => `monitoring: { alerts: { quota: { check_ms: ${v} } } }\n`],
  [
    "monitoring.alerts.webhook.timeout_ms",
    (v) => `monitoring: { alerts: { webhook: { timeout_ms: ${v} } } }\n`,
  ],
  // A socket timeout: Node cuts it to the longest, with a TimeoutOverflowWarning on every connection.
  ["listen.idle_timeout_ms", (v) => `listen: { idle_timeout_ms: ${v} }\n`],
];

describe("a duration past what Node's timers hold", () => {
  it.each(TIMED)("%s is refused at its line, saying why", (path, yaml) => {
    const found = refusedWith(() => parse(yaml(TOO_LONG)));
    expect(found.filter((p) => p.path.join(".") === path)).toEqual([
      expect.objectContaining({
        line: 4,
        message: expect.stringMatching(
          /at most 2147483647 ms \(about 24 days\): Node's timers cannot wait longer, and would fire after 1 ms instead/,
        ) as unknown,
      }),
    ]);
    expect(() => parse(yaml(TIMER_MAX_MS - 1))).not.toThrow();
  });

  it("is refused for an upstream's first-byte and idle timeouts (each aborted the call after 1 ms)", () => {
    const upstream = (timeouts: string) =>
      parseConfig(
        `scheme: g7-trusted-partners.yaml
providers:
  demo: { type: demo }
  up: { type: openai, base_url: "http://127.0.0.1:9/v1", timeouts: { ${timeouts} } }
default_provider: demo
`,
        join("examples", "test.yaml"),
        {},
      );
    const found = refusedWith(() => upstream(`first_byte_ms: ${TOO_LONG}, idle_ms: ${TOO_LONG}`));
    expect(found.map((p) => [p.path.join("."), p.line, p.message])).toEqual(
      ["first_byte_ms", "idle_ms"].map((key) => [
        `providers.up.timeouts.${key}`,
        4,
        expect.stringMatching(
          /^at most 2147483647 ms \(about 24 days\): Node's timers cannot wait longer/,
        ) as unknown,
      ]),
    );
    expect(() => upstream(`first_byte_ms: ${TIMER_MAX_MS}, idle_ms: ${TIMER_MAX_MS}`)).not.toThrow();
  });

  it("is refused for the kept-alive timeout, which Node waits 1 s longer than said", () => {
    const found = refusedWith(() => parse(`listen: { keep_alive_timeout_ms: ${TIMER_MAX_MS - 999} }\n`));
    expect(found.map((p) => [p.path.join("."), p.line, p.message])).toEqual([
      [
        "listen.keep_alive_timeout_ms",
        4,
        expect.stringMatching(
          /^at most 2147482647 ms \(about 24 days\): Node holds a kept-alive connection 1000 ms longer/,
        ) as unknown,
      ],
    ]);
    expect(() => parse(`listen: { keep_alive_timeout_ms: ${TIMER_MAX_MS - 1000} }\n`)).not.toThrow();
  });

  it("is refused for the demo provider's token delay", () => {
    const found = refusedWith(() => parse("", TOO_LONG));
    expect(found.map((p) => [p.path.join("."), p.line])).toEqual([["providers.slow.token_delay_ms", 2]]);
  });

  it("is refused where a setting is multiplied into a longer wait: the counters' and the store's", () => {
    const found = (yaml: string) =>
      refusedWith(() => parse(yaml)).map((p) => [p.path.join("."), p.line, p.message]);
    // Redis is given 4 × counters.timeout_ms to come back before it is reported unreachable.
    expect(found(`counters: { timeout_ms: ${Math.floor(TIMER_MAX_MS / 4) + 1} }\n`)).toEqual([
      ["counters.timeout_ms", 4, expect.stringMatching(/at most 536870911 ms.*4 ×/) as unknown],
    ]);
    // PostgreSQL: a change waits lock_timeout_ms + 2 × query_timeout_ms, an audit drain 6 × query_timeout_ms.
    expect(found(`store: { query_timeout_ms: ${Math.floor(TIMER_MAX_MS / 6) + 1} }\n`)).toEqual([
      ["store.query_timeout_ms", 4, expect.stringMatching(/at most 357913941 ms.*6 ×/) as unknown],
    ]);
    expect(found(`store: { driver: postgres, lock_timeout_ms: ${TIMER_MAX_MS - 9_999} }\n`)).toEqual([
      [
        "store.lock_timeout_ms",
        4,
        expect.stringMatching(
          /lock_timeout_ms \+ 2 × query_timeout_ms \(2147483648\) must be at most 2147483647/,
        ) as unknown,
      ],
    ]);
    expect(() =>
      parse(`store: { driver: postgres, lock_timeout_ms: ${TIMER_MAX_MS - 10_000} }\n`),
    ).not.toThrow();
  });
});
