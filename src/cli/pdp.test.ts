/** `clearance serve --scheme`: SIGHUP reloads the scheme file; a file with errors leaves the running one. */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";

const dir = mkdtempSync(join(tmpdir(), "clearance-pdp-"));
const scheme = join(dir, "scheme.yaml");
copyFileSync("examples/g7-trusted-partners.yaml", scheme);
const child = spawn(
  process.execPath,
  ["--import", "tsx", "src/cli/main.ts", "serve", "--scheme", scheme, "--port", "0"],
  {
    stdio: ["ignore", "pipe", "pipe"],
  },
);
let out = "";
let err = "";
child.stdout.on("data", (c: Buffer) => (out += c.toString()));
child.stderr.on("data", (c: Buffer) => (err += c.toString()));
afterAll(() => void child.kill("SIGTERM"));

// However long a loaded machine takes to start a Node process: the test's time limit is the guard.
const until = (ok: () => boolean) => eventually(async () => ok(), Boolean);

describe("the decision API on its own", () => {
  it(
    "reloads the scheme on SIGHUP, and keeps it when the new file has errors",
    { timeout: 30_000 },
    async () => {
      await until(() => /decision API on (http:\/\/\S+)/.test(out));
      const url = /decision API on (http:\/\/\S+)/.exec(out)![1]!;
      const digest = async () =>
        ((await (await fetch(`${url}/healthz`)).json()) as { scheme: { digest: string } }).scheme.digest;
      const first = await digest();

      writeFileSync(
        scheme,
        readFileSync(scheme, "utf8").replace(
          "embargoed: [EAR_E1, EAR_E2]",
          "embargoed: [EAR_E1, EAR_E2, BY]",
        ),
      );
      child.kill("SIGHUP");
      await until(() => out.includes("reloaded scheme"));
      const second = await digest();
      expect(second).not.toBe(first);

      writeFileSync(scheme, "version: 1\nname: broken\n");
      child.kill("SIGHUP");
      await until(() => err.includes("scheme reload failed"));
      expect(err).toContain("home: required field is missing");
      expect(await digest()).toBe(second);
    },
  );
});
