/**
 * An existing audit signing key was read whatever its mode: a key others could read (a copy made
 * with the umask's 0644) let them sign checkpoints. Like ssh, a key file of this user's with any
 * group or other bit is refused, naming the file and the chmod; one owned by another user (a
 * mounted Secret) cannot be chmod'ed by the gateway, and is warned of when anyone may read it.
 */
import { chmodSync, chownSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SetupError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { openAuditLogged } from "../testing/audit.js";
import { writeKeyPair, type OpenAudit } from "./index.js";

const ORIGIN = "key-mode.example/audit";
const posix = process.platform !== "win32" && process.getuid !== undefined;
const closing: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closing.reverse()) await close();
});

async function open(
  mode: number,
  owner?: number,
): Promise<{ audit: OpenAudit; keyFile: string; lines: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-key-mode-"));
  const keyFile = join(dataDir, "signing.key");
  writeKeyPair(keyFile, ORIGIN);
  chmodSync(keyFile, mode);
  if (owner !== undefined) chownSync(keyFile, owner, owner);
  const store: Store = await openStore({ dataDir });
  closing.push(() => store.close());
  const { audit, lines } = await openAuditLogged({ dataDir, origin: ORIGIN, keyFile, store }, closing);
  return { audit, keyFile, lines };
}

describe.skipIf(!posix)("the audit signing key file's mode", () => {
  it.each(["644", "640", "604", "620"])("refuses a key file of this user's with mode %s", async (mode) => {
    const err = await open(Number.parseInt(mode, 8)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SetupError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `signing key .*signing\\.key is readable or writable by others \\(mode ${mode}\\): run chmod 600 .*signing\\.key`,
      ),
    );
  });

  it.each(["600", "400"])("opens a key file of mode %s without a word", async (mode) => {
    const { audit, lines } = await open(Number.parseInt(mode, 8));
    expect(audit.kind).toBe("local");
    expect(lines).toEqual([]);
  });

  // Only root can give the file to another user here.
  it.skipIf(process.getuid?.() !== 0)(
    "opens another user's key (a mounted Secret), warning only when anyone may read it",
    async () => {
      expect((await open(0o440, 10_001)).lines).toEqual([]);
      const { audit, lines } = await open(0o644, 10_001);
      expect(audit.kind).toBe("local");
      expect(lines).toEqual([
        expect.stringMatching(
          /warning: the audit signing key .* is readable or writable by every user \(mode 644\)/,
        ),
      ]);
    },
  );
});
