/**
 * Provider names, looked up as own keys: one found only through Object.prototype (`default_provider:
 * constructor`, `provider: toString`) loaded, then left every request unrouted (503). Refused at
 * load with the field's line, like any unknown provider.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";
import { refusedWith } from "../testing/config.js";

const load = (text: string) =>
  parseConfig(`scheme: g7-trusted-partners.yaml\n${text}`, join("examples", "test.yaml"), {});

const problems = (text: string) => refusedWith(() => load(text));

describe("provider names", () => {
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])(
    "refuses default_provider: %s, which no provider is named",
    (name) => {
      expect(problems(`providers: { demo: { type: demo } }\ndefault_provider: ${name}\n`)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            code: "unknown_provider",
            path: ["default_provider"],
            line: 3,
            message: `unknown provider "${name}"; expected one of: demo`,
          }),
        ]),
      );
    },
  );

  it("refuses a model routed to a provider named like an Object.prototype member", () => {
    const text =
      "providers: { demo: { type: demo } }\ndefault_provider: demo\nmodels:\n  mythos-5: { provider: toString }\n";
    expect(problems(text)).toEqual([
      expect.objectContaining({
        code: "unknown_provider",
        path: ["models", "mythos-5", "provider"],
        line: 5,
        column: 25,
      }),
    ]);
  });

  it("still takes a provider that is really named constructor", () => {
    const c = load("providers: { constructor: { type: demo } }\ndefault_provider: constructor\n");
    expect(c.route("mythos-5")).toEqual({ provider: "constructor", upstreamModel: "mythos-5" });
  });

  it("a provider or model name holding a quote is quoted with it escaped, as messages quote values", () => {
    const text = `providers: { demo: { type: demo } }\ndefault_provider: 'p"q'\nmodels:\n  'x"y': { provider: demo }\n`;
    expect(problems(text).map((p) => p.message)).toEqual([
      'unknown provider "p\\"q"; expected one of: demo',
      expect.stringMatching(/^no provider for scheme models /),
      expect.stringMatching(/^model "x\\"y" is not in scheme g7-trusted-partners; expected one of: /),
    ]);
  });

  it("a list of the config's provider names quotes one that is not plain (a quote, a comma); plain ones as before", () => {
    // Before: "expected one of: demo, p"q, a, b", four names or three, read either way.
    const text = `providers: { demo: { type: demo }, 'p"q': { type: demo }, 'a, b': { type: demo } }\ndefault_provider: nope\n`;
    expect(problems(text).map((p) => p.message)).toEqual([
      expect.stringMatching(/^no provider for scheme models /),
      'unknown provider "nope"; expected one of: demo, "p\\"q", "a, b"',
    ]);
  });

  it("a fallback whose upstream shares no wire format names the providers quoted when not plain", () => {
    const text = `providers:
  demo: { type: demo }
  'a"1': { type: anthropic, base_url: "http://127.0.0.1:9" }
  'o"1': { type: openai, base_url: "http://127.0.0.1:9/v1" }
default_provider: demo
models:
  mythos-5: { provider: 'a"1' }
  mythos-4: { provider: 'o"1' }
`;
    expect(problems(text).map((p) => p.message)).toEqual([
      'scheme g7-trusted-partners: mythos-5 falls back to mythos-4, but mythos-5 is served by provider "a\\"1" (anthropic) ' +
        'and mythos-4 by provider "o\\"1" (openai): no wire format in common, so no request for mythos-5 could be ' +
        "served by mythos-4; route them to providers sharing a wire format",
    ]);
  });
});
