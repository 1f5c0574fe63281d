/**
 * The console's verifier against a log that moved on while it read: the server keeps the partial
 * tiles of its last two checkpoints only, so a verification of an older checkpoint reads the full
 * tiles instead (their first records are the partial's), as tlog-tiles lets a client.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { ask } from "../../../src/testing/admin.js";
import { startTestGateway, type TestGateway } from "../../../src/testing/gateway.js";
import { verifyEntry, verifyLog } from "./log.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ consoleDir: null });
});
afterAll(async () => {
  vi.unstubAllGlobals();
  await t.gateway.close();
});

it("verifies a checkpoint whose partial tiles the server has since removed, from the full tiles", async () => {
  for (const where of ["US", "FR", "IN"]) await ask(t, "alice", where);
  await t.gateway.audit.log.publish();
  const old = await (await fetch(`${t.url}/audit/checkpoint`)).text();
  const size = BigInt(old.split("\n")[1] as string);
  // The log moves on past the tile's end, two checkpoints later: the old widths' partials are gone.
  for (let i = 0; i < 260; i++) await ask(t, "alice", "US");
  await t.gateway.audit.log.publish();
  await ask(t, "alice", "US");
  await t.gateway.audit.log.publish();
  const width = Number(size);
  const gone = await fetch(`${t.url}/audit/tile/entries/000.p/${width}`);
  expect(gone.status).toBe(404);

  // The console asks for the old checkpoint (it read it before the log moved on).
  const realFetch = globalThis.fetch;
  vi.stubGlobal("fetch", (input: string, init?: RequestInit) =>
    input === "/audit/checkpoint"
      ? Promise.resolve(new Response(old))
      : realFetch(input.startsWith("/") ? `${t.url}${input}` : input, init),
  );
  const vkey = readFileSync(join(t.dataDir, "audit.vkey"), "utf8").trim();
  const verified = await verifyLog(vkey, () => undefined);
  expect(verified.entries).toBe(width);
  expect((await verifyEntry(vkey, size - 1n)).size).toBe(size);
});
