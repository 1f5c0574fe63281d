import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { DATABASE_URL, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import type { Io } from "./io.js";
import { run } from "./program.js";

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

describe("clearance principals and keys", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-store-cli-"));
  const dataDir = ["--data-dir", join(dir, "data")];
  // The store is the gateway's: its first start (serve, demo) creates it.
  beforeAll(async () => (await openStore({ dataDir: join(dir, "data") })).close());

  it("adds, lists and removes principals; keys are shown once, listed without secrets, revoked", async () => {
    const file = join(dir, "p.json");
    writeFileSync(
      file,
      JSON.stringify({ id: "zoe", citizenships: [{ country: "NZ" }], assurance: "attested" }),
    );
    expect(await cli(["principals", "add", "--file", file, ...dataDir])).toMatchObject({
      code: 0,
      out: "saved principal zoe (new)\n",
    });
    expect((await cli(["principals", "add", "--file", file, ...dataDir])).out).toBe(
      "saved principal zoe (replaced)\n",
    );
    const list = await cli(["principals", "list", ...dataDir]);
    expect(list.out).toMatch(
      /^ID +CITIZENSHIPS +ORGANIZATION +ASSURANCE +SCREENING\nzoe +NZ +- +attested +clear\n$/,
    );

    const created = await cli(["keys", "create", "--principal", "zoe", "--label", "laptop", ...dataDir]);
    expect(created.code).toBe(0);
    const key = created.out.trim();
    expect(key).toMatch(/^clr_[a-z0-9]{12}_[A-Za-z0-9_-]+$/);
    expect(created.err).toContain("shown once");
    const id = key.split("_")[1]!;
    const keys = JSON.parse((await cli(["keys", "list", "--json", ...dataDir])).out) as Record<
      string,
      unknown
    >[];
    expect(keys).toEqual([
      expect.objectContaining({ id, principalId: "zoe", label: "laptop", revokedAt: null }),
    ]);
    // The secret is all after the id: base64url, so it may hold "_" itself (and start with one).
    const secret = key.split("_").slice(2).join("_");
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(keys)).not.toContain(secret);
    expect(JSON.stringify(keys)).not.toContain("hash");

    expect(await cli(["keys", "revoke", id, ...dataDir])).toMatchObject({
      code: 0,
      out: `revoked key ${id}; a running gateway refuses it within its refresh interval\n`,
    });
    // Again: nothing changed, and it says so (exit 0: the key is revoked, as asked).
    expect(await cli(["keys", "revoke", id, ...dataDir])).toMatchObject({
      code: 0,
      out: `key ${id} was already revoked\n`,
    });
    expect((await cli(["keys", "list", ...dataDir])).out).not.toContain("active");
    expect(await cli(["principals", "remove", "zoe", ...dataDir])).toMatchObject({ code: 0 });
    expect((await cli(["principals", "list", "--json", ...dataDir])).out.trim()).toBe("[]");
  });

  it("bad input is exit 2 with the reason", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ id: "x", assurance: "high" }));
    const r = await cli(["principals", "add", "--file", bad, ...dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("assurance");
  });

  // Before: the admin API refused a bidirectional control in anything it stores, but the CLI's own
  // store writes took it: a principal's name, a key's label, a review's reason, a list's name.
  it("refuses a bidirectional control in what it writes to the store: exit 2 naming the field, nothing written", async () => {
    const file = join(dir, "bidi.json");
    writeFileSync(
      file,
      JSON.stringify({
        id: "evil",
        citizenships: [{ country: "FR" }],
        organization: { id: "inria", country: "FR", name: "Acme \u202esbal detsurt" },
        assurance: "attested",
      }),
    );
    const added = await cli(["principals", "add", "--file", file, ...dataDir]);
    expect(added).toEqual({
      code: 2,
      out: "",
      err: `${file}: organization.name: holds U+202E (right-to-left override), an invisible control that makes text read otherwise than it is stored; remove it (right-to-left letters need none)\n`,
    });
    expect((await cli(["principals", "list", "--json", ...dataDir])).out).not.toContain("evil");

    writeFileSync(file, JSON.stringify({ id: "ann", citizenships: [{ country: "FR" }] }));
    expect((await cli(["principals", "add", "--file", file, ...dataDir])).code).toBe(0);
    const key = await cli(["keys", "create", "--principal", "ann", "--label", "lap\u2066top", ...dataDir]);
    expect(key).toMatchObject({ code: 2, out: "" });
    expect(key.err).toMatch(/^--label: holds U\+2066 \(left-to-right isolate\), an invisible control/);
    expect((await cli(["keys", "list", "--principal", "ann", "--json", ...dataDir])).out.trim()).toBe("[]");
    // Right-to-left letters and the directional marks are text.
    expect(
      (await cli(["keys", "create", "--principal", "ann", "--label", "\u200fמחשב", ...dataDir])).code,
    ).toBe(0);

    for (const args of [
      ["screening", "review", "confirm", "m1", "--reason", "same \u202bperson"],
      ["screening", "review", "clear", "m1", "--reason", "ok", "--reviewer", "ann\u202d"],
      ["screening", "import", file, "--list", "ofac\u2067"],
    ]) {
      const r = await cli([...args, ...dataDir]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^--(reason|reviewer|list): holds U\+20/);
    }
    await cli(["principals", "remove", "ann", ...dataDir]);
  });

  // Before: the CLI's store writes took a control character the admin API now refuses: a name's
  // escape sequence, a review's bell; a label's NUL was the store's own nul_character.
  it("refuses a control character in what it writes to the store, as the admin API does: exit 2 naming the field", async () => {
    const file = join(dir, "control.json");
    writeFileSync(
      file,
      JSON.stringify({
        id: "evil",
        citizenships: [{ country: "FR" }],
        organization: { id: "inria", country: "FR", name: "Acme\u001b[2J Ltd" },
        assurance: "attested",
      }),
    );
    expect(await cli(["principals", "add", "--file", file, ...dataDir])).toEqual({
      code: 2,
      out: "",
      err: `${file}: organization.name: holds U+001B (escape): text may hold no control characters but tab, line feed and carriage return; remove it\n`,
    });
    expect((await cli(["principals", "list", "--json", ...dataDir])).out).not.toContain("evil");

    writeFileSync(file, JSON.stringify({ id: "cal", citizenships: [{ country: "FR" }] }));
    expect((await cli(["principals", "add", "--file", file, ...dataDir])).code).toBe(0);
    const key = await cli(["keys", "create", "--principal", "cal", "--label", "lap\u0000top", ...dataDir]);
    expect(key).toMatchObject({ code: 2, out: "" });
    expect(key.err).toMatch(/^--label: holds U\+0000 \(null\): text may hold no control characters/);
    expect((await cli(["keys", "list", "--principal", "cal", "--json", ...dataDir])).out.trim()).toBe("[]");

    for (const [args, flag] of [
      [["screening", "review", "confirm", "m1", "--reason", "same \u0007person"], "--reason"],
      [["screening", "review", "clear", "m1", "--reason", "ok", "--reviewer", "cal\u009b"], "--reviewer"],
      [["screening", "import", file, "--list", "ofac\u007f"], "--list"],
    ] as const) {
      const r = await cli([...args, ...dataDir]);
      expect(r.code, flag).toBe(2);
      expect(r.err).toMatch(new RegExp(`^${flag}: holds U\\+00[0-9A-F]{2} \\(`));
    }
    // A reason's lines and tabs are text.
    const lines = await cli([
      "screening",
      "review",
      "confirm",
      "m1",
      "--reason",
      "same person:\n\tDOB matches",
      ...dataDir,
    ]);
    expect(lines.err).not.toContain("control characters");
    await cli(["principals", "remove", "cal", ...dataDir]);
  });

  it("a principal or key that does not exist is a refusal: exit 1 with the server's code", async () => {
    expect(await cli(["keys", "create", "--principal", "nobody", ...dataDir])).toMatchObject({
      code: 1,
      err: 'clearance: no principal with id "nobody" (unknown-principal)\n',
    });
    expect(await cli(["keys", "revoke", "nokey", ...dataDir])).toMatchObject({
      code: 1,
      err: "clearance: no key nokey (not_found)\n",
    });
    expect(await cli(["principals", "remove", "nobody", ...dataDir])).toMatchObject({
      code: 1,
      err: "clearance: no principal nobody (not_found)\n",
    });
  });
});

describe("a command on a deployment opens its store only if it exists", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-no-store-"));
  const principal = join(dir, "p.json");
  writeFileSync(principal, JSON.stringify({ id: "zoe", citizenships: [{ country: "NZ" }] }));
  const candidate = resolve("examples/g7-trusted-partners.yaml");
  const list = resolve("src/screening/fixtures/ofac/sdn.csv");
  const commands = [
    ["principals", "list"],
    ["principals", "add", "--file", principal],
    ["principals", "remove", "zoe"],
    ["keys", "create", "--principal", "zoe"],
    ["keys", "list"],
    ["keys", "revoke", "abc"],
    ["screening", "lists"],
    ["screening", "import", list],
    ["screening", "review", "list"],
    ["report", "footprint"],
    ["scheme", "what-if", candidate],
  ];

  it("a mistyped --data-dir: exit 2 naming the flag, and nothing created", async () => {
    for (const command of commands) {
      const typo = join(dir, "typo-dir");
      const r = await cli([...command, "--data-dir", typo]);
      expect(r, command.join(" ")).toMatchObject({
        code: 2,
        out: "",
        err: `--data-dir: no store at ${typo}: run \`clearance serve\` or \`clearance demo\` with this data directory first, or give the right one\n`,
      });
      expect(existsSync(typo), command.join(" ")).toBe(false);
    }
  });

  it("a data directory without a store (say, the wrong one) gets no clearance.db", async () => {
    for (const command of commands) {
      expect((await cli([...command, "--data-dir", dir])).code, command.join(" ")).toBe(2);
      expect(existsSync(join(dir, "clearance.db")), command.join(" ")).toBe(false);
    }
  });

  it("an empty clearance.db is no store either: refused, and left empty", async () => {
    const empty = mkdtempSync(join(tmpdir(), "clearance-empty-db-"));
    writeFileSync(join(empty, "clearance.db"), "");
    for (const command of commands) {
      const r = await cli([...command, "--data-dir", empty]);
      expect(r, command.join(" ")).toMatchObject({
        code: 2,
        out: "",
        err: `--data-dir: no store at ${empty}: run \`clearance serve\` or \`clearance demo\` with this data directory first, or give the right one\n`,
      });
      expect(readdirSync(empty), command.join(" ")).toEqual(["clearance.db"]);
      expect(statSync(join(empty, "clearance.db")).size, command.join(" ")).toBe(0);
    }
  });

  it("the default data directory and clearance.yaml's data_dir are named as such", async () => {
    const cwd = process.cwd();
    const here = mkdtempSync(join(tmpdir(), "clearance-no-store-cwd-"));
    process.chdir(here);
    try {
      expect(await cli(["principals", "list"])).toMatchObject({
        code: 2,
        err: "--data-dir: no store at .clearance (the default): run `clearance serve` or `clearance demo` here first, or give --data-dir\n",
      });
      expect(existsSync(".clearance")).toBe(false);
      writeFileSync(
        "clearance.yaml",
        `scheme: ${JSON.stringify(candidate)}\ndata_dir: typo\n` +
          `providers: { demo: { type: demo } }\ndefault_provider: demo\n`,
      );
      expect(await cli(["keys", "list", "--config", "clearance.yaml"])).toMatchObject({
        code: 2,
        err: "clearance.yaml: data_dir: no store at typo: run `clearance serve` or `clearance demo` with this config first, or correct data_dir\n",
      });
      expect(existsSync("typo")).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe.skipIf(skipReason !== undefined)("clearance principals and keys --config (PostgreSQL)", () => {
  afterAll(dropSchemas);

  it("work on the store clearance.yaml names, where every node sees them", async () => {
    const { url } = await freshSchema();
    const dir = mkdtempSync(join(tmpdir(), "clearance-store-cli-pg-"));
    process.env.CLEARANCE_CLI_TEST_DATABASE = url;
    const config = join(dir, "clearance.yaml");
    writeFileSync(
      config,
      `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\n` +
        `store: { driver: postgres, url_env: CLEARANCE_CLI_TEST_DATABASE }\n` +
        `providers: { demo: { type: demo } }\ndefault_provider: demo\n`,
    );
    const file = join(dir, "p.json");
    writeFileSync(file, JSON.stringify({ id: "zoe", citizenships: [{ country: "NZ" }] }));
    expect((await cli(["principals", "add", "--file", file, "--config", config])).code).toBe(0);
    const created = await cli(["keys", "create", "--principal", "zoe", "--config", config]);
    expect(created.code).toBe(0);
    const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
    try {
      expect((await store.keys.list("zoe")).map((k) => k.id)).toEqual([created.out.trim().split("_")[1]]);
    } finally {
      await store.close();
    }
    delete process.env.CLEARANCE_CLI_TEST_DATABASE;
  });
});

describe("a PostgreSQL store that cannot be connected to", () => {
  /** A config naming `url` (through an environment variable) as its store. */
  function configFor(url: string): string {
    const dir = mkdtempSync(join(tmpdir(), "clearance-store-cli-unreachable-"));
    process.env.CLEARANCE_CLI_TEST_UNREACHABLE = url;
    const config = join(dir, "clearance.yaml");
    writeFileSync(
      config,
      `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\n` +
        `store: { driver: postgres, url_env: CLEARANCE_CLI_TEST_UNREACHABLE }\n` +
        `providers: { demo: { type: demo } }\ndefault_provider: demo\n`,
    );
    return config;
  }
  afterAll(() => void delete process.env.CLEARANCE_CLI_TEST_UNREACHABLE);

  it("no server at the address: said with where (never the password), exit 2, not a stack trace", async () => {
    // A port just given up by a listener of ours: nothing listens there.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    await new Promise((r) => server.close(r));
    const config = configFor(`postgres://clearance:s3cret-pw@127.0.0.1:${port}/prod`);
    const r = await cli(["keys", "list", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot connect to the PostgreSQL store (clearance@127.0.0.1:${port}/prod)`);
    expect(r.err).toContain("ECONNREFUSED");
    expect(r.err).not.toMatch(/s3cret-pw|unexpected error|\n\s+at /);
  });

  it.skipIf(skipReason !== undefined)("a database the server does not have: said, exit 2", async () => {
    const url = new URL(DATABASE_URL);
    url.pathname = "/clearance_no_such_database";
    const r = await cli(["principals", "list", "--config", configFor(url.toString())]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /cannot connect to the PostgreSQL store \(.*\/clearance_no_such_database\): .*does not exist/,
    );
    expect(r.err).not.toMatch(/unexpected error|\n\s+at /);
  });
});

describe("a data directory whose clearance.db is not a store", () => {
  it("is said with the file, exit 2, not a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-not-a-store-"));
    writeFileSync(
      join(dir, "clearance.db"),
      "not a database, a note saved under the wrong name\n".repeat(200),
    );
    for (const command of [
      ["principals", "list"],
      ["keys", "list"],
      ["screening", "lists"],
    ]) {
      const r = await cli([...command, "--data-dir", dir]);
      expect(r, command.join(" ")).toEqual({
        code: 2,
        out: "",
        err: `clearance: ${join(dir, "clearance.db")} is not a usable store (file is not a database): restore it from a backup, or give the right data directory\n`,
      });
    }
  });
});
