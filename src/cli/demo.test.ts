/** `npm start` as a user runs it: the demo prints curl lines, and each does what its comment says. */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dataDir = mkdtempSync(join(tmpdir(), "clearance-demo-"));
const child = spawn(
  process.execPath,
  ["--import", "tsx", "src/cli/main.ts", "demo", "--data-dir", dataDir, "--port", "0"],
  {
    stdio: ["ignore", "pipe", "pipe"],
  },
);
let output = "";
child.stdout.on("data", (c: Buffer) => (output += c.toString()));
const ready = new Promise<void>((resolve, reject) => {
  child.stdout.on("data", () => output.includes("Stop with Ctrl-C") && resolve());
  child.once("exit", (code) => reject(new Error(`demo exited with ${code}: ${output}`)));
});
afterAll(() => void child.kill("SIGTERM"));

/** The parts of a printed `curl -si URL -H 'k: v' … -d '…'` line. */
function parseCurl(line: string) {
  const url = /curl -si? (\S+)/.exec(line)![1]!;
  const headers = Object.fromEntries([...line.matchAll(/-H '([^:]+): ([^']*)'/g)].map((m) => [m[1]!, m[2]!]));
  const body = /-d '(.*)'$/.exec(line)?.[1];
  return { url, headers, body };
}

describe("the quickstart demo", () => {
  it("every printed curl line gets the decision its comment announces", { timeout: 30_000 }, async () => {
    await ready;
    const lines = output.split("\n");
    const checked: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const comment = /^# .*\((fallback, )?([a-z-]+)\)$/.exec(lines[i]!);
      if (comment === null || !lines[i + 1]?.startsWith("curl")) continue;
      const { url, headers, body } = parseCurl(lines[i + 1]!);
      const res = await fetch(url, { method: "POST", headers, ...(body === undefined ? {} : { body }) });
      expect(res.headers.get("x-clearance-reason"), lines[i]).toBe(comment[2]);
      expect(res.headers.get("x-clearance-decision"), lines[i]).toBe(
        comment[1] ? "fallback" : comment[2] === "embargoed-location" ? "deny" : "allow",
      );
      checked.push(comment[2]!);
    }
    expect(checked).toEqual([
      "home-person",
      "partner-country",
      "partner-organization",
      "no-authorization",
      "embargoed-location",
      "license",
    ]);
  });
});

describe("the demo's partner identity provider", () => {
  it(
    "the printed token line gets a token from the demo IdP and is allowed with it",
    { timeout: 30_000 },
    async () => {
      await ready;
      const lines = output.split("\n");
      const at = lines.findIndex((l) => l.startsWith("TOKEN=$(curl"));
      expect(lines[at - 1]).toMatch(/identity provider .*\(partner-country\)$/);
      // As a user would: the line itself, in a shell (curl and sed).
      const run = spawnSync("bash", ["-c", lines[at]!], { encoding: "utf8", timeout: 20_000 });
      expect(run.stdout).toMatch(/^x-clearance-decision: allow/im);
      expect(run.stdout).toMatch(/^x-clearance-reason: partner-country/im);
    },
  );
});
