import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleAudit } from "../../audit/http.js";
import { AuditLog } from "../../audit/log.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../../audit/merkle.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "../../audit/note.js";
import { directorySource, MAX_RESOURCE_BYTES } from "../../audit/source.js";
import { fetchCheckpoint } from "../../audit/verify.js";
import { withErrors } from "../../http/index.js";
import { CONTROL_CHARACTERS, type Io } from "../io.js";
import { run } from "../program.js";

const ORIGIN = "cli.example/audit";
const tmp = mkdtempSync(join(tmpdir(), "clearance-audit-cli-"));
const keyFile = join(tmp, "log.key");
const vkeyFile = join(tmp, "log.vkey");
/** Entries as the gateway writes them: RFC 8785 canonical JSON (members in code-unit order). */
const entry = (i: number, tag = "decision") => Buffer.from(JSON.stringify({ i, type: tag, v: 1 }));

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

function options(dataDir: string) {
  const privateKey = readFileSync(keyFile, "utf8").trim();
  const verifier = parseVerifierKey(readFileSync(vkeyFile, "utf8").trim());
  const onError = (err: unknown) => {
    throw err;
  };
  const dir = join(dataDir, "audit");
  const walPath = join(dataDir, "audit.wal");
  return {
    dir,
    walPath,
    origin: ORIGIN,
    signer: parseSignerKey(privateKey),
    verifier,
    checkpointMs: 60_000,
    onError,
  };
}

/**
 * Appends entries [from, to) to the log in dataDir (a new one by default) and closes it; `origin`:
 * another origin line, signed with the same key.
 */
async function buildLog(
  to: number,
  from = 0,
  tag = "decision",
  dataDir = mkdtempSync(join(tmp, "log-")),
  origin = ORIGIN,
) {
  const log = await AuditLog.open({ ...options(dataDir), origin });
  await Promise.all(Array.from({ length: to - from }, (_, i) => log.append(entry(from + i, tag))));
  await log.close();
  return { dataDir, dir: join(dataDir, "audit") };
}

describe("clearance audit keygen", () => {
  it("writes the private key 0600 and the verifier key beside it, and prints the verifier key", async () => {
    const r = await cli(["audit", "keygen", "--name", ORIGIN, "--out", keyFile]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^cli\.example\/audit\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*\n$/);
    expect(readFileSync(vkeyFile, "utf8")).toBe(r.out);
    expect(readFileSync(keyFile, "utf8")).toMatch(/^PRIVATE\+KEY\+cli\.example\/audit\+/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  it("refuses to overwrite a key, and rejects an invalid name (exit 2)", async () => {
    const before = readFileSync(keyFile, "utf8");
    const again = await cli(["audit", "keygen", "--name", ORIGIN, "--out", keyFile]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already exists: refusing to overwrite/);
    expect(readFileSync(keyFile, "utf8")).toBe(before);
    const bad = await cli(["audit", "keygen", "--name", "has space", "--out", join(tmp, "x.key")]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--name: invalid key name/);
  });

  it("refuses to overwrite a verifier key, and leaves no private key without its verifier key", async () => {
    const dir = mkdtempSync(join(tmp, "keygen-"));
    // Another key's verifier key (its private key kept elsewhere): not replaced by a new key's.
    const other = join(dir, "old.vkey");
    writeFileSync(other, "other.example/audit+01234567+AQ==\n");
    const r = await cli(["audit", "keygen", "--name", ORIGIN, "--out", join(dir, "old.key")]);
    expect(r).toEqual({
      code: 2,
      out: "",
      err: `${other}: already exists: refusing to overwrite a verifier key (another key's?)\n`,
    });
    expect(readFileSync(other, "utf8")).toBe("other.example/audit+01234567+AQ==\n");
    expect(readdirSync(dir)).toEqual(["old.vkey"]);
    // The verifier key cannot be written: no private key is left behind, and a re-run can succeed.
    mkdirSync(join(dir, "new.vkey"));
    const failed = await cli(["audit", "keygen", "--name", ORIGIN, "--out", join(dir, "new.key")]);
    expect(failed.code).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(["new.vkey", "old.vkey"]);
    rmSync(join(dir, "new.vkey"), { recursive: true });
    const again = await cli(["audit", "keygen", "--name", ORIGIN, "--out", join(dir, "new.key")]);
    expect(again.code).toBe(0);
    expect(readFileSync(join(dir, "new.vkey"), "utf8")).toBe(again.out);
  });
});

describe("clearance audit verify", () => {
  const state = join(tmp, "state.json");
  let grown: { dataDir: string; dir: string };

  it("verifies a directory, saves the state, then checks the grown log against it", async () => {
    grown = await buildLog(1000);
    const first = await cli(["audit", "verify", grown.dir, "--key", `@${vkeyFile}`, "--state", state]);
    expect(first).toMatchObject({ code: 0, err: "" });
    const cp = await fetchCheckpoint(directorySource(grown.dir), readFileSync(vkeyFile, "utf8"));
    const root = cp.root.toString("base64");
    expect(first.out).toBe(
      `verified ${ORIGIN}: 1000 entries, root ${root} (first verification of this log: no earlier state)\n`,
    );
    const keyId = readFileSync(vkeyFile, "utf8").split("+")[1];
    expect(JSON.parse(readFileSync(state, "utf8"))).toEqual({
      v: 2,
      keys: { [`${ORIGIN}+${keyId}`]: { origin: ORIGIN, size: "1000", root } },
      origins: {},
    });

    await buildLog(1500, 1000, "decision", grown.dataDir);
    const second = await cli(["audit", "verify", grown.dir, "--key", `@${vkeyFile}`, "--state", state]);
    expect(second.code).toBe(0);
    expect(second.out).toMatch(
      /^verified cli\.example\/audit: 1500 entries, root \S+, consistent with the 1000 verified before\n$/,
    );
    expect(Object.values(JSON.parse(readFileSync(state, "utf8")).keys)).toEqual([
      { origin: ORIGIN, size: "1500", root: expect.any(String) },
    ]);
  });

  it("--json prints one object", async () => {
    const key = readFileSync(vkeyFile, "utf8").trim();
    const r = await cli(["audit", "verify", grown.dir, "--key", key, "--state", state, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      ok: true,
      origin: ORIGIN,
      size: "1500",
      root: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
      previous: { size: "1500" },
      state,
    });
  });

  it("fails (exit 1) on a rewritten history signed with the same key, and keeps the state", async () => {
    const forked = await buildLog(2000, 0, "rewritten");
    const before = readFileSync(state, "utf8");
    const r = await cli(["audit", "verify", forked.dir, "--key", `@${vkeyFile}`, "--state", state]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^clearance: audit verify failed \(inconsistent-history\): inconsistent history: at size 1500/,
    );
    expect(readFileSync(state, "utf8")).toBe(before);
    const json = await cli([
      "audit",
      "verify",
      forked.dir,
      "--key",
      `@${vkeyFile}`,
      "--state",
      state,
      "--json",
    ]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, error: { code: "inconsistent-history" } });
  });

  it("refuses (exit 1) a history re-signed under another origin with the same key, and keeps the state", async () => {
    const renamed = await buildLog(2000, 0, "rewritten", undefined, `${ORIGIN}/v2`);
    const before = readFileSync(state, "utf8");
    const verify = (...more: string[]) =>
      cli(["audit", "verify", renamed.dir, "--key", `@${vkeyFile}`, "--state", state, ...more]);
    // Without --origin: the origin this key's log was verified under (the key's name).
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^clearance: audit verify failed \(origin-mismatch\): checkpoint origin "cli\.example\/audit\/v2" is not the expected "cli\.example\/audit" \(the origin this key's log was verified under before/,
    );
    // Asked for by name, it is still not the log this key's state is for.
    const named = await verify("--origin", `${ORIGIN}/v2`);
    expect(named.code).toBe(1);
    expect(named.err).toMatch(
      /\(origin-mismatch\): the checkpoint's origin is "cli\.example\/audit\/v2", but this key's log was verified as "cli\.example\/audit" before/,
    );
    const entry = await verify("--origin", `${ORIGIN}/v2`, "--entry", "5");
    expect([entry.code, entry.err]).toEqual([1, expect.stringMatching(/\(origin-mismatch\)/)]);
    expect(readFileSync(state, "utf8")).toBe(before);
    // With no state at all, the key's name is expected.
    const fresh = await cli([
      "audit",
      "verify",
      renamed.dir,
      "--key",
      `@${vkeyFile}`,
      "--state",
      join(tmp, "s4.json"),
    ]);
    expect(fresh.err).toMatch(
      /\(origin-mismatch\): .* is not the expected "cli\.example\/audit" \(the verifier key's name\)/,
    );
    const freshEntry = await cli(["audit", "verify", renamed.dir, "--key", `@${vkeyFile}`, "--entry", "5"]);
    expect(freshEntry.err).toMatch(/\(origin-mismatch\)/);
    // Named explicitly and never verified before under this key: accepted.
    const other = await cli([
      "audit",
      "verify",
      renamed.dir,
      "--key",
      `@${vkeyFile}`,
      "--state",
      join(tmp, "s5.json"),
      "--origin",
      `${ORIGIN}/v2`,
    ]);
    expect(other).toMatchObject({ code: 0, err: "" });
  });

  it("reads a state file written before it was keyed by the verifier key: still no rollback, no new origin", async () => {
    const old = join(tmp, "old-state.json");
    const cp = await fetchCheckpoint(directorySource(grown.dir), readFileSync(vkeyFile, "utf8"));
    const legacy = { [ORIGIN]: { size: cp.size.toString(), root: cp.root.toString("base64") } };
    writeFileSync(old, JSON.stringify(legacy));
    const verify = (dir: string, ...more: string[]) =>
      cli(["audit", "verify", dir, "--key", `@${vkeyFile}`, "--state", old, ...more]);
    const forked = await buildLog(2000, 0, "rewritten");
    expect((await verify(forked.dir)).err).toMatch(
      /\(inconsistent-history\): inconsistent history: at size 1500/,
    );
    const renamed = await buildLog(2000, 0, "rewritten", undefined, `${ORIGIN}/v2`);
    expect((await verify(renamed.dir)).err).toMatch(/\(origin-mismatch\)/);
    expect((await verify(renamed.dir, "--origin", `${ORIGIN}/v2`)).err).toMatch(
      /\(origin-mismatch\): the checkpoint's origin is "cli\.example\/audit\/v2", but this key's log was verified as "cli\.example\/audit" before/,
    );
    expect(JSON.parse(readFileSync(old, "utf8"))).toEqual(legacy);
    // The honest log: checked against the old state, which the key's entry then takes over.
    const ok = await verify(grown.dir);
    expect([ok.code, ok.out]).toEqual([0, expect.stringMatching(/consistent with the 1500 verified before/)]);
    const migrated = JSON.parse(readFileSync(old, "utf8"));
    expect(migrated).toMatchObject({ v: 2, origins: {} });
    expect(Object.values(migrated.keys)).toEqual([{ origin: ORIGIN, ...legacy[ORIGIN] }]);
    expect((await verify(forked.dir)).err).toMatch(/\(inconsistent-history\)/);
  });

  it("names the altered tile (exit 1)", async () => {
    const dir = join(mkdtempSync(join(tmp, "tampered-")), "audit");
    cpSync(grown.dir, dir, { recursive: true });
    const bundle = join(dir, "tile/entries/000");
    const data = readFileSync(bundle);
    data[40] = (data[40] as number) ^ 1; // inside entry 1
    writeFileSync(bundle, data);
    const r = await cli(["audit", "verify", dir, "--key", `@${vkeyFile}`, "--state", join(tmp, "s2.json")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\(entry-mismatch\): tile\/entries\/000: entry 1 /);
    const one = await cli(["audit", "verify", dir, "--key", `@${vkeyFile}`, "--entry", "1"]);
    expect(one.code).toBe(1);
    expect(one.err).toMatch(/\(inclusion-failed\): entry 1 \(tile\/entries\/000\) is not included/);
  });

  it("--entry prints the entry after checking its inclusion", async () => {
    const r = await cli([
      "audit",
      "verify",
      grown.dir,
      "--key",
      `@${vkeyFile}`,
      "--entry",
      "1234",
      "--state",
      state,
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${JSON.stringify({ i: 1234, type: "decision", v: 1 }, null, 2)}\n`);
    expect(r.err).toMatch(
      /entry 1234 is included in cli\.example\/audit at size 1500, consistent with the 1500/,
    );
    const json = await cli(["audit", "verify", grown.dir, "--key", `@${vkeyFile}`, "--entry", "0", "--json"]);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, size: "1500", index: "0", entry: { i: 0 } });
  });

  it("--entry refuses (exit 1) an entry that is not the canonical JSON of what it shows", async () => {
    const dataDir = mkdtempSync(join(tmp, "log-"));
    const log = await AuditLog.open(options(dataDir));
    await log.append(Buffer.from('{"decision":"deny","decision":"allow","type":"decision","v":1}'));
    await log.close();
    const r = await cli(["audit", "verify", join(dataDir, "audit"), "--key", `@${vkeyFile}`, "--entry", "0"]);
    expect([r.code, r.out]).toEqual([1, ""]);
    expect(r.err).toMatch(
      /\(entry-not-canonical\): entry 0 \(tile\/entries\/000\.p\/1\) is included .* names "decision" more than once/,
    );
  });

  it("--entry shows an entry's C1 controls, bidirectional overrides and escape sequences escaped, in text and --json", async () => {
    // Whoever can append writes what the entry holds: JSON leaves C1 and the overrides raw.
    const held = { note: "\u009b2J\u202eevil\u2066", type: "decision", v: 1 };
    const text = "not json \u001b]0;title\u0007 \u009b2J\u202e";
    const dataDir = mkdtempSync(join(tmp, "log-"));
    const log = await AuditLog.open(options(dataDir));
    await log.append(Buffer.from(JSON.stringify(held)));
    await log.append(Buffer.from(text));
    await log.close();
    const verify = (...args: string[]) =>
      cli(["audit", "verify", join(dataDir, "audit"), "--key", `@${vkeyFile}`, ...args]);
    const actedOn = new RegExp(`(?!\\n)[${CONTROL_CHARACTERS}]`);
    const shown = await verify("--entry", "0");
    expect(shown.code).toBe(0);
    expect(shown.out).not.toMatch(actedOn);
    expect(JSON.parse(shown.out)).toEqual(held);
    const json = await verify("--entry", "0", "--json");
    expect(json.out).not.toMatch(actedOn);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, index: "0", entry: held });
    const plain = await verify("--entry", "1");
    expect(plain.code).toBe(0);
    expect(plain.out).toBe("not json \\u001b]0;title\\u0007 \\u009b2J\\u202e\n");
    const plainJson = await verify("--entry", "1", "--json");
    expect(plainJson.out).not.toMatch(actedOn);
    expect(JSON.parse(plainJson.out)).toMatchObject({ entry: text });
  });

  it("--json says a failure with what the log holds escaped: its origin line quoted in the message", async () => {
    // Before: printed with JSON.stringify, the override reached the terminal raw.
    const origin = `${ORIGIN}\u202elatot\u2028`;
    const { dir } = await buildLog(3, 0, "decision", undefined, origin);
    const r = await cli([
      "audit",
      "verify",
      dir,
      "--key",
      `@${vkeyFile}`,
      "--state",
      join(tmp, "s4.json"),
      "--json",
    ]);
    expect(r.code).toBe(1);
    expect(r.out).not.toMatch(new RegExp(`(?!\\n)[${CONTROL_CHARACTERS}]`));
    const said = JSON.parse(r.out) as { ok: boolean; error: { code: string; message: string } };
    expect(said).toMatchObject({ ok: false, error: { code: "origin-mismatch" } });
    // The message quotes the origin as messages quote values: the override escaped there too (the
    // line separator, which quoted leaves, is escaped in the JSON printed).
    expect(said.error.message).toContain(`checkpoint origin "${ORIGIN}\\u202elatot\u2028" is not`);
  });

  it("rejects invalid input with exit 2", async () => {
    const key = ["--key", `@${vkeyFile}`];
    const badState = join(tmp, "bad-state.json");
    writeFileSync(badState, JSON.stringify({ [ORIGIN]: { size: 5, root: "x" } }));
    const newerState = join(tmp, "newer-state.json");
    writeFileSync(newerState, JSON.stringify({ v: 3, keys: {} }));
    const cases: [string[], RegExp][] = [
      [["--entry", "1500", ...key], /entry 1500 is not in the log: the checkpoint covers 1500 entries/],
      [["--entry", "-1", ...key], /--entry: expected an unsigned 64-bit integer/],
      [["--entry", "18446744073709551616", ...key], /--entry: expected an unsigned 64-bit integer/],
      [["--key", "nonsense"], /--key: malformed verifier key/],
      [["--key", "@/nonexistent/vkey"], /--key: cannot read/],
      [["--state", badState, ...key], /not a verification state file: "cli\.example\/audit": size/],
      [["--state", newerState, ...key], /not a verification state file: version 3 is not one/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(["audit", "verify", grown.dir, ...args]);
      expect([r.code, r.err]).toEqual([2, expect.stringMatching(message)]);
    }
  });

  it("a log directory that does not exist, or is not a directory, is a usage error (exit 2) naming it", async () => {
    const key = ["--key", `@${vkeyFile}`, "--state", join(tmp, "s3.json")];
    // Before: verified as an empty log, "audit verify failed (missing-checkpoint)", exit 1.
    const nowhere = join(tmp, "nowhere");
    const missing = await cli(["audit", "verify", nowhere, ...key]);
    expect([missing.code, missing.out, missing.err]).toEqual([
      2,
      "",
      `${nowhere}: the log directory does not exist: give a log's directory (<data_dir>/audit) or its URL\n`,
    ]);
    const file = join(tmp, "not-a-dir");
    writeFileSync(file, "");
    const notDir = await cli(["audit", "verify", file, ...key, "--json"]);
    expect([notDir.code, notDir.out, notDir.err]).toEqual([
      2,
      "",
      `${file}: the log is not a directory: give a log's directory (<data_dir>/audit) or its URL\n`,
    ]);
    // A directory that holds no log is a log that fails verification: exit 1, as before.
    const empty = mkdtempSync(join(tmp, "empty-"));
    const r = await cli(["audit", "verify", empty, ...key]);
    expect([r.code, r.err]).toEqual([1, expect.stringMatching(/\(missing-checkpoint\)/)]);
  });
});

describe("against a gateway's /audit/ handler", () => {
  let log: AuditLog;
  let server: Server;
  let base: string;
  let logDir: string;
  beforeAll(async () => {
    const { dataDir, dir } = await buildLog(1000);
    logDir = dir;
    log = await AuditLog.open(options(dataDir));
    server = createServer(
      withErrors((req, res) => handleAudit(log, dir, req, res, new URL(req.url ?? "/", "http://x").pathname)),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await log.close();
  });

  it("verify over HTTP, and --entry", async () => {
    const state = join(tmp, "http-state.json");
    const r = await cli(["audit", "verify", `${base}/audit`, "--key", `@${vkeyFile}`, "--state", state]);
    expect([r.code, r.out]).toEqual([
      0,
      expect.stringMatching(/^verified cli\.example\/audit: 1000 entries/),
    ]);
    const one = await cli(["audit", "verify", `${base}/audit/`, "--key", `@${vkeyFile}`, "--entry", "999"]);
    expect(JSON.parse(one.out)).toEqual({ v: 1, type: "decision", i: 999 });
  });

  it("a method other than GET or HEAD is 405 naming the methods it takes (Allow)", async () => {
    for (const path of ["checkpoint", "tile/0/000", "proof/inclusion?index=0&size=1"]) {
      const res = await fetch(`${base}/audit/${path}`, { method: "POST" });
      expect([res.status, res.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
    }
  });

  it("a --state that cannot be saved is said (exit 2), and leaves no copy aside", async () => {
    const dir = mkdtempSync(join(tmp, "state-"));
    const state = join(dir, "state.json");
    // The state is read before the log, and saved after: a directory in its place by then.
    const racing = createServer(
      withErrors(async (req, res) => {
        if (!statSync(state, { throwIfNoEntry: false })?.isDirectory()) {
          rmSync(state, { force: true });
          mkdirSync(join(state, "taken"), { recursive: true });
        }
        return handleAudit(log, logDir, req, res, new URL(req.url ?? "/", "http://x").pathname);
      }),
    );
    await new Promise<void>((resolve) => racing.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(racing.address() as AddressInfo).port}/audit`;
    try {
      const r = await cli(["audit", "verify", url, "--key", `@${vkeyFile}`, "--state", state]);
      expect([r.code, r.out]).toEqual([2, ""]);
      expect(r.err).toMatch(
        new RegExp(`^${state}: the log verified, but its state cannot be saved: EISDIR.*\\n$`),
      );
      expect(readdirSync(dir)).toEqual(["state.json"]);
    } finally {
      await new Promise((resolve) => racing.close(resolve));
    }
    const nowhere = join(dir, "no-such-dir", "state.json");
    const missing = await cli(["audit", "verify", logDir, "--key", `@${vkeyFile}`, "--state", nowhere]);
    expect([missing.code, missing.out]).toEqual([2, ""]);
    expect(missing.err).toMatch(
      new RegExp(`^${nowhere}: the log verified, but its state cannot be saved: ENOENT`),
    );
  });

  it("answers 404 for a partial tile it no longer keeps, pointing to the full tile", async () => {
    const res = await fetch(`${base}/audit/tile/0/000.p/5`);
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(
      /removed only once its full tile is written — fetch the full tile, tile\/0\/000;/,
    );
    expect((await fetch(`${base}/audit/tile/0/000`)).status).toBe(200);
  });

  it("proof inclusion and consistency check the gateway's proofs against its signed checkpoint, then print them", async () => {
    const root = log.published?.root as Buffer;
    const key = ["--key", `@${vkeyFile}`];
    const inc = await cli([
      "audit",
      "proof",
      "inclusion",
      "--index",
      "300",
      "--size",
      "1000",
      ...key,
      `${base}/audit`,
    ]);
    expect(inc.code).toBe(0);
    expect(inc.err).toBe(
      `entry 300 is included in the tree of size 1000 (root ${root.toString("base64")}), checked against the checkpoint of ${ORIGIN} at size 1000\n`,
    );
    const proof = JSON.parse(inc.out) as { index: string; size: string; proof: string[] };
    expect(proof).toMatchObject({ index: "300", size: "1000" });
    const hashes = proof.proof.map((h) => Buffer.from(h, "base64"));
    verifyInclusion(leafHash(entry(300)), 300n, 1000n, hashes, root);
    // A tree smaller than the checkpoint's: its root is rebuilt from the tiles and proved a prefix.
    const older = await cli(["audit", "proof", "inclusion", "--index", "5", "--size", "700", ...key, base]);
    expect([older.code, older.err]).toEqual([
      0,
      expect.stringMatching(/^entry 5 is included in the tree of size 700 /),
    ]);

    const con = await cli(["audit", "proof", "consistency", "--from", "1000", "--to", "1000", ...key, base]);
    expect(JSON.parse(con.out)).toEqual({ from: "1000", to: "1000", proof: [] });
    const con2 = await cli(["audit", "proof", "consistency", "--from", "1", "--to", "1000", ...key, base]);
    expect(con2.code).toBe(0);
    expect(con2.err).toMatch(
      /^the tree of size 1000 \(root \S+\) extends the one of size 1 \(root \S+\), checked against/,
    );
    const p2 = (JSON.parse(con2.out) as { proof: string[] }).proof.map((h) => Buffer.from(h, "base64"));
    verifyConsistency(1n, 1000n, p2, leafHash(entry(0)), root);
    const con3 = await cli(["audit", "proof", "consistency", "--from", "300", "--to", "700", ...key, base]);
    expect(con3.code).toBe(0);
  });

  it("refuses (exit 1) a proof that is not for what was asked, or does not verify against the signed checkpoint", async () => {
    // A gateway that serves the real checkpoint and tiles but answers proofs as it likes.
    let answer: unknown = {};
    const liar = createServer(
      withErrors(async (req, res) => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        if (!path.startsWith("/audit/proof/")) return handleAudit(log, logDir, req, res, path);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      }),
    );
    await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(liar.address() as AddressInfo).port}/audit`;
    const key = ["--key", `@${vkeyFile}`];
    const inclusion = (index: string, size: string) =>
      cli(["audit", "proof", "inclusion", "--index", index, "--size", size, ...key, url]);
    try {
      const real = await log.inclusion(42n, 1000n);
      const b64 = (hs: Buffer[]) => hs.map((h) => h.toString("base64"));
      // The reviewer's case: an answer for another index and size, with a proof of nothing.
      answer = { index: "7", size: "9", proof: ["bm90IGEgaGFzaA=="] };
      const other = await inclusion("42", "1000");
      expect([other.code, other.out, other.err]).toEqual([
        1,
        "",
        'clearance: audit proof: verification failed (malformed-proof): the gateway\'s answer is for index "7", not the 42 asked for\n',
      ]);
      answer = { index: "42", size: "1000", proof: ["bm90IGEgaGFzaA=="] };
      expect((await inclusion("42", "1000")).err).toMatch(
        /\(malformed-proof\): .*proof\[0\], which is not a 32-byte hash/,
      );
      // Well formed, but the proof of another entry.
      answer = { index: "42", size: "1000", proof: b64(await log.inclusion(43n, 1000n)) };
      const wrong = await inclusion("42", "1000");
      expect([wrong.code, wrong.out]).toEqual([1, ""]);
      expect(wrong.err).toMatch(
        /\(inclusion-failed\): the proof does not show entry 42 \(tile\/entries\/000\) in the tree of size 1000/,
      );
      answer = { index: "42", size: "1000", proof: b64(real) };
      expect((await inclusion("42", "1000")).code).toBe(0);
      // Beyond the signed checkpoint: nothing to check it with.
      answer = { index: "42", size: "5000", proof: b64(real) };
      expect((await inclusion("42", "5000")).err).toMatch(
        /\(inclusion-failed\): the proof is for a tree of size 5000, beyond the log's signed checkpoint \(1000\)/,
      );
      // Consistency: a proof between other sizes.
      answer = { from: "300", to: "1000", proof: b64(await log.consistency(301n, 1000n)) };
      const con = await cli(["audit", "proof", "consistency", "--from", "300", "--to", "1000", ...key, url]);
      expect([con.code, con.out]).toEqual([1, ""]);
      expect(con.err).toMatch(
        /\(consistency-failed\): the proof does not show the tree of size 1000 extending the one of size 300/,
      );
      // Another log's key: the checkpoint is not signed by it.
      answer = { index: "42", size: "1000", proof: b64(real) };
      const stranger = join(tmp, "stranger.vkey");
      writeFileSync(stranger, `${generateKey(ORIGIN).verifierKey}\n`);
      const unsigned = await cli([
        "audit",
        "proof",
        "inclusion",
        "--index",
        "42",
        "--size",
        "1000",
        "--key",
        `@${stranger}`,
        url,
      ]);
      expect([unsigned.code, unsigned.err]).toEqual([
        1,
        expect.stringMatching(/\(unknown-key\): checkpoint is not signed by/),
      ]);
    } finally {
      await new Promise((resolve) => liar.close(resolve));
    }
  });

  it("a gateway's error page or message reaches the terminal as text, never as escape sequences", async () => {
    let status = 502;
    let page = "";
    const proxy = createServer((_, res) => {
      res.writeHead(status, { "content-type": status === 400 ? "application/json" : "text/html" });
      res.end(page);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/audit`;
    const ask = () =>
      cli(["audit", "proof", "inclusion", "--index", "1", "--size", "2", "--key", `@${vkeyFile}`, url]);
    try {
      page = `<html><head><title>502 Bad \u001b]0;owned\u0007Gateway</title></head><body>${"<p>x</p>".repeat(100)}</body></html>`;
      expect(await ask()).toEqual({
        code: 1,
        out: "",
        err: `clearance: audit proof: ${url}/proof/inclusion?index=1&size=2: HTTP 502: 502 Bad Gateway\n`,
      });
      status = 400;
      page = JSON.stringify({ error: { message: "size 2 is \u001b[2J\u001b[Hbeyond \u009b31mit" } });
      expect(await ask()).toEqual({
        code: 2,
        out: "",
        err: "the gateway refused the request: size 2 is beyond it\n",
      });
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("a proof answer without end is cut off past the largest log resource, not read whole", async () => {
    // Read whole before (here 64 MiB of JSON's white space, then a proof): the CLI grew until the
    // answer ended or its 30 s limit struck mid-read. A proof is a few kilobytes.
    const most = 64 * 1024 * 1024;
    const endless = createServer((_, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (!res.destroyed && sent < most) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        if (!res.destroyed) res.end("{}");
      };
      pump();
    });
    await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(endless.address() as AddressInfo).port}/audit`;
    try {
      const r = await cli([
        "audit",
        "proof",
        "inclusion",
        "--index",
        "1",
        "--size",
        "2",
        "--key",
        `@${vkeyFile}`,
        url,
      ]);
      expect(r).toEqual({
        code: 1,
        out: "",
        err: `clearance: audit proof: ${url}/proof/inclusion?index=1&size=2 is larger than ${MAX_RESOURCE_BYTES} bytes: not a log resource\n`,
      });
    } finally {
      endless.closeAllConnections();
      await new Promise((resolve) => endless.close(resolve));
    }
  });

  it("validates the numbers (exit 2) and reports the gateway refusing them", async () => {
    const cases: [string[], RegExp][] = [
      [["inclusion", "--index", "x", "--size", "5"], /--index: expected an unsigned 64-bit integer/],
      [["inclusion", "--index", "5", "--size", "5"], /--index 5 must be below --size 5/],
      [["consistency", "--from", "9", "--to", "5"], /--from 9 must not be above --to 5/],
      [["consistency", "--from", "1", "--to", "99999999999999999999"], /--to: expected an unsigned 64-bit/],
      [
        ["consistency", "--from", "0", "--to", "5"],
        /--from must be at least 1: every tree extends the empty tree/,
      ],
      [["inclusion", "--index", "1", "--size", "5000"], /gateway refused the request: size 5000 is beyond/],
      [["inclusion", "--index", "1", "--size", "5", "--key", "nonsense"], /--key: malformed verifier key/],
    ];
    for (const [args, message] of cases) {
      const r = await cli([
        "audit",
        "proof",
        ...args,
        ...(args.includes("--key") ? [] : ["--key", `@${vkeyFile}`]),
        base,
      ]);
      expect([r.code, r.err]).toEqual([2, expect.stringMatching(message)]);
    }
    const noKey = await cli(["audit", "proof", "inclusion", "--index", "1", "--size", "5", base]);
    expect([noKey.code, noKey.err]).toEqual([2, expect.stringMatching(/--key/)]);
    // The gateway itself: no consistency proof from the empty tree (one would be refused by verifiers).
    const zero = await fetch(`${base}/audit/proof/consistency?from=0&to=5`);
    expect(zero.status).toBe(400);
    expect(await zero.text()).toMatch(
      /from must be at least 1: there is no consistency proof from the empty tree/,
    );
    // A port nothing listens on: one just released.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await cli([
      "audit",
      "proof",
      "inclusion",
      "--index",
      "1",
      "--size",
      "2",
      "--key",
      `@${vkeyFile}`,
      `http://127.0.0.1:${port}`,
    ]);
    expect([down.code, down.err]).toEqual([1, expect.stringMatching(/cannot fetch .*ECONNREFUSED/)]);
  });
});
