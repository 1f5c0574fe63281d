/**
 * Partial tiles of a size never signed: a publishing round writes the partials of its size before
 * it signs, so one that fails there (the signing key unusable, the checkpoint unwritable) and then a
 * crash leaves them on disk. Where later checkpoints skipped their tile, nothing removed them: they
 * stayed, served under /audit/tile/… for ever, bundles of entries no checkpoint had covered at that
 * width. Start-up now removes every partial beyond the signed checkpoint; the signed ones stay.
 */
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { AuditLog } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey, type NoteSigner } from "./note.js";
import { directorySource } from "./source.js";
import { verifyLog } from "./verify.js";

const ORIGIN = "orphans.example/audit";
const keys = generateKey(ORIGIN);
const signer = parseSignerKey(keys.privateKey);

/** The real signer, refusing to sign while `broken` (a round then fails after writing its partials). */
const flaky = { broken: false };
const flakySigner: NoteSigner = {
  name: signer.name,
  keyId: signer.keyId,
  sign: (message) => {
    if (flaky.broken) throw new Error("the signing key is unusable");
    return signer.sign(message);
  },
};

const errors: unknown[] = [];
const options = (dataDir: string) => ({
  dir: join(dataDir, "audit"),
  walPath: join(dataDir, "audit.wal"),
  origin: ORIGIN,
  signer: flakySigner,
  verifier: parseVerifierKey(keys.verifierKey),
  checkpointMs: 60_000,
  onError: (err: unknown) => errors.push(err),
});
const entry = (i: number) => Buffer.from(JSON.stringify({ i }));
async function appendMany(log: AuditLog, from: number, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, k) => log.append(entry(from + k))));
}

it("removes at start-up the partial tiles of a round that failed before signing, keeping the signed ones", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-orphans-"));
  const tiles = join(dataDir, "audit", "tile");
  const partials = () =>
    (readdirSync(tiles, { recursive: true }) as string[]).filter((f) => /\.p\/[0-9]+$/.test(f)).sort();
  const first = await AuditLog.open(options(dataDir));
  await appendMany(first, 0, 250);
  await first.publish(); // signed: 250
  await appendMany(first, 250, 50);
  flaky.broken = true;
  try {
    await expect(first.publish()).rejects.toThrow(/signing key is unusable/); // 300: partials, no checkpoint
  } finally {
    flaky.broken = false;
  }
  await appendMany(first, 300, 90); // durable, never integrated: the process dies here
  expect(partials()).toEqual([
    "0/000.p/250",
    "0/001.p/44",
    "1/000.p/1",
    "entries/000.p/250",
    "entries/001.p/44",
  ]);

  const log = await AuditLog.open(options(dataDir));
  await log.legacySwept;
  expect(log.published?.size).toBe(390n);
  // Tile 1 is full at 390, and 300 was never signed: its partials are gone with tile 0's.
  expect(partials()).toEqual(["0/001.p/134", "1/000.p/1", "entries/001.p/134"]);
  expect(existsSync(join(tiles, "0/001.p/44"))).toBe(false);
  await log.close();
  const result = await verifyLog(directorySource(join(dataDir, "audit")), { verifierKey: keys.verifierKey });
  expect(result.checkpoint.size).toBe(390n);
  expect(errors).toEqual([]);
  await first.close().catch(() => undefined);
});

it("keeps every width a signed checkpoint had, and removes an unsigned one between them", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-orphans-"));
  const tiles = join(dataDir, "audit", "tile");
  const partials = () =>
    (readdirSync(tiles, { recursive: true }) as string[]).filter((f) => /\.p\/[0-9]+$/.test(f)).sort();
  const first = await AuditLog.open(options(dataDir));
  await appendMany(first, 0, 10);
  await first.publish(); // signed: 10
  await appendMany(first, 10, 10);
  await first.publish(); // signed: 20
  await appendMany(first, 20, 10);
  flaky.broken = true;
  try {
    await expect(first.publish()).rejects.toThrow(/signing key is unusable/); // 30: never signed
  } finally {
    flaky.broken = false;
  }
  await appendMany(first, 30, 10); // durable: the process dies here
  expect(partials()).toContain("0/000.p/30");

  // Clients may still read the checkpoints of 10 and 20 (tile 0 is not full): theirs stay.
  const log = await AuditLog.open(options(dataDir));
  expect(log.published?.size).toBe(40n);
  const widths = ["10", "20", "40"];
  expect(partials()).toEqual([
    ...widths.map((w) => `0/000.p/${w}`),
    ...widths.map((w) => `entries/000.p/${w}`),
  ]);
  await log.close();
  await first.close().catch(() => undefined);
  expect(errors).toEqual([]);
});
