/**
 * `clearance serve` says it is up only once SIGTERM and SIGINT stop it cleanly: a supervisor (or a
 * test) that signals on reading the line must find the handler. Before, the gateway's line came
 * first, and a SIGTERM sent on reading it killed the gateway with the signal's default action (a CI
 * run: exit by signal, not 0). In process, so that the moment of the line is seen exactly.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { run } from "./program.js";

const dir = mkdtempSync(join(tmpdir(), "clearance-serve-signal-"));
copyFileSync("examples/g7-trusted-partners.yaml", join(dir, "scheme.yaml"));
writeFileSync(
  join(dir, "clearance.yaml"),
  [
    "scheme: scheme.yaml",
    "listen: { host: 127.0.0.1, port: 0 }",
    "providers:",
    "  demo: { type: demo }",
    "default_provider: demo",
    "monitoring: { alerts: { enabled: false } }",
    "",
  ].join("\n"),
);

const SIGNALS = ["SIGTERM", "SIGINT"] as const;
const added = (signal: NodeJS.Signals, before: ReadonlySet<unknown>) =>
  process.listeners(signal).filter((l) => !before.has(l));

/**
 * Runs `clearance serve …` in this process; the listeners each signal had when the line saying it is
 * up was written; then stops it through the handler it set (process.exit held), as a signal would.
 */
async function serveAndStop(args: string[], upLine: RegExp) {
  const before = new Map(
    [...SIGNALS, "SIGHUP" as const].map((s) => [s, new Set<unknown>(process.listeners(s))]),
  );
  const atUpLine: Record<string, number> = {};
  let out = "";
  let err = "";
  const code = await run(["serve", ...args], {
    stdout: (text) => {
      if (upLine.test(text)) {
        for (const s of SIGNALS) atUpLine[s] = added(s, before.get(s)!).length;
      }
      out += text;
    },
    stderr: (text) => (err += text),
    stdin: () => null,
  });
  expect(code, err).toBe(0);
  expect(out).toMatch(upLine);
  // Stopped as SIGTERM would stop it: its handler closes the server, then exits 0.
  const exited = new Promise<unknown>((resolve) =>
    vi.spyOn(process, "exit").mockImplementation(((c?: number) => resolve(c)) as typeof process.exit),
  );
  const stop = added("SIGTERM", before.get("SIGTERM")!);
  expect(stop).toHaveLength(1);
  stop[0]!("SIGTERM");
  expect(await exited, err).toBe(0);
  // The SIGHUP handler serve sets stays for the process's life; a test process drops it.
  for (const l of added("SIGHUP", before.get("SIGHUP")!)) process.off("SIGHUP", l as () => void);
  return atUpLine;
}

afterEach(() => vi.restoreAllMocks());

describe("serve: the line saying it is up comes after the stop handlers", () => {
  it("the gateway (--config)", { timeout: 60_000 }, async () => {
    const at = await serveAndStop(
      ["--config", join(dir, "clearance.yaml"), "--data-dir", join(dir, "data")],
      /gateway on http:/,
    );
    expect(at).toEqual({ SIGTERM: 1, SIGINT: 1 });
  });

  it("the decision API alone (--scheme)", { timeout: 60_000 }, async () => {
    const at = await serveAndStop(
      ["--scheme", join(dir, "scheme.yaml"), "--port", "0"],
      /decision API on http:/,
    );
    expect(at).toEqual({ SIGTERM: 1, SIGINT: 1 });
  });
});
