/** `clearance serve` (the gateway): SIGHUP, sent by habit or by a log rotator, never stops it. */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "clearance-serve-hup-"));
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
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "serve",
    "--config",
    join(dir, "clearance.yaml"),
    "--data-dir",
    join(dir, "data"),
  ],
  { stdio: ["ignore", "pipe", "pipe"] },
);
let out = "";
let err = "";
let exited: string | null = null;
child.stdout.on("data", (c: Buffer) => (out += c.toString()));
child.stderr.on("data", (c: Buffer) => (err += c.toString()));
child.once("exit", (code, signal) => (exited = `code ${code}, signal ${signal}`));
afterAll(() => void child.kill("SIGTERM"));

// Up to a minute: a loaded machine starts a Node process slowly; the test's time limit is the guard.
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 2400 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
};

describe("the gateway on SIGHUP", () => {
  it("says scheme changes go through the admin API, and keeps serving", { timeout: 60_000 }, async () => {
    await until(() => /gateway on (http:\/\/\S+)/.test(out) || exited !== null);
    const url = /gateway on (http:\/\/\S+)/.exec(out)?.[1];
    expect(url, err).toBeDefined();
    child.kill("SIGHUP");
    await until(() => err.includes("SIGHUP") || exited !== null);
    expect(exited).toBeNull();
    expect(err).toMatch(/SIGHUP ignored.*admin API/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});
