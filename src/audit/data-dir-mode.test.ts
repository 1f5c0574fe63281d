/**
 * An existing data directory was used whatever its mode (only a new one is made 0700): one others
 * may write to lets them replace the audit signing key, the write-ahead file or the store. As ssh
 * does with the directories above its keys, start-up refuses a directory of this user's that group
 * or others may write to, naming it and the chmod; one they may only read or list is warned of (its
 * files are 0600 already). Another user's directory (a mounted volume) cannot be chmod'ed by the
 * gateway: warned of when anyone may write to it.
 */
import { chmodSync, chownSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SetupError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { openAuditLogged } from "../testing/audit.js";

const ORIGIN = "data-dir-mode.example/audit";
const posix = process.platform !== "win32" && process.getuid !== undefined;
const closing: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closing.reverse()) await close();
});

/** Opens the audit log in a data directory of `mode` (made first, as an operator or a volume would). */
async function open(mode: number, owner?: number): Promise<{ dataDir: string; lines: string[] }> {
  const dataDir = join(mkdtempSync(join(tmpdir(), "clearance-data-dir-")), "data");
  const store: Store = await openStore({ dataDir });
  closing.push(() => store.close());
  chmodSync(dataDir, mode);
  if (owner !== undefined) chownSync(dataDir, owner, owner);
  const { lines } = await openAuditLogged({ dataDir, origin: ORIGIN, store }, closing);
  return { dataDir, lines: lines.filter((l) => !l.includes("created audit signing key")) };
}

describe.skipIf(!posix)("the data directory's mode", () => {
  it.each(["770", "720", "707", "777", "1777", "2770"])(
    "refuses a directory of this user's that others may write to (mode %s)",
    async (mode) => {
      const err = await open(Number.parseInt(mode, 8)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SetupError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `the data directory .*data is writable by others \\(mode ${mode.slice(-3)}\\): run chmod 700 .*data`,
        ),
      );
    },
  );

  it.each(["750", "755", "705"])(
    "opens a directory of this user's that others may read (mode %s), with a warning",
    async (mode) => {
      const { dataDir, lines } = await open(Number.parseInt(mode, 8));
      expect(lines).toEqual([
        `clearance: warning: the data directory ${dataDir} is readable by others (mode ${mode}); run chmod 700 ${dataDir}`,
      ]);
      expect(statSync(dataDir).mode & 0o777).toBe(Number.parseInt(mode, 8)); // left as it is
    },
  );

  it("opens a directory of mode 700 without a word", async () => {
    expect((await open(0o700)).lines).toEqual([]);
  });

  // Only root can give the directory to another user here.
  it.skipIf(process.getuid?.() !== 0)(
    "opens another user's directory (a mounted volume), warning only when anyone may write to it",
    async () => {
      expect((await open(0o2775, 10_001)).lines).toEqual([]);
      const { dataDir, lines } = await open(0o777, 10_001);
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(
            `^clearance: warning: the data directory ${dataDir} is writable by every user \\(mode 777\\)`,
          ),
        ),
      ]);
    },
  );
});
