/**
 * Stored text in the CLI's listings. A key's label stored with control characters (SQLite took any
 * before the store refused them), a note, a list entry's name: `keys list` wrote them as they were,
 * so an escape sequence acted on the operator's terminal (clearing it, rewriting what was said) and
 * a line break added a row the table does not hold. They are now shown as escapes (`\n`,
 * `\u001b`); `--json` keeps the value, with what JSON leaves raw escaped too.
 */
import Database from "better-sqlite3";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../policy/types.js";
import { openStore } from "../store/index.js";
import { putPrincipalAsBefore } from "../testing/older-principals.js";
import { CONTROL_CHARACTERS, type Io } from "./io.js";
import { run } from "./program.js";

/** Clears the screen, then a line break and a row of its own, then a right-to-left override. */
const LABEL = "laptop\u001b[2J\u001b[H\nk_fake  zoe  trusted\u202eb";
const SHOWN = "laptop\\u001b[2J\\u001b[H\\nk_fake  zoe  trusted\\u202eb";

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

/** What a terminal acts on, line breaks (counted apart) aside. */
const ACTED_ON = new RegExp(`(?!\\n)[${CONTROL_CHARACTERS}]`);

/** Nothing a terminal acts on, and no line but the header's and the row's. */
const expectTwoPlainLines = (out: string) => {
  expect(out).not.toMatch(ACTED_ON);
  expect(out.trimEnd().split("\n")).toHaveLength(2);
};

describe("a key label stored with control characters (before the store refused them)", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-stored-text-"));
  const dataDir = ["--data-dir", join(dir, "data")];

  beforeAll(async () => {
    const store = await openStore({ dataDir: join(dir, "data") });
    await store.principals.put({ id: "zoe", citizenships: [{ country: "NZ" }] }, "test");
    await store.keys.create("zoe", "laptop", "test");
    await store.close();
    // What an older release let SQLite store: written past today's check.
    const db = new Database(join(dir, "data", "clearance.db"));
    db.prepare("UPDATE api_keys SET label = ?").run(LABEL);
    db.close();
  });

  it("clearance keys list shows it escaped, in its one row", async () => {
    const r = await cli(["keys", "list", ...dataDir]);
    expect(r.code).toBe(0);
    expectTwoPlainLines(r.out);
    expect(r.out).toContain(SHOWN);
  });

  it("clearance keys list --json keeps the label, escaped", async () => {
    const r = await cli(["keys", "list", "--json", ...dataDir]);
    expect(r.out).not.toMatch(ACTED_ON);
    expect((JSON.parse(r.out) as { label: string }[])[0]?.label).toBe(LABEL);
  });
});

describe("a server's stored label in clearance remote keys list", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          data: [
            {
              id: "k1",
              principalId: "zoe",
              label: LABEL,
              createdAt: "2026-01-01T00:00:00.000Z",
              revokedAt: null,
            },
          ],
          next_cursor: null,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("is shown escaped, in its one row, as the local listing shows it", async () => {
    const saved = process.env.CLEARANCE_TOKEN;
    process.env.CLEARANCE_TOKEN = "stored-text-test-token-0123456789";
    try {
      const r = await cli(["remote", "keys", "list", "--url", url]);
      expect(r).toMatchObject({ code: 0, err: "" });
      expectTwoPlainLines(r.out);
      expect(r.out).toContain(SHOWN);
    } finally {
      if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
      else process.env.CLEARANCE_TOKEN = saved;
    }
  });
});

describe("a stored backslash in a cell", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-stored-backslash-"));
  const dataDir = ["--data-dir", join(dir, "data")];
  /** Six characters, `\u001b`, then `[2J`: text, not an escape sequence. */
  const LITERAL = "laptop\\u001b[2J";

  beforeAll(async () => {
    const store = await openStore({ dataDir: join(dir, "data") });
    await store.principals.put({ id: "zoe", citizenships: [{ country: "NZ" }] }, "test");
    await store.keys.create("zoe", LITERAL, "test");
    await store.close();
  });

  it("is shown doubled, so a stored `\\u001b` does not read as the ESC a cell writes `\\u001b`", async () => {
    const r = await cli(["keys", "list", ...dataDir]);
    expect(r.code).toBe(0);
    expectTwoPlainLines(r.out);
    expect(r.out).toContain("laptop\\\\u001b[2J");
    // The key whose label holds a real ESC is shown otherwise.
    expect(r.out).not.toContain(SHOWN.slice(0, "laptop\\u001b[2J".length));
  });
});

describe("screening search and compare --jsonl: names from list files and input echoed in errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-stored-jsonl-"));
  const list = join(dir, "list.jsonl");
  /** A right-to-left override and an isolate left open: the import keeps them (C1 it makes spaces). */
  const NAME = "Ivan Petrov\u202eXX\u2066";

  beforeAll(() => {
    const entity = {
      id: "os-9",
      schema: "Person",
      properties: { name: [NAME] },
      datasets: ["test-sanctions"],
    };
    writeFileSync(list, `${JSON.stringify(entity)}\n`);
  });

  const jsonl = async (args: string[], stdin: string) => {
    let out = "";
    const io: Io = { stdout: (t) => void (out += t), stderr: () => undefined, stdin: () => stdin };
    const code = await run(args, io);
    return { code, out };
  };

  it("search writes the list's name escaped, the same JSON", async () => {
    const r = await jsonl(
      ["screening", "search", "--jsonl", "--lists", list],
      JSON.stringify({ name: "Ivan Petrov", schema: "Person" }),
    );
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(ACTED_ON);
    const line = JSON.parse(r.out) as { candidates: { name: string }[] };
    expect(line.candidates[0]?.name).toBe(NAME);
  });

  it("compare writes a bad line's error, which quotes it, escaped", async () => {
    // JSON.parse's message quotes the line: "Unexpected token '\u009b', "\u009b2J\u202e" is not valid JSON".
    const r = await jsonl(["screening", "compare", "--jsonl"], "\u009b2J\u202e");
    expect(r.code).toBe(2);
    expect(r.out).not.toMatch(ACTED_ON);
    expect(JSON.parse(r.out)).toMatchObject({ error: { code: "invalid_input", line: 1 } });
  });
});

describe("text from files and the store in the JSON and text check, scheme validate and keys print", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-stored-json-"));
  /** An override, an isolate left open and a line separator: ids refuse C0 and C1, not these. */
  const ORG = "bw\u202elatot\u2066\u2028x";
  const file = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
    return path;
  };
  const principal = file("principal.json", {
    id: `zoe${ORG}`,
    citizenships: [{ country: "DE" }],
    organization: { id: ORG, country: "DE" },
    assurance: "verified",
  });
  const check = [
    "check",
    "--scheme",
    "examples/g7-trusted-partners.yaml",
    "--principal",
    principal,
    "--request",
    "examples/requests/mythos-5-from-FR.json",
  ];

  it("check prints the decision's JSON escaped, the same JSON", async () => {
    // Before: JSON.stringify, the override and the separator raw on the terminal.
    const r = await cli(check);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(ACTED_ON);
    expect(r.out).toContain("\\u202e");
    expect(JSON.stringify(JSON.parse(r.out))).toContain(ORG);
  });

  it("check --explain shows them escaped, its lines kept", async () => {
    const r = await cli([...check, "--explain"]);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(ACTED_ON);
    expect(r.out).toContain("bw\\u202elatot\\u2066\\u2028x");
    expect(r.out.split("\n").length).toBeGreaterThan(3);
  });

  it("scheme validate --json escapes the file's name", async () => {
    const scheme = join(dir, "g7\u202elmay.yaml");
    writeFileSync(scheme, readFileSync("examples/g7-trusted-partners.yaml"));
    const r = await cli(["scheme", "validate", scheme, "--json"]);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(ACTED_ON);
    expect(JSON.parse(r.out)).toMatchObject({ file: scheme, valid: true });
  });

  it("principals add and keys create (text and --json) show the principal's id escaped", async () => {
    const dataDir = ["--data-dir", join(dir, "data")];
    // `principals add` refuses bidirectional controls now (exit 2): a store may still hold them,
    // written by an older release, so the principal is put there as one would have.
    const refused = await cli(["principals", "add", "--file", principal, ...dataDir]);
    expect(refused.code).toBe(2);
    expect(refused.err).not.toMatch(ACTED_ON);
    await (await openStore({ dataDir: join(dir, "data") })).close();
    putPrincipalAsBefore(join(dir, "data"), JSON.parse(readFileSync(principal, "utf8")) as Principal);
    // A line separator is still taken in an id, and shown escaped.
    const separated = file("separated.json", {
      id: "zoe\u2028x",
      citizenships: [{ country: "DE" }],
      organization: { id: "bw\u2028x", country: "DE" },
    });
    const added = await cli(["principals", "add", "--file", separated, ...dataDir]);
    expect(added.code).toBe(0);
    expect(added.out).not.toMatch(ACTED_ON);
    const json = await cli(["keys", "create", "--principal", `zoe${ORG}`, "--json", ...dataDir]);
    expect(json.code).toBe(0);
    expect(json.out).not.toMatch(ACTED_ON);
    expect((JSON.parse(json.out) as { principal: string }).principal).toBe(`zoe${ORG}`);
    const text = await cli(["keys", "create", "--principal", `zoe${ORG}`, ...dataDir]);
    expect(text.code).toBe(0);
    expect(text.err).not.toMatch(ACTED_ON);
  });

  it("sets --json is JSON printed the same way", async () => {
    const r = await cli(["sets", "--json"]);
    expect(r.out).not.toMatch(ACTED_ON);
    expect(Array.isArray(JSON.parse(r.out))).toBe(true);
  });
});
