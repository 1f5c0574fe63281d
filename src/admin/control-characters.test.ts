/**
 * A control character other than TAB, LF and CR (C0, DEL, C1) in an admin API body is refused with
 * 400 `control_character` naming the JSON path and the character, before anything is stored or
 * recorded: names, reasons and notes are shown in terminals, logs and reports (an escape sequence
 * clears a screen or forges a line), and a NUL is text PostgreSQL cannot hold. Before: only a
 * screening list's name, a key's label, an alert's note and some ids refused them, each its own way;
 * a partner's reason, a principal's name or a scheme's YAML took them and recorded them.
 */
import { readFileSync } from "node:fs";
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

const WHY = ": text may hold no control characters but tab, line feed and carriage return";

describe("control characters in admin API bodies", () => {
  it("are refused with 400 control_character naming the path and the character, and nothing is recorded", async () => {
    const before = await auditSize();
    const cases: [unknown, string, string][] = [
      [partner("ctl-lab", "vetted \u0007"), "reason", "U+0007 (bell)"],
      [partner("ctl-lab", "vetted\u001b[2J"), "reason", "U+001B (escape)"],
      [partner("ctl-lab", "ok \u009b31m"), "reason", "U+009B (control sequence introducer)"],
      [partner("ctl-lab", "ok\u007f"), "reason", "U+007F (delete)"],
      [partner("ctl-lab", "ok\u0085"), "reason", "U+0085 (next line)"],
      [partner("ctl-lab", "ok\u0090"), "reason", "U+0090 (a C1 control)"],
      [partner("ctl-\u0000lab", "vetted"), "partner.id", "U+0000 (null)"],
      [partner("ctl-lab", "vetted", { name: "Acme\u000bLtd" }), "partner.name", "U+000B (line tabulation)"],
    ];
    for (const [body, path, char] of cases) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners", body);
      expect(r.status, char).toBe(400);
      expect(r.body.error.code).toBe("control_character");
      expect(r.body.error.message).toBe(`${path} holds ${char}${WHY}; remove it`);
      expect(r.body.error.problems).toEqual([
        { code: "control_character", path, message: `${path} holds ${char}${WHY}` },
      ]);
    }
    // Escaped as JSON allows: `\b`, `\f`, `\u` in either case; a key's label.
    for (const [label, char] of [
      ['"l\\b"', "U+0008 (backspace)"],
      ['"l\\f"', "U+000C (form feed)"],
      ['"l\\u001B[31m"', "U+001B (escape)"],
      ['"l\\u009b"', "U+009B (control sequence introducer)"],
      ['"l\\u007F"', "U+007F (delete)"],
    ]) {
      const r = await post("/admin/v1/keys", `{"principal":"alice","label":${label}}`);
      expect(r.status, label).toBe(400);
      expect(r.body.error.problems, label).toEqual([
        { code: "control_character", path: "label", message: `label holds ${char}${WHY}` },
      ]);
    }
    // A member name holding one: named with U+FFFD, so that the answer does not carry it either.
    const named = await post(
      "/admin/v1/partners",
      '{"kind":"organization","partner":{"id":"ctl-lab","x\\u001b":1},"reason":"vetted"}',
    );
    expect(named.status).toBe(400);
    expect(named.body.error.problems).toEqual([
      {
        code: "control_character",
        path: "partner.x\ufffd",
        message: `the member name "x\ufffd" in partner holds U+001B (escape)${WHY}`,
      },
    ]);
    expect((await call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners/ctl-lab")).status).toBe(404);
    expect(await call(t, ADMIN_TOKEN, "GET", "/admin/v1/keys?principal=alice")).toMatchObject({
      status: 200,
    });
    expect(await auditSize()).toBe(before);
  });

  it("in a scheme's YAML, are told at the line and column of its text, raw or written as a YAML escape", async () => {
    const scheme = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    // Raw in the JSON string: refused where the body is read, placed in the text.
    const raw = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", {
      yaml: "version: 1\nname: x\n# note \u0007\n",
    });
    expect(raw.status).toBe(400);
    expect(raw.body.error.problems).toEqual([
      {
        code: "control_character",
        path: "yaml",
        message: `yaml holds U+0007 (bell) at line 3, column 8 of its text${WHY}`,
      },
    ]);
    // Written as a double-quoted YAML escape (`\e`), which JSON carries as two characters: refused
    // where the YAML is read, at its line, as a scheme file would be.
    const lines = scheme.split("\n");
    const at = lines.findIndex((l) => /^\s+name: /.test(l));
    expect(at).toBeGreaterThan(0);
    lines[at] = (lines[at] as string).replace(/name: .*/, 'name: "Acme \\e[2J Ltd"');
    const escaped = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml: lines.join("\n") });
    expect(escaped.status).toBe(400);
    expect(escaped.body.error.problems).toEqual([
      expect.objectContaining({
        code: "control_character",
        line: at + 1,
        message: expect.stringContaining("holds U+001B (escape)") as unknown,
      }),
    ]);
    // Tabs, CRLF line ends and lines are text: the scheme with Windows line ends and a tab in a
    // comment is taken.
    const windows = scheme.replace("\n", "\n#\tuploaded from Windows\n").replace(/\n/g, "\r\n");
    const stored = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml: windows });
    expect(stored.status, JSON.stringify(stored.body)).toBe(201);
    expect(stored.body.version).toBeTypeOf("number");
  });

  it("take tabs, line feeds and carriage returns, recorded as sent", async () => {
    const reason = "vetted:\r\n\t- export licence checked\n\t- site visit";
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners", partner("ctl-ok", reason));
    expect(r.status).toBe(201);
    const entries = (await auditEntries(t)).filter((e) => e.object?.id === "ctl-ok");
    expect(entries.map((e) => e.details?.reason)).toEqual([reason]);
  });
});

describe("control characters in a screening search", () => {
  // A search is a query, exempt as it is for bidirectional controls: the name's own check answers.
  it("are answered by the name's own check, naming the field", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/screening/search", { name: "Ivan\u0007Petrov" });
    expect(r.status).toBe(400);
    expect(r.body.error.problems).toEqual([expect.objectContaining({ code: "invalid_name", path: "name" })]);
  });

  it("a nationality or country refused is quoted with its controls escaped: the answer carries none raw", async () => {
    for (const [body, path] of [
      [{ name: "Ivan Petrov", nationality: "\u009b2J\u007f" }, "nationality"],
      [{ name: "Ivan Petrov", nationality: ["FR"], country: "\u009b2J\u007f" }, "country"],
    ] as const) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/screening/search", body);
      expect(r.status).toBe(400);
      // Was: JSON.stringify's quoting, which leaves DEL and C1 (a terminal's CSI) raw.
      expect(r.body.error.problems).toEqual([
        {
          code: "invalid_nationality",
          // Was nationality[1] for the country: the field as sent is named.
          path,
          message: 'expected an ISO 3166-1 alpha-2 code or an English country name, found "\\u009b2J\\u007f"',
        },
      ]);
    }
    const bidi = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/screening/search", {
      name: "Ivan Petrov",
      nationality: ["FR", "\u202eUR"],
    });
    expect(bidi.body.error.problems[0]).toMatchObject({
      path: "nationality[1]",
      message: 'expected an ISO 3166-1 alpha-2 code or an English country name, found "\\u202eUR"',
    });
  });
});

describe("control characters in a path parameter", () => {
  const ADVICE: Record<string, string> = {
    control_character: ": an id may hold no control characters; remove it",
    bidi_control: ", an invisible control that makes text read otherwise than it is; remove it",
  };
  // Decoded, an id is stored and recorded as a body's text is: before, a block was stored (and
  // recorded in the audit log) under an id holding ESC and BEL.
  it("are refused with 400 naming the parameter, before anything is stored or recorded", async () => {
    const before = await auditSize();
    const cases: [string, string, string, string][] = [
      [
        "POST",
        "/admin/v1/federated-principals/fed:x:%1B%5B2J%07/block",
        "control_character",
        "U+001B (escape)",
      ],
      [
        "POST",
        "/admin/v1/federated-principals/fed:x:ok%C2%9B/unblock",
        "control_character",
        "U+009B (control sequence introducer)",
      ],
      ["POST", "/admin/v1/federated-principals/fed:x:a%0Ab/block", "control_character", "U+000A (line feed)"],
      [
        "POST",
        "/admin/v1/federated-principals/fed:x:%E2%80%AEevil/block",
        "bidi_control",
        "U+202E (right-to-left override)",
      ],
      ["GET", "/admin/v1/partners/ctl%09lab", "control_character", "U+0009 (tab)"],
    ];
    for (const [method, path, code, char] of cases) {
      const r = await call(
        t,
        ADMIN_TOKEN,
        method,
        path,
        method === "POST" ? { reason: "shared a token" } : undefined,
      );
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe(code);
      expect(r.body.error.message, path).toBe(`the path parameter id holds ${char}${ADVICE[code]}`);
      expect(r.body.error.problems, path).toEqual([
        { code, path: "id", message: `the path parameter id holds ${char}` },
      ]);
    }
    const blocks = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/federated-principals");
    expect(JSON.stringify(blocks.body)).not.toContain("fed:x:");
    expect(await auditSize()).toBe(before);
  });

  it("leave an id that holds none as it was (percent-decoded)", async () => {
    const r = await call(
      t,
      ADMIN_TOKEN,
      "POST",
      "/admin/v1/federated-principals/fed:uk-gov:j%C3%A9r%C3%B4me/block",
      {
        reason: "left the agency",
      },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ id: "fed:uk-gov:jérôme", blocked: true });
  });
});
