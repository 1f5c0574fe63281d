import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePrincipal } from "../policy/index.js";
import { openStore } from "../store/index.js";
import { AuditLog, type AuditTrail } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { OutboxDrainer } from "./outbox.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);

describe("draining admin changes into the audit log", () => {
  it("a log that fails part-way through a batch: every change logged once, none twice", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const log = await AuditLog.open({
      dir: join(dataDir, "audit"),
      walPath: join(dataDir, "audit.wal"),
      origin: ORIGIN,
      signer: parseSignerKey(keys.privateKey),
      verifier: parseVerifierKey(keys.verifierKey),
      checkpointMs: 1000,
      onError: (err: unknown) => {
        throw err;
      },
    });
    // The log as the drainer sees it: it takes the first entry of the batch, then its disk fills
    // (the write-ahead file's group commit writes the first append alone, the rest together).
    const durable: Buffer[] = [];
    let takes = Infinity;
    const trail: AuditTrail = Object.create(log) as AuditTrail;
    trail.append = async (entry) => {
      if (takes-- <= 0) throw new Error("ENOSPC: no space left on device");
      const index = await log.append(entry);
      durable.push(Buffer.from(entry));
      return index;
    };
    for (const id of ["a", "b", "c"]) {
      await store.principals.put(parsePrincipal({ id, citizenships: [{ country: "US" }] }));
    }
    const drainer = new OutboxDrainer(store, trail, "node-1", 0);
    takes = 1;
    await expect(drainer.drain()).rejects.toThrow("ENOSPC");
    takes = Infinity; // the disk has room again
    await drainer.drain();
    const changes = durable.map((e) => (JSON.parse(e.toString()) as { change: number }).change);
    expect(changes).toEqual([1, 2, 3]);
    expect(await store.outbox.list(0, 10)).toEqual([]);
    await log.close();
    await store.close();
  });
});
