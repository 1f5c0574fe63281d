/**
 * A bidirectional override, embedding or isolate in an admin API body is refused with 400
 * `bidi_control` naming the JSON path; right-to-left letters and the marks are text like any other.
 *
 * A lone surrogate (not Unicode; RFC 8785, the audit log's canonical JSON, refuses it) anywhere in
 * a JSON body the admin API or the decision API reads is refused with 400 `invalid_unicode` naming
 * the JSON path, before anything is recorded; a well-formed pair (an emoji) is taken as any text.
 * The gateway's own request bodies are not concerned: a prompt goes to the upstream as it came.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEntries, call, partnerBody, postText } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t?.gateway.close();
});

const post = (path: string, text: string) => postText(t, path, text);
const partner = partnerBody;

const auditSize = async () => (await auditEntries(t)).length;

describe("lone surrogates in admin API bodies", () => {
  it("are refused with 400 invalid_unicode naming the path, and nothing is recorded", async () => {
    const before = await auditSize();
    const cases: [unknown, string][] = [
      [partner("uni-lab", "vetted \ud800"), "reason"],
      [
        partner("uni-lab", "vetted", { grants: [{ models: ["mythos-5"], actions: ["in\udfffer"] }] }),
        "partner.grants[0].actions[0]",
      ],
      [partner("uni-\udc00lab", "vetted"), "partner.id"],
      // A high surrogate followed by a second high one, and a low one before a high one: no pair.
      [partner("uni-lab", "a\ud83d\ud83d"), "reason"],
      [partner("uni-lab", "a\ude00\ud83d"), "reason"],
    ];
    for (const [body, path] of cases) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners", body);
      expect(r.status, path).toBe(400);
      expect(r.body.error.code).toBe("invalid_unicode");
      expect(r.body.error.message).toContain(`${path} is not valid Unicode (a lone surrogate)`);
      expect(r.body.error.problems).toEqual([
        { code: "invalid_unicode", path, message: `${path} is not valid Unicode (a lone surrogate)` },
      ]);
    }
    // A member name holding one: named with U+FFFD in its place, in the object that holds it.
    const named = await post(
      "/admin/v1/partners",
      '{"kind":"organization","partner":{"id":"uni-lab","x\\ud800":1},"reason":"vetted"}',
    );
    expect(named.status).toBe(400);
    expect(named.body.error).toMatchObject({ code: "invalid_unicode" });
    expect(named.body.error.problems[0].path).toBe("partner.x\ufffd");
    expect(named.body.error.message).toContain('the member name "x\ufffd" in partner is not valid Unicode');
    // Another route, escaped in lower and upper case: a key's label.
    for (const label of ['"l\\uDBFF"', '"l\\udbff"']) {
      const r = await post("/admin/v1/keys", `{"principal":"alice","label":${label}}`);
      expect(r.status).toBe(400);
      expect(r.body.error.problems[0]).toMatchObject({ code: "invalid_unicode", path: "label" });
    }
    expect((await call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners/uni-lab")).status).toBe(404);
    expect(await auditSize()).toBe(before);
  });

  it("a well-formed pair, raw or escaped, is text like any other and is recorded as sent", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners", partner("uni-ok", "vetted 😀"));
    expect(r.status).toBe(201);
    // Escaped pairs, and an escaped backslash before "ud800" (the text \ud800, not a surrogate).
    const s = await post(
      "/admin/v1/partners/uni-ok/status",
      '{"status":"active","reason":"ok \\ud83d\\ude00 \\\\ud800"}',
    );
    expect(s.status).toBe(200);
    const entries = (await auditEntries(t)).filter((e) => e.object?.id === "uni-ok");
    expect(entries.map((e) => e.details?.reason)).toEqual(["vetted 😀", "ok 😀 \\ud800"]);
  });
});

describe("bidirectional controls in admin API bodies", () => {
  // Invisible, an override or isolate makes a name or reason read otherwise than it is stored: the
  // console and CLI show them escaped, but the audit log and reports reach other readers. Before:
  // stored and recorded as sent.
  it("are refused with 400 bidi_control naming the path, raw or escaped, and nothing is recorded", async () => {
    const before = await auditSize();
    const cases: [unknown, string, string][] = [
      [partner("bidi-lab", "vetted \u202etxet"), "reason", "U+202E (right-to-left override)"],
      [partner("bidi-\u2066lab\u2069", "vetted"), "partner.id", "U+2066 (left-to-right isolate)"],
      [partner("bidi-lab", "a\u202ab\u202c"), "reason", "U+202A (left-to-right embedding)"],
      [partner("bidi-lab", "\u2068x"), "reason", "U+2068 (first strong isolate)"],
    ];
    for (const [body, path, char] of cases) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners", body);
      expect(r.status, path).toBe(400);
      expect(r.body.error.code).toBe("bidi_control");
      expect(r.body.error.message).toContain(`${path} holds ${char}, an invisible control`);
      expect(r.body.error.problems).toEqual([
        { code: "bidi_control", path, message: `${path} holds ${char}` },
      ]);
    }
    // Escaped (as JSON allows), in a key's label.
    for (const label of ['"l\\u202E"', '"l\\u2067"']) {
      const r = await post("/admin/v1/keys", `{"principal":"alice","label":${label}}`);
      expect(r.status).toBe(400);
      expect(r.body.error.problems[0]).toMatchObject({ code: "bidi_control", path: "label" });
    }
    // A member name holding one: named with U+FFFD, so that the answer does not carry it either.
    const named = await post(
      "/admin/v1/partners",
      '{"kind":"organization","partner":{"id":"bidi-lab","x\\u202e":1},"reason":"vetted"}',
    );
    expect(named.status).toBe(400);
    expect(named.body.error.problems[0]).toMatchObject({ code: "bidi_control", path: "partner.x\ufffd" });
    // A scheme's YAML is told where in its text.
    const yaml = "version: 1\nname: x\n# note \u202e\n";
    const up = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml });
    expect(up.status).toBe(400);
    expect(up.body.error.message).toContain(
      "yaml holds U+202E (right-to-left override) at line 3, column 8 of its text",
    );
    expect((await call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners/bidi-lab")).status).toBe(404);
    expect(await auditSize()).toBe(before);
  });

  it("take right-to-left names and reasons, and the directional marks, recorded as sent", async () => {
    const reason = "\u200fموافق עליו\u200e (vetted)";
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners", {
      ...partner("rtl-lab", reason),
    });
    expect(r.status).toBe(201);
    const s = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/rtl-lab/status", {
      status: "active",
      reason: "שם בעברית و اسم بالعربية",
    });
    expect(s.status).toBe(200);
    const entries = (await auditEntries(t)).filter((e) => e.object?.id === "rtl-lab");
    expect(entries.map((e) => e.details?.reason)).toEqual([reason, "שם בעברית و اسم بالعربية"]);
  });
});

describe("bidirectional controls in a screening search", () => {
  // A search is a query, compared with the lists and neither stored nor shown to another person: a
  // name copied from a list as the list writes it, controls and all, must still be searchable.
  // Before (with every admin body refusing them): 400 bidi_control.
  it("are taken: the name is screened as sent", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/screening/search", {
      name: "\u202eAcme Trading\u202c",
      type: "organization",
    });
    expect(r.status).toBe(200);
    expect(r.body.match).toBeTypeOf("boolean");
  });
});

describe("lone surrogates in decision API bodies", () => {
  const input = (id: string) => ({
    principal: { id, citizenships: [{ country: "US" }] },
    request: { model: "mythos-5", action: "infer", location: "US", time: new Date().toISOString() },
  });

  it("are refused with 400 invalid_unicode naming the path, one decision or a batch's item", async () => {
    const one = await call(t, ADMIN_TOKEN, "POST", "/v1/decisions", input("x\ud800"));
    expect(one.status).toBe(400);
    expect(one.body.error.problems).toEqual([
      {
        code: "invalid_unicode",
        path: "principal.id",
        message: "principal.id is not valid Unicode (a lone surrogate)",
      },
    ]);
    const batch = await call(t, ADMIN_TOKEN, "POST", "/v1/decisions", [
      input("a"),
      input("b"),
      input("c"),
      input("d\udc00"),
    ]);
    expect(batch.status).toBe(400);
    expect(batch.body.error).toMatchObject({
      code: "invalid_unicode",
      problems: [{ code: "invalid_unicode", path: "[3].principal.id" }],
    });
  });

  it("takes a well-formed pair", async () => {
    const one = await call(t, ADMIN_TOKEN, "POST", "/v1/decisions", input("x😀"));
    expect(one.status).toBe(200);
    const batch = await call(t, ADMIN_TOKEN, "POST", "/v1/decisions", [input("a"), input("b😀")]);
    expect(batch.status).toBe(200);
    expect(batch.body.decisions).toHaveLength(2);
  });
});

describe("the gateway's request bodies", () => {
  it("are not concerned: a prompt holding a lone surrogate is decided and passed on", async () => {
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.keys.get("alice")}`,
        "content-type": "application/json",
        "x-test-country": "US",
      },
      body: '{"model":"mythos-5","messages":[{"role":"user","content":"half a pair: \\ud800"}]}',
    });
    await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("x-clearance-decision")).toBe("allow");
  });
});
