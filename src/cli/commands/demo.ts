/**
 * `clearance demo` (what `npm start` runs): the gateway on 127.0.0.1 with the G7 example scheme and
 * the built-in demo upstream, demo principals and their keys, and copy-paste curl lines.
 */
import { randomBytes } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Option, type Command } from "commander";
import { MIN_ADMIN_TOKEN } from "../../config/index.js";
import { configFlag } from "../flag-files.js";
import { checkDataDirMode, checkSecretMode } from "../../audit/index.js";
import { lockDataDir } from "../../gateway/data-dir-lock.js";
import { startGateway } from "../../gateway/server.js";
import { registerDemoIdp, startDemoIdp } from "../../identity/demo-idp.js";
import { InvalidInputError, SetupError } from "../../errors/index.js";
import { parsePrincipal, type Principal } from "../../policy/index.js";
import type { Store } from "../../store/index.js";
import { readJsonWith, type Io } from "../io.js";
import { parsePort } from "./options.js";
import { stopOnSignal } from "./serve.js";

interface DemoOptions {
  config: string;
  principals: string;
  dataDir?: string;
  port?: number;
}

/** Who asks for what, from where: the walkthrough the quickstart prints. */
export const DEMO_REQUESTS = [
  { principal: "alice", country: "US", model: "mythos-5", says: "a US engineer: allowed (home-person)" },
  {
    principal: "benoit",
    country: "FR",
    model: "mythos-5",
    says: "a French researcher, partner-attested: allowed (partner-country)",
  },
  {
    principal: "chloe",
    country: "GB",
    model: "mythos-5",
    says: "a UK AISI evaluator: allowed (partner-organization)",
  },
  {
    principal: "devi",
    country: "IN",
    model: "mythos-5",
    says: "an Indian engineer without a license: served by mythos-4 (fallback, no-authorization)",
  },
  {
    principal: "feng",
    country: "IR",
    model: "mythos-5",
    says: "an engineer whose request comes from Iran: denied (embargoed-location)",
  },
  {
    principal: "erik",
    country: "DE",
    model: "fable-5",
    purpose: "cyber-defense",
    says: "a defence-cyber analyst under license BIS-2026-0001: allowed (license)",
  },
] as const;

export function registerDemo(program: Command, io: Io): void {
  program
    .command("demo")
    .description("run the gateway with the example scheme, demo upstream and demo principals (npm start)")
    .option("--config <file>", "gateway config", "examples/clearance.yaml")
    .option("--principals <dir>", "principals to create", "examples/principals")
    .option("--data-dir <dir>", "data directory (default: the config's)")
    .addOption(new Option("--port <port>", "port (default: the config's)").argParser(parsePort))
    .action((opts: DemoOptions) => demo(io, opts));
}

async function demo(io: Io, opts: DemoOptions): Promise<void> {
  const draft = configFlag(opts.config);
  // Read before anything starts: a bad file is named with its line, and nothing is left running.
  const principals = readPrincipals(io, opts.principals);
  const dataDir = opts.dataDir ?? draft.file.data_dir;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Before the admin token and the keys are read or written there, not only once the gateway starts:
  // others who may write to the directory could replace them. Refused as the gateway refuses it; its
  // warnings (a directory others may only read) are the gateway's to say, once.
  checkDataDirMode(dataDir);
  // Before the admin token is made there: a demo refused because a gateway runs on the directory
  // leaves nothing behind. The gateway's from startGateway on; a demo refused before (its keys or
  // admin-token file) removes the lock file it made with it, so that it too leaves nothing.
  const lock = lockDataDir(dataDir, { shared: draft.file.store.driver !== "sqlite" });
  const keysFile = join(dataDir, "demo-keys.json");
  const warn = (line: string) => io.stderr(`${line}\n`);
  let savedKeys: Record<string, string>;
  let adminToken: string;
  try {
    savedKeys = readDemoKeys(keysFile, warn);
    adminToken = draft.adminToken ?? persistentSecret(join(dataDir, "admin-token"), warn);
  } catch (err) {
    lock.discard();
    throw err;
  }
  const config = {
    ...draft,
    // The demo's partner IdP runs in this process, on loopback over plain http.
    file: { ...draft.file, identity: { ...draft.file.identity, allow_http_loopback: true } },
    adminToken,
  };
  const gateway = await startGateway(config, {
    dataDir,
    lock,
    ...(opts.port === undefined ? {} : { port: opts.port }),
    log: (line) => io.stderr(`${line}\n`),
  });
  // A partner government's identity provider, in process: its tokens are accepted like keys.
  const idp = await startDemoIdp().catch(async (err: unknown) => {
    await gateway.close();
    throw err;
  });
  const stop = async () => {
    await gateway.close();
    await idp.close();
  };
  stopOnSignal(stop);

  let keys: Map<string, string>;
  try {
    for (const principal of principals) await gateway.store.principals.put(principal, "demo");
    keys = await demoKeys(gateway.store, keysFile, savedKeys);
    await registerDemoIdp(gateway.store, gateway.snapshot.current.control, idp.issuer);
    await gateway.snapshot.refresh();
    gateway.identity.maintain();
  } catch (err) {
    // Said and ended: a gateway left running would keep the process alive after the message.
    await stop().catch(() => undefined);
    throw err;
  }

  const url = gateway.url;
  io.stdout(`\nClearance gateway on ${url} — scheme ${config.scheme.name} (${config.scheme.digest})\n`);
  io.stdout(
    `Upstream: the built-in demo model. Keys: ${join(dataDir, "demo-keys.json")}. Admin token: ${join(dataDir, "admin-token")}\n`,
  );
  io.stdout(`Console: ${url}/console/ (sign in with the admin token).\n`);
  io.stdout(`The demo config trusts the x-demo-country header from loopback as the request's location.\n\n`);
  for (const r of DEMO_REQUESTS) {
    const purpose = "purpose" in r ? ` -H 'x-clearance-purpose: ${r.purpose}'` : "";
    io.stdout(
      `# ${r.says}\ncurl -si ${url}/v1/chat/completions -H 'authorization: Bearer ${keys.get(r.principal)}' ` +
        `-H 'content-type: application/json' -H 'x-demo-country: ${r.country}'${purpose} ` +
        `-d '{"model":"${r.model}","messages":[{"role":"user","content":"Summarise the export rules"}]}'\n\n`,
    );
  }
  io.stdout(`# the models this caller may use (the French researcher, from France)\n`);
  io.stdout(
    `curl -s ${url}/v1/models -H 'authorization: Bearer ${keys.get("benoit")}' -H 'x-demo-country: FR'\n\n`,
  );
  io.stdout(
    `# a German citizen vouched for by the partner government's identity provider (demo, ${idp.issuer}): ` +
      `a token from it, then the gateway with it: allowed (partner-country)\n`,
  );
  io.stdout(
    `TOKEN=$(curl -s -X POST ${idp.issuer}/token -d subject=anna | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/') && ` +
      `curl -si ${url}/v1/chat/completions -H "authorization: Bearer $TOKEN" ` +
      `-H 'content-type: application/json' -H 'x-demo-country: DE' ` +
      `-d '{"model":"mythos-5","messages":[{"role":"user","content":"Summarise the export rules"}]}'\n\n`,
  );
  io.stdout(`# every decision above is in the signed audit log; check it independently\n`);
  io.stdout(`npx clearance audit verify ${url}/audit --key @${join(dataDir, "audit.vkey")}\n\n`);
  io.stdout(`Stop with Ctrl-C.\n`);
}

/** The demo's principals, every `.json` file of the directory, each checked as `principals add` does. */
function readPrincipals(io: Io, dir: string): Principal[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch (err) {
    throw new InvalidInputError([
      {
        code: "file_unreadable",
        path: ["--principals"],
        message: `cannot read the principals directory: ${(err as Error).message}`,
      },
    ]);
  }
  return files.sort().map((f) => readJsonWith(io, join(dir, f), "principal", (v) => parsePrincipal(v)));
}

/**
 * The keys an earlier run wrote (none the first time), read before anything starts: a file that is
 * not theirs (damaged, edited) is named, rather than a stack trace once the gateway is up.
 */
function readDemoKeys(file: string, warn: (line: string) => void): Record<string, string> {
  // Not existsSync: a symbolic link to nothing is there (and refused), not taken for no file.
  if (!present(file)) return {};
  const notKeys = (why: string) =>
    new SetupError(`${file} is not the demo's keys (${why}): remove it for the demo to make new ones`);
  const text = readExisting(file, "the demo's keys", "remove it for the demo to make new ones");
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (err) {
    throw notKeys(`not JSON: ${(err as Error).message}`);
  }
  if (
    typeof saved !== "object" ||
    saved === null ||
    Array.isArray(saved) ||
    !Object.values(saved).every((v) => typeof v === "string")
  ) {
    throw notKeys("want a JSON object of principal to key");
  }
  // Live API keys: others who can read them are the demo's principals.
  checkSecretMode(file, "the demo's keys", warn, "");
  return saved as Record<string, string>;
}

/** Reuses the keys of an earlier run while they are still live, so curl lines keep working. */
async function demoKeys(
  store: Store,
  file: string,
  saved: Readonly<Record<string, string>>,
): Promise<Map<string, string>> {
  const live = new Set((await store.keys.list()).filter((k) => k.revokedAt === null).map((k) => k.id));
  const keys = new Map<string, string>();
  for (const { principal } of DEMO_REQUESTS) {
    const key = saved[principal];
    const id = key?.split("_")[1];
    if (key !== undefined && id !== undefined && live.has(id)) keys.set(principal, key);
    else keys.set(principal, (await store.keys.create(principal, "demo", "demo")).key);
  }
  replaceFile(file, `${JSON.stringify(Object.fromEntries(keys), null, 2)}\n`);
  return keys;
}

/** Whether anything is at `path`, a symbolic link to nothing included. */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** An existing secret file's text; one that cannot be read (a link to nothing, say) is named. */
function readExisting(file: string, what: string, remedy: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    let why = (err as Error).message;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      try {
        why = `it is a symbolic link to ${readlinkSync(file)}, which is not there`;
      } catch {
        // Gone meanwhile: the read's own words.
      }
    }
    throw new SetupError(`${what} ${file} cannot be read (${why}): ${remedy}`);
  }
}

/**
 * Writes `file` (0600) as a new file of its own, renamed into place: a symbolic link planted at its
 * name is replaced, not written through, and a file made there meanwhile is not written into. A
 * crash leaves the old file or the new, never half of one.
 */
function replaceFile(file: string, text: string): void {
  const temporary = `${file}.${randomBytes(6).toString("hex")}.new`;
  writeFileSync(temporary, text, { mode: 0o600, flag: "wx" });
  try {
    renameSync(temporary, file);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

/**
 * The demo's admin token: the file's, else a new one written to it (32 characters). One the file
 * holds is held to what CLEARANCE_ADMIN_TOKEN is held to: a short one (written by hand, or an empty
 * file) would open the admin API and the console to a guess. Like the audit signing key, it must be
 * its user's alone: others who can read it are admins.
 */
function persistentSecret(file: string, warn: (line: string) => void): string {
  const secret = randomBytes(24).toString("base64url");
  try {
    // Made exclusively, not after a look for it: a symbolic link planted at its name is not written
    // through, and a file made there meanwhile is not overwritten (it is read, as any existing one).
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const token = readExisting(file, "the demo's admin token", "remove it for the demo to make one").trim();
  if (token.length < MIN_ADMIN_TOKEN || !/^[\x21-\x7e]+$/.test(token)) {
    throw new SetupError(
      `${file} holds ${token.length < MIN_ADMIN_TOKEN ? `${token.length} characters` : "a space, a line break or a character outside printable ASCII"}; ` +
        `the admin token needs at least ${MIN_ADMIN_TOKEN} printable ones, on one line: remove the file for the demo to make one, or write one (e.g. openssl rand -base64 32)`,
    );
  }
  checkSecretMode(file, "the demo's admin token", warn, "");
  return token;
}
