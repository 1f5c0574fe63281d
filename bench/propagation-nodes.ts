/**
 * The two nodes of `npm run bench:propagation`: `clearance serve` processes built from dist/, each
 * with its own config and data dir in the bench's temporary directory, over one PostgreSQL schema.
 */
import { fork, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { repoRoot, sibling, track } from "./gateway-procs.js";
import type { FreshSchema } from "./postgres.js";

export interface GatewayNode {
  readonly name: string;
  readonly url: string;
  readonly proc: ChildProcess;
}

/** dist/src/cli/main.js, next to dist/bench/. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");

export async function startNode(
  name: string,
  dir: string,
  db: FreshSchema,
  token: string,
  refreshMs: number | undefined,
): Promise<GatewayNode> {
  const config = join(dir, `${name}.yaml`);
  // JSON strings are valid YAML scalars, so paths with any characters stay intact.
  writeFileSync(
    config,
    `scheme: ${JSON.stringify(join(repoRoot(), "examples", "g7-trusted-partners.yaml"))}
data_dir: ${JSON.stringify(join(dir, name))}
store: { driver: postgres }
listen: { host: 127.0.0.1, port: 0 }
providers: { demo: { type: demo } }
default_provider: demo
location: { header: x-demo-country, trusted_proxies: [127.0.0.1/32, "::1/128"] }
audit: { node: ${JSON.stringify(name)}, key_file: ${JSON.stringify(join(dir, "audit.key"))} }
${refreshMs === undefined ? "" : `refresh_ms: ${refreshMs}\n`}`,
  );
  const proc = track(
    fork(CLI, ["serve", "--config", config], {
      execArgv: ["--import", pathToFileURL(sibling("exit-with-parent")).href],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, DATABASE_URL: db.url, CLEARANCE_ADMIN_TOKEN: token },
    }),
  );
  // The node's own messages on stderr are passed on, except the first-start notice of its key.
  const tail: string[] = [];
  let pending = "";
  let failedToStart: (() => void) | undefined;
  proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (!/created audit signing key/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
      // `clearance serve` reports a failed start this way; its stack follows within moments.
      if (/unexpected error/.test(line) && failedToStart !== undefined) setTimeout(failedToStart, 300);
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${why}\n${[...tail, pending].join("\n")}`));
    };
    const timer = setTimeout(() => fail("not listening after 60 s"), 60_000);
    const onExit = (code: number | null, signal: string | null) =>
      fail(`exited (${code ?? signal}) before it listened`);
    proc.once("exit", onExit);
    failedToStart = () => {
      proc.off("exit", onExit);
      fail("failed to start");
    };
    proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const m = /\bhttps?:\/\/[^\s/]+/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        proc.off("exit", onExit);
        failedToStart = undefined;
        resolve(m[0]);
      }
    });
  });
  return { name, url, proc };
}
