import { connect, type AddressInfo } from "node:net";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScheme } from "../scheme/index.js";
import { NOW, TEST_SCHEME_YAML, testScheme } from "../testing/schemes.js";
import { createDecisionServer } from "./index.js";

const scheme = testScheme();
const server = createDecisionServer({ scheme: () => scheme, bodyLimit: 64 * 1024 });
let base = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const post = (body: string, type = "application/json") =>
  fetch(`${base}/v1/decisions`, { method: "POST", headers: { "content-type": type }, body });

const FR = { id: "p-fr", citizenships: [{ country: "FR" }], assurance: "attested" };
const request = { model: "m5", action: "infer", location: "FR", time: NOW };

describe("decision API", () => {
  it("decides one {principal, request}", async () => {
    const res = await post(JSON.stringify({ principal: FR, request }));
    expect(res.status).toBe(200);
    const d = (await res.json()) as Record<string, unknown>;
    expect(d).toMatchObject({ decision: "allow", reason: "partner-country", served_model: "m5" });
    expect(d.scheme).toEqual({ name: "test-scheme", digest: scheme.digest });
  });

  it("decides a batch, in order", async () => {
    const res = await post(
      JSON.stringify([
        { principal: FR, request },
        {
          principal: { id: "p-in", citizenships: [{ country: "IN" }] },
          request: { ...request, model: "c5", location: "BR" },
        },
      ]),
    );
    const body = (await res.json()) as { decisions: { decision: string; served_model: string }[] };
    expect(body.decisions.map((d) => [d.decision, d.served_model])).toEqual([
      ["allow", "m5"],
      ["fallback", "c3"],
    ]);
  });

  it("a bad field is a 400 naming its path", async () => {
    const res = await post(JSON.stringify({ principal: FR, request: { ...request, location: "XX" } }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; problems: { path: string }[] } };
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.problems.map((p) => p.path)).toEqual(["request.location"]);
  });

  it("a model id or purpose is bounded and free of control characters (the answer echoes them)", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ model: "m".repeat(257) }, "request.model", /longer than 256/],
      [{ model: "m5\u0000" }, "request.model", /control characters/],
      [{ purpose: "p".repeat(257) }, "request.purpose", /longer than 256/],
      [{ purpose: "research\n" }, "request.purpose", /control characters/],
    ];
    for (const [over, path, message] of cases) {
      const res = await post(JSON.stringify({ principal: FR, request: { ...request, ...over } }));
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { problems: { path: string; message: string }[] } };
      expect(body.error.problems).toEqual([
        expect.objectContaining({ path, message: expect.stringMatching(message) }),
      ]);
    }
    // 256 characters is still a model id (unknown here).
    const long = await post(
      JSON.stringify({ principal: FR, request: { ...request, model: "m".repeat(256) } }),
    );
    expect(long.status).toBe(200);
  });

  it("principal and organization ids are free of control characters (the answer echoes them)", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ id: "p-fr\u0000" }, "principal.id", /control characters/],
      [{ id: "p\u0085fr" }, "principal.id", /control characters/],
      [{ organization: "org\n" }, "principal.organization", /control characters/],
      [{ organization: { id: "org\u007f" } }, "principal.organization.id", /control characters/],
    ];
    for (const [over, path, message] of cases) {
      const res = await post(JSON.stringify({ principal: { ...FR, ...over }, request }));
      expect(res.status).toBe(400);
      const body = (await res.json()) as {
        error: { code: string; problems: { path: string; message: string }[] };
      };
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.problems).toEqual([
        expect.objectContaining({ path, message: expect.stringMatching(message) }),
      ]);
    }
    // A lone surrogate is refused too (invalid_unicode, before validation).
    const lone = await post(JSON.stringify({ principal: { ...FR, organization: "o\ud800" }, request }));
    expect(((await lone.json()) as { error: { code: string } }).error.code).toBe("invalid_unicode");
  });

  it("a time in milliseconds is one a date can hold (JavaScript's, to 8.64e15)", async () => {
    const res = await post(JSON.stringify({ principal: FR, request: { ...request, time: 8.64e15 + 1 } }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { problems: { path: string; message: string }[] } };
    expect(body.error.problems).toEqual([
      expect.objectContaining({ path: "request.time", message: expect.stringMatching(/8\.64e15/) }),
    ]);
    const last = await post(JSON.stringify({ principal: FR, request: { ...request, time: 8.64e15 } }));
    expect(last.status).toBe(200);
  });

  it("an empty purpose is no purpose, as the gateway reads an empty x-clearance-purpose", async () => {
    // A license naming the purpose "" serves no request at the gateway. Scheme files now refuse
    // one (src/scheme/load.test.ts); the API must not grant on it all the same.
    const named = parseScheme(TEST_SCHEME_YAML, "empty-purpose.yaml");
    Object.assign(named.licenses.get("L-ORG") as object, { purposes: new Set([""]) });
    const api = createDecisionServer({ scheme: () => named });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    try {
      const de = { id: "p-de", citizenships: [{ country: "DE" }], organization: "bw-cyber" };
      const res = await fetch(`http://127.0.0.1:${(api.address() as AddressInfo).port}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ principal: de, request: { ...request, location: "DE", purpose: "" } }),
      });
      expect(res.status).toBe(200);
      const d = (await res.json()) as {
        decision: string;
        reason: string;
        served_model: string;
        checks: { detail: string }[];
      };
      // Not licensed for m5 (it was allowed on the license): served its open fallback.
      expect([d.decision, d.reason, d.served_model]).toEqual(["fallback", "no-authorization", "m4"]);
      expect(d.checks.map((c) => c.detail)).toContain("L-ORG: purpose (none given) is not licensed");
    } finally {
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  });

  it("a batch names every bad field with its index", async () => {
    const res = await post(
      JSON.stringify([
        { principal: FR, request },
        { principal: { ...FR, assurance: "high" }, request: { ...request, model: 5 } },
      ]),
    );
    const body = (await res.json()) as { error: { problems: { path: string; message: string }[] } };
    expect(res.status).toBe(400);
    expect(body.error.problems.map((p) => p.path)).toEqual(["[1].principal.assurance", "[1].request.model"]);
  });

  it("unknown fields are rejected, not ignored", async () => {
    const res = await post(JSON.stringify({ principal: { ...FR, nationality: "FR" }, request }));
    const body = (await res.json()) as { error: { problems: { path: string; code: string }[] } };
    expect(body.error.problems).toEqual([
      expect.objectContaining({ code: "unknown_key", path: "principal.nationality" }),
    ]);
  });

  it("a member named twice, at any depth, is a 400 naming it: JSON.parse would silently keep the last", async () => {
    const refused = async (text: string) => {
      const res = await post(text);
      const body = (await res.json()) as {
        error: { code: string; message: string; problems: { path: string }[] };
      };
      return { status: res.status, code: body.error.code, path: body.error.problems?.[0]?.path };
    };
    const one = JSON.stringify({ principal: FR, request: { ...request, location: "IR" } });
    // The embargoed location first, a harmless one after: never decided as the harmless one.
    expect(await refused(one.replace('"location":"IR"', '"location":"IR","location":"FR"'))).toEqual({
      status: 400,
      code: "duplicate_member",
      path: "request.location",
    });
    expect(
      await refused(`[${one},${one.replace('"country":"FR"', '"country":"FR","country":"US"')}]`),
    ).toEqual({ status: 400, code: "duplicate_member", path: "[1].principal.citizenships[0].country" });
    expect(await refused(one.replace('{"principal"', '{"request":{},"principal"'))).toMatchObject({
      code: "duplicate_member",
      path: "request",
    });
    // Escaped spellings are the same name; the same name in sibling objects is no duplicate.
    expect(
      await refused(one.replace('"location":"IR"', '"location":"IR","loc\\u0061tion":"FR"')),
    ).toMatchObject({ code: "duplicate_member", path: "request.location" });
    const siblings = JSON.stringify([
      { principal: FR, request },
      { principal: FR, request },
    ]);
    expect((await post(siblings)).status).toBe(200);
    // The name is quoted as messages quote values: a C1 control or an override in it escaped.
    const odd = await post('{"x\u009b2J\u202e":1,"x\u009b2J\u202e":2}');
    expect(((await odd.json()) as { error: { message: string } }).error.message).toBe(
      'the body names "x\\u009b2J\\u202e" more than once in the same object; send each member once',
    );
  });

  it("a bidirectional control anywhere in a decision is a 400 bidi_control naming where, alone or in a batch", async () => {
    const refused = async (body: unknown) => {
      const res = await post(JSON.stringify(body));
      const text = await res.text();
      const parsed = JSON.parse(text) as {
        error: { code: string; message: string; problems?: { code: string; path: string }[] };
      };
      return { status: res.status, text, error: parsed.error };
    };
    // Before: 200, the decision echoing "organization Acme\u202e… is not a partner" as sent.
    const one = await refused({ principal: { ...FR, organization: "acme\u202eevil" }, request });
    expect(one.status).toBe(400);
    expect(one.error.code).toBe("bidi_control");
    expect(one.error.message).toBe(
      "principal.organization holds U+202E (right-to-left override), an invisible control that makes text read otherwise than it is stored; remove it (right-to-left letters need none)",
    );
    expect(one.error.problems).toEqual([
      expect.objectContaining({ code: "bidi_control", path: "principal.organization" }),
    ]);
    const batch = await refused([
      { principal: FR, request },
      { principal: FR, request },
      { principal: FR, request: { ...request, purpose: "research\u2066x\u2069" } },
    ]);
    expect(batch.status).toBe(400);
    expect(batch.error.problems).toEqual([
      expect.objectContaining({ code: "bidi_control", path: "[2].request.purpose" }),
    ]);
    expect(batch.error.message).toMatch(/^\[2\]\.request\.purpose holds U\+2066 \(left-to-right isolate\)/);
    // Written as an escape, it is the same character; the answer carries none of it.
    const escaped = await post(
      JSON.stringify({ principal: { ...FR, id: "p-fr" }, request }).replace('"p-fr"', '"p-\\u202dfr"'),
    );
    expect(escaped.status).toBe(400);
    const escapedText = await escaped.text();
    expect(JSON.parse(escapedText)).toMatchObject({
      error: { code: "bidi_control", problems: [{ path: "principal.id" }] },
    });
    for (const text of [one.text, batch.text, escapedText])
      expect(text).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    // Right-to-left letters and the directional marks are no controls.
    const rtl = await post(
      JSON.stringify({ principal: { ...FR, name: "\u05e9\u05dc\u05d5\u05dd\u200f" }, request }),
    );
    expect(rtl.status).toBe(200);
  });

  it("a request Node's parser refuses is answered without the gateway's decision headers", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(new URL(base).port), "127.0.0.1", () =>
        s.write("POST /v1/decisions HTTP/1.1\r\nHost: api\r\nbad header line\r\n\r\n"),
      );
      let got = "";
      s.on("data", (c: Buffer) => (got += c.toString("latin1")));
      s.once("close", () => resolve(got));
      s.once("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const head = answer.slice(0, answer.indexOf("\r\n\r\n")).toLowerCase();
    // Before: `x-clearance-decision: none`, `x-clearance-reason` and `x-clearance-served-model`,
    // the gateway's word that it forwarded nothing; this API forwards nothing ever.
    expect(head).not.toContain("x-clearance-decision");
    expect(head).not.toContain("x-clearance-reason");
    expect(head).not.toContain("x-clearance-served-model");
    const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { error: { code: string } };
    expect(body.error.code).toBe("malformed_http");
  });

  it("malformed JSON is a 400; a missing field says it is missing", async () => {
    expect((await post("{not json")).status).toBe(400);
    const res = await post(JSON.stringify({ principal: FR }));
    const body = (await res.json()) as { error: { problems: { path: string; code: string }[] } };
    expect(body.error.problems).toEqual([expect.objectContaining({ code: "missing", path: "request" })]);
  });

  it("wrong content type, oversized body, wrong method, unknown route", async () => {
    expect((await post("{}", "text/plain")).status).toBe(415);
    expect((await post(JSON.stringify({ pad: "x".repeat(70 * 1024) }))).status).toBe(413);
    const wrong = await fetch(`${base}/v1/decisions`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    expect((await fetch(`${base}/healthz`, { method: "POST" })).headers.get("allow")).toBe("GET, HEAD");
    const missing = await fetch(`${base}/v1/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("a compressed body is a 415 naming its Content-Encoding, not a parse error quoting its bytes", async () => {
    const json = JSON.stringify({ principal: FR, request });
    for (const encoding of ["gzip", "deflate, gzip", "br"]) {
      const res = await fetch(`${base}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": encoding },
        body: encoding === "br" ? brotliCompressSync(json) : gzipSync(json),
      });
      expect(res.status).toBe(415);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error).toEqual({
        code: "unsupported_media_type",
        message: `Content-Encoding ${JSON.stringify(encoding)} is not supported: send the JSON body uncompressed`,
      });
    }
    // identity is no coding at all.
    const plain = await fetch(`${base}/v1/decisions`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "identity" },
      body: json,
    });
    expect(plain.status).toBe(200);
  });

  it("a Content-Encoding or Content-Type holding C1 bytes is named escaped in the refusal, not raw", async () => {
    // Header values are latin-1: the byte 0x9B reads as U+009B, a terminal's control sequence
    // introducer, and 0x85 as U+0085 (next line). A refusal quoting the header must not carry them.
    const refusal = (header: string) =>
      new Promise<{ status: string; body: { error: { code: string; message: string } } }>(
        (resolve, reject) => {
          const s = connect(Number(new URL(base).port), "127.0.0.1", () =>
            s.write(
              Buffer.concat([
                Buffer.from("POST /v1/decisions HTTP/1.1\r\nHost: api\r\nConnection: close\r\n", "latin1"),
                Buffer.from(`${header}\r\nContent-Length: 2\r\n\r\n{}`, "latin1"),
              ]),
            ),
          );
          const chunks: Buffer[] = [];
          s.on("data", (c: Buffer) => chunks.push(c));
          s.once("close", () => {
            const answer = Buffer.concat(chunks).toString("utf8");
            // Connection: close and a Content-Length body: what follows the head is the JSON.
            const at = answer.indexOf("\r\n\r\n");
            const status = answer.slice(0, answer.indexOf("\r\n"));
            resolve({ status, body: JSON.parse(answer.slice(at + 4)) as never });
          });
          s.once("error", reject);
        },
      );
    const encoding = await refusal("Content-Type: application/json\r\nContent-Encoding: gz\x9b2Jip\x85");
    expect(encoding.status).toMatch(/^HTTP\/1\.1 415 /);
    expect(encoding.body.error).toEqual({
      code: "unsupported_media_type",
      message: 'Content-Encoding "gz\\u009b2Jip\\u0085" is not supported: send the JSON body uncompressed',
    });
    const type = await refusal("Content-Type: text/\x9b2Jplain");
    expect(type.status).toMatch(/^HTTP\/1\.1 415 /);
    expect(type.body.error).toEqual({
      code: "unsupported_media_type",
      message: 'expected Content-Type: application/json, got "text/\\u009b2Jplain"',
    });
  });

  it("GET /healthz reports the scheme in force", async () => {
    const res = await fetch(`${base}/healthz`);
    expect(await res.json()).toEqual({
      status: "ok",
      scheme: { name: "test-scheme", digest: scheme.digest },
    });
  });
});
