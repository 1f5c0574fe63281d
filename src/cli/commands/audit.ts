/**
 * `clearance audit …`: the log's signing key, and checking a published log from outside — as an
 * auditor would, with nothing but the verifier key. Exit codes: 0 verified; 1 verification failed
 * (the message says what and where); 2 invalid input or usage.
 */
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { verifierKeyFile, writeKeyPair } from "../../audit/index.js";
import { decodeBase64Strict, NoteError, parseVerifierKey } from "../../audit/note.js";
import { openSource, readLimited, SourceError, urlSource } from "../../audit/source.js";
import {
  checkConsistencyProof,
  checkInclusionProof,
  VerifyError,
  verifyEntry,
  verifyLog,
  type PriorState,
} from "../../audit/verify.js";
import { InvalidInputError } from "../../errors/index.js";
import {
  cellText,
  jsonText,
  pageExcerpt,
  printable,
  processIo,
  readFileBounded,
  sizeText,
  type Io,
} from "../io.js";
import type { Outcome } from "../outcome.js";
import { quoted } from "../../policy/text.js";

const EXIT_FAILED = 1;
const MAX_UINT64 = (1n << 64n) - 1n;
/** Below this many entries verification is quick enough that a bar would only flicker. */
const PROGRESS_THRESHOLD = 10_000n;
const DEFAULT_STATE = "./.clearance-audit-state.json";

interface VerifyOpts {
  key: string;
  origin?: string;
  state: string;
  entry?: bigint;
  json?: boolean;
}

const usage = (message: string, file?: string) =>
  new InvalidInputError([{ code: "usage", path: [], message, ...(file === undefined ? {} : { file }) }]);

/** Indices and sizes are uint64: parsed as BigInt, never through a float. */
function uint64(flag: string) {
  return (text: string): bigint => {
    if (!/^(0|[1-9][0-9]{0,19})$/.test(text) || BigInt(text) > MAX_UINT64) {
      throw usage(`${flag}: expected an unsigned 64-bit integer, got ${quoted(text)}`);
    }
    return BigInt(text);
  };
}

export function registerAudit(program: Command, io: Io, outcome: Outcome): void {
  const audit = program
    .command("audit")
    .description("the transparency log: signing key, independent verification, proofs");

  audit
    .command("keygen")
    .description(
      "create a log signing key (0600) and its verifier key (<file>.vkey); prints the verifier key",
    )
    .requiredOption("--name <origin>", "the log's origin, which names the key")
    .option("--out <file>", "private key file", "./audit.key")
    .action((opts: { name: string; out: string }) => keygen(io, opts.name, opts.out));

  audit
    .command("verify")
    .description("verify a published log: signature, every entry and tile, root, and history since last time")
    .argument("<log>", "the log: a URL (http://host:port/audit) or a directory (<data_dir>/audit)")
    .requiredOption("--key <vkey>", "the log's verifier key, or @file to read it from a file")
    .option(
      "--origin <origin>",
      "the expected origin (default: the one verified before, else the key's name)",
    )
    .option("--state <file>", "checkpoints verified before, by verifier key", DEFAULT_STATE)
    .addOption(new Option("--entry <index>", "check and print one entry only").argParser(uint64("--entry")))
    .option("--json", "one JSON object on stdout")
    .action((log: string, opts: VerifyOpts) => verify(io, outcome, log, opts));

  const proof = audit
    .command("proof")
    .description("fetch a proof from a running gateway and check it against its signed checkpoint");
  const keyOptions = (cmd: Command) =>
    cmd
      .requiredOption("--key <vkey>", "the log's verifier key, or @file to read it from a file")
      .option("--origin <origin>", "the expected origin (default: the key's name)");
  keyOptions(
    proof
      .command("inclusion")
      .argument("<url>", "the gateway's log, e.g. http://127.0.0.1:8080/audit")
      .addOption(new Option("--index <i>", "leaf index").argParser(uint64("--index")).makeOptionMandatory())
      .addOption(new Option("--size <n>", "tree size").argParser(uint64("--size")).makeOptionMandatory()),
  ).action((url: string, opts: ProofOpts & { index: bigint; size: bigint }) => {
    if (opts.index >= opts.size) throw usage(`--index ${opts.index} must be below --size ${opts.size}`);
    return proofOf(io, outcome, url, opts, { kind: "inclusion", index: opts.index, size: opts.size });
  });
  keyOptions(
    proof
      .command("consistency")
      .argument("<url>", "the gateway's log, e.g. http://127.0.0.1:8080/audit")
      .addOption(new Option("--from <m>", "old tree size").argParser(uint64("--from")).makeOptionMandatory())
      .addOption(new Option("--to <n>", "new tree size").argParser(uint64("--to")).makeOptionMandatory()),
  ).action((url: string, opts: ProofOpts & { from: bigint; to: bigint }) => {
    if (opts.from > opts.to) throw usage(`--from ${opts.from} must not be above --to ${opts.to}`);
    if (opts.from === 0n) {
      throw usage("--from must be at least 1: every tree extends the empty tree, with no proof to check");
    }
    return proofOf(io, outcome, url, opts, { kind: "consistency", from: opts.from, to: opts.to });
  });
}

interface ProofOpts {
  key: string;
  origin?: string;
}

type ProofAsk =
  { kind: "inclusion"; index: bigint; size: bigint } | { kind: "consistency"; from: bigint; to: bigint };

/** A new key pair, or nothing: neither file overwritten, no private key left without its verifier key. */
function keygen(io: Io, name: string, out: string): void {
  const vkeyFile = verifierKeyFile(out);
  let vkey: string;
  try {
    vkey = writeKeyPair(out, name, { exclusive: true });
  } catch (err) {
    if (err instanceof NoteError) throw usage(`--name: ${err.message}`);
    const { code, path } = err as NodeJS.ErrnoException;
    const file = path === vkeyFile ? vkeyFile : out;
    if (code === "EEXIST") {
      const what = file === out ? "a signing key" : "a verifier key (another key's?)";
      throw usage(`already exists: refusing to overwrite ${what}`, file);
    }
    throw usage(`cannot write the key: ${(err as Error).message}`, file);
  }
  io.stdout(`${vkey}\n`);
  io.stderr(`wrote ${out} (private, mode 0600) and ${vkeyFile} (public)\n`);
}

/**
 * The most of an `--key @file` read: a verifier key is one line of about 60 characters. The file
 * may be a pipe (`--key @<(…)`), so it is read as it comes, but only this far.
 */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

function readKey(arg: string): string {
  let key = arg;
  if (arg.startsWith("@")) {
    const file = arg.slice(1);
    let bytes: Buffer | null;
    try {
      bytes = readFileBounded(file, MAX_KEY_FILE_BYTES);
    } catch (err) {
      throw usage(`--key: cannot read ${file}: ${(err as Error).message}`);
    }
    if (bytes === null) {
      throw usage(
        `--key: ${file} holds more than ${sizeText(MAX_KEY_FILE_BYTES)}, which no verifier key does: give the .vkey file`,
      );
    }
    key = bytes.toString("utf8");
  }
  key = key.trim();
  try {
    parseVerifierKey(key);
  } catch (err) {
    throw usage(`--key: ${(err as Error).message}`);
  }
  return key;
}

/**
 * The state file: the checkpoint verified last, by verifier key (`<name>+<key id>`), with the
 * origin it was verified under. Keyed by the key, not by the checkpoint's origin: by origin, a
 * history rewritten and re-signed under a new origin found no state and passed as a first
 * verification. Sizes are strings (uint64).
 *   {"v": 2, "keys": {"<name>+<hex8>": {"origin", "size", "root"}}, "origins": {"<origin>": {"size", "root"}}}
 * `origins` holds what a file written before version 2 held (`{"<origin>": {"size", "root"}}`, read
 * as such) until a key's verification takes it over.
 */
interface Verified extends PriorState {
  origin: string;
}

interface States {
  keys: Map<string, Verified>;
  origins: Map<string, PriorState>;
}

const STATE_VERSION = 2;
/**
 * The most of a state file that is read: a log verified takes about 200 bytes of it, so a real one
 * is kilobytes. (One of these held the verifier open on /dev/zero, reading until memory ran out.)
 */
export const MAX_STATE_BYTES = 4 * 1024 * 1024;

/**
 * The state file's text; undefined when there is none. Only a regular file is read (it is replaced
 * by a rename once verified, so nothing else could hold it): opened without waiting (a FIFO with no
 * writer blocked the verifier for ever) and read up to MAX_STATE_BYTES.
 */
function readStateFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw usage(`cannot read the state file: ${(err as Error).message}`, file);
  }
  try {
    if (!fstatSync(fd).isFile()) {
      throw usage(
        "the state file is not a regular file (a device, a pipe or a directory?): give --state a file's path",
        file,
      );
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for (let n = -1; n !== 0 && length <= MAX_STATE_BYTES; length += n) {
      const chunk = Buffer.alloc(64 * 1024);
      n = readSync(fd, chunk, 0, chunk.length, null);
      chunks.push(chunk.subarray(0, n));
    }
    if (length > MAX_STATE_BYTES) {
      throw usage(
        `the state file is larger than ${MAX_STATE_BYTES / (1024 * 1024)} MiB, which no verification state is: not a state file`,
        file,
      );
    }
    return Buffer.concat(chunks, length).toString("utf8");
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    throw usage(`cannot read the state file: ${(err as Error).message}`, file);
  } finally {
    closeSync(fd);
  }
}

function loadStates(file: string): States {
  const states: States = { keys: new Map(), origins: new Map() };
  const text = readStateFile(file);
  if (text === undefined) return states;
  const bad = (why: string) => usage(`not a verification state file: ${why}`, file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad((err as Error).message);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(json)) throw bad("want a JSON object");
  const prior = (name: string, v: unknown): PriorState => {
    const { size, root } = (isObject(v) ? v : {}) as { size?: unknown; root?: unknown };
    const rootBytes = typeof root === "string" ? Buffer.from(root, "base64") : null;
    if (typeof size !== "string" || !/^(0|[1-9][0-9]{0,19})$/.test(size) || BigInt(size) > MAX_UINT64) {
      throw bad(`${quoted(name)}: size must be a decimal string`);
    }
    if (rootBytes === null || rootBytes.length !== 32 || rootBytes.toString("base64") !== root) {
      throw bad(`${quoted(name)}: root must be 32 bytes in base64`);
    }
    return { size: BigInt(size), root: rootBytes };
  };
  // Before version 2 the file was only origins; an origin's value is an object, never a number.
  if (typeof json.v !== "number") {
    for (const [origin, v] of Object.entries(json)) states.origins.set(origin, prior(origin, v));
    return states;
  }
  if (json.v !== STATE_VERSION) throw bad(`version ${json.v} is not one this clearance reads`);
  const section = (name: string) => {
    const v = json[name] ?? {};
    if (!isObject(v)) throw bad(`"${name}" must be an object`);
    return Object.entries(v);
  };
  for (const [key, v] of section("keys")) {
    const origin = isObject(v) ? v.origin : undefined;
    if (typeof origin !== "string" || origin === "") throw bad(`${quoted(key)}: origin must be a string`);
    states.keys.set(key, { origin, ...prior(key, v) });
  }
  for (const [origin, v] of section("origins")) states.origins.set(origin, prior(origin, v));
  return states;
}

/**
 * Written whole then renamed, so an interrupted run never leaves a half-written state behind; one
 * that cannot be saved (its directory missing, a full disk) is said, naming the file, and leaves no
 * copy aside.
 */
function saveStates(file: string, states: States): void {
  const encode = (s: PriorState) => ({ size: s.size.toString(), root: s.root.toString("base64") });
  const json = {
    v: STATE_VERSION,
    keys: Object.fromEntries([...states.keys].map(([key, s]) => [key, { origin: s.origin, ...encode(s) }])),
    origins: Object.fromEntries([...states.origins].map(([origin, s]) => [origin, encode(s)])),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(json, null, 2)}\n`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw usage(
      `the log verified, but its state cannot be saved: ${(err as Error).message} (give a --state that can be written)`,
      file,
    );
  }
}

/** `<name>+<key id>`: how the state file names a verifier key. */
function stateKey(verifierKey: string): { id: string; name: string } {
  const v = parseVerifierKey(verifierKey);
  return { id: `${v.name}+${v.keyId.toString(16).padStart(8, "0")}`, name: v.name };
}

/**
 * The origin this key's log was verified under before: its own entry's, or — a file from before
 * version 2, which did not say which key — the key's name, if that origin has a state.
 */
function storedOrigin(states: States, key: { id: string; name: string }): string | undefined {
  return states.keys.get(key.id)?.origin ?? (states.origins.has(key.name) ? key.name : undefined);
}

/**
 * The state a checkpoint must extend: this key's; else the latest verified under the checkpoint's
 * origin (by another key — a rotated one — or in a file from before version 2). A checkpoint under
 * another origin than the one this key's log was verified under is refused.
 */
function priorState(states: States, key: { id: string; name: string }, file: string) {
  return (checkpoint: { origin: string }): PriorState | null => {
    const stored = storedOrigin(states, key);
    if (stored !== undefined && stored !== checkpoint.origin) {
      throw new VerifyError(
        "origin-mismatch",
        `the checkpoint's origin is ${quoted(checkpoint.origin)}, but this key's log was verified as ${quoted(stored)} before (${file}): a log keeps its origin, and a history signed under another one is not an extension of the one verified`,
        "checkpoint",
      );
    }
    const own = states.keys.get(key.id);
    if (own !== undefined) return own;
    const same = [...states.keys.values()].filter((s) => s.origin === checkpoint.origin);
    const legacy = states.origins.get(checkpoint.origin);
    if (legacy !== undefined) same.push({ origin: checkpoint.origin, ...legacy });
    return same.reduce<PriorState | null>((a, b) => (a === null || b.size > a.size ? b : a), null);
  };
}

/** A bar on the terminal for long runs; never when stderr is not the process's own TTY. */
function progress(io: Io, json: boolean) {
  let bar: cliProgress.SingleBar | null = null;
  const enabled = !json && io === processIo && process.stderr.isTTY === true;
  return {
    update(done: bigint, total: bigint) {
      if (!enabled || total <= PROGRESS_THRESHOLD) return;
      if (bar === null) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
            format: "verifying [{bar}] {percentage}% | {value}/{total} entries | ETA {eta_formatted}",
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Number(total), 0); // display only: Number is exact enough for a bar
      }
      bar.update(Number(done));
    },
    stop: () => bar?.stop(),
  };
}

async function verify(io: Io, outcome: Outcome, log: string, opts: VerifyOpts): Promise<void> {
  const verifierKey = readKey(opts.key);
  const states = loadStates(opts.state);
  let source;
  try {
    source = openSource(logDirectory(log));
  } catch (err) {
    throw usage((err as Error).message);
  }
  const key = stateKey(verifierKey);
  // Without --origin: the one this key's log was verified under, else (the library's default) the
  // key's name, as the gateway names its key — never any origin the key happens to sign.
  const stored = storedOrigin(states, key);
  const origin = opts.origin ?? stored;
  const pick = priorState(states, key, opts.state);
  const bar = progress(io, opts.json === true);
  try {
    if (opts.entry !== undefined) {
      const r = await verifyEntry(source, verifierKey, opts.entry, {
        ...(origin === undefined ? {} : { origin }),
        state: pick,
      });
      const { origin: name, size, root } = r.checkpoint;
      // The entry is what the log holds, written by whoever could append to it: shown so that
      // nothing in it acts on the terminal (C1 controls and bidirectional overrides, which JSON
      // leaves raw, escaped; an entry that is not JSON on one line, its controls escaped).
      if (opts.json) {
        const summary = { ok: true, origin: name, size: `${size}`, root: root.toString("base64") };
        io.stdout(jsonText({ ...summary, index: `${r.index}`, entry: r.entry }, 0));
      } else {
        io.stdout(typeof r.entry === "string" ? `${cellText(r.entry)}\n` : jsonText(r.entry));
        const history = r.previous === undefined ? "" : since(r.previous);
        io.stderr(`entry ${r.index} is included in ${cellText(name)} at size ${size}${history}\n`);
      }
      return;
    }
    const r = await verifyLog(source, {
      verifierKey,
      ...(origin === undefined ? {} : { origin }),
      state: pick,
      onProgress: bar.update,
    });
    bar.stop();
    const { origin: name, size, root } = r.checkpoint;
    states.keys.set(key.id, { origin: name, size, root });
    states.origins.delete(name); // taken over by the key's entry
    saveStates(opts.state, states);
    if (opts.json) {
      const previous = r.previous === undefined ? null : { size: `${r.previous.size}` };
      const out = { ok: true, origin: name, size: `${size}`, root: root.toString("base64"), previous };
      io.stdout(jsonText({ ...out, state: opts.state }, 0));
    } else {
      io.stdout(
        `verified ${cellText(name)}: ${size} entries, root ${root.toString("base64")}${since(r.previous)}\n`,
      );
    }
  } catch (err) {
    bar.stop();
    if (err instanceof VerifyError && (err.code === "bad-key" || err.code === "index-out-of-range")) {
      throw usage(err.message);
    }
    if (!(err instanceof VerifyError || err instanceof SourceError)) throw err;
    const code = err instanceof VerifyError ? err.code : "fetch-failed";
    if (code === "origin-mismatch" && opts.origin === undefined && stored !== undefined) {
      err.message += ` (the origin this key's log was verified under before, in ${opts.state}: a log keeps its origin)`;
    }
    if (opts.json) io.stdout(jsonText({ ok: false, error: { code, message: err.message } }, 0));
    // The message may quote the log (an origin, a line of its checkpoint): shown, never acted on.
    io.stderr(`clearance: audit verify failed (${code}): ${printable(err.message)}\n`);
    outcome.exitCode = EXIT_FAILED;
  }
}

/**
 * The log as given; a path must be a directory. One that does not exist (a typo) read as an empty
 * log, "verification failed (missing-checkpoint)", exit 1: as if the log were damaged, not named
 * wrong. A directory holding no checkpoint is still a log that fails verification.
 */
function logDirectory(log: string): string {
  if (/^https?:\/\//i.test(log)) return log;
  const give = "give a log's directory (<data_dir>/audit) or its URL";
  let stats;
  try {
    stats = statSync(log);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR")
      throw usage(`the log directory does not exist: ${give}`, log);
    throw usage(`cannot read the log directory: ${(err as Error).message}`, log);
  }
  if (!stats.isDirectory()) throw usage(`the log is not a directory: ${give}`, log);
  return log;
}

function since(previous: { size: bigint } | undefined): string {
  if (previous === undefined) return " (first verification of this log: no earlier state)";
  return `, consistent with the ${previous.size} verified before`;
}

/** The gateway's log URL; a bare origin (http://host:port) means its /audit. */
function logUrl(arg: string): URL {
  let url: URL;
  try {
    url = new URL(arg);
  } catch {
    throw usage(`not a URL: ${quoted(arg)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usage(`want an http(s) URL, got ${arg}`);
  if (url.pathname === "/") url.pathname = "/audit";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

/**
 * Fetches a proof and checks it before printing it: the answer must be for what was asked, and the
 * proof must verify against the log's signed checkpoint (read with --key, as `verify` does) — for
 * an inclusion, with the entry's own leaf hash from the published entry bundle.
 */
async function proofOf(io: Io, outcome: Outcome, arg: string, opts: ProofOpts, ask: ProofAsk): Promise<void> {
  const verifierKey = readKey(opts.key);
  const base = logUrl(arg);
  const resource =
    ask.kind === "inclusion"
      ? `proof/inclusion?index=${ask.index}&size=${ask.size}`
      : `proof/consistency?from=${ask.from}&to=${ask.to}`;
  const target = new URL(resource, base).href;
  // What the gateway said is shown, never acted on by the terminal.
  const fail = (message: string) => {
    io.stderr(`clearance: audit proof: ${printable(message)}\n`);
    outcome.exitCode = EXIT_FAILED;
  };
  let res: Response;
  try {
    res = await fetch(target, { signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return fail(`cannot fetch ${target}: ${cause instanceof Error ? cause.message : (err as Error).message}`);
  }
  let text: string;
  try {
    // A proof is a few kilobytes: an answer larger than any log resource is not read on.
    text = new TextDecoder().decode(await readLimited(res, target));
  } catch (err) {
    if (err instanceof SourceError) return fail(err.message);
    return fail(`cannot fetch ${target}: ${(err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    const detail = typeof message === "string" ? printable(message) : pageExcerpt(text);
    // 400: the gateway refused these numbers (e.g. beyond its checkpoint) — the caller's input.
    if (res.status === 400) throw usage(`the gateway refused the request: ${detail}`);
    return fail(`${target}: HTTP ${res.status}: ${detail}`);
  }
  if (body === undefined) return fail(`${target} did not answer with JSON`);
  const source = urlSource(base.href);
  const origin = opts.origin === undefined ? {} : { origin: opts.origin };
  try {
    const proof = answered(body, ask);
    if (ask.kind === "inclusion") {
      const r = await checkInclusionProof(source, verifierKey, ask.index, ask.size, proof, origin);
      io.stdout(jsonText(body));
      io.stderr(
        `entry ${ask.index} is included in the tree of size ${ask.size} (root ${r.root.toString("base64")})${signed(r.checkpoint)}\n`,
      );
    } else {
      const r = await checkConsistencyProof(source, verifierKey, ask.from, ask.to, proof, origin);
      io.stdout(jsonText(body));
      io.stderr(
        `the tree of size ${ask.to} (root ${r.toRoot.toString("base64")}) extends the one of size ${ask.from} (root ${r.fromRoot.toString("base64")})${signed(r.checkpoint)}\n`,
      );
    }
  } catch (err) {
    if (err instanceof VerifyError && err.code === "bad-key") throw usage(err.message);
    if (!(err instanceof VerifyError || err instanceof SourceError)) throw err;
    const code = err instanceof VerifyError ? err.code : "fetch-failed";
    return fail(`verification failed (${code}): ${err.message}`);
  }
}

function signed(c: { origin: string; size: bigint }): string {
  return `, checked against the checkpoint of ${cellText(c.origin)} at size ${c.size}`;
}

/** The proof's hashes, once the answer is shown to be for what was asked. */
function answered(body: unknown, ask: ProofAsk): Buffer[] {
  const bad = (why: string) => new VerifyError("malformed-proof", `the gateway's answer ${why}`);
  if (typeof body !== "object" || body === null) throw bad("is not a JSON object");
  const b = body as Record<string, unknown>;
  const want: [string, bigint][] =
    ask.kind === "inclusion"
      ? [
          ["index", ask.index],
          ["size", ask.size],
        ]
      : [
          ["from", ask.from],
          ["to", ask.to],
        ];
  for (const [field, value] of want) {
    if (b[field] !== `${value}`) {
      throw bad(`is for ${field} ${quoted(b[field] ?? null)}, not the ${value} asked for`);
    }
  }
  if (!Array.isArray(b.proof)) throw bad("has no proof array");
  return b.proof.map((h: unknown, i) => {
    const hash = typeof h === "string" ? decodeBase64Strict(h) : undefined;
    if (hash === undefined || hash.length !== 32)
      throw bad(`has proof[${i}], which is not a 32-byte hash in base64`);
    return hash;
  });
}
