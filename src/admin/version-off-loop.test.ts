/**
 * A large stored scheme version is read off the event loop, once: activating it reads it in a worker
 * thread (not three times on the event loop: the route, activateVersion, the reload after), and a
 * version read or a what-if of it the same way, and one activated through another node at this
 * node's reload. Meanwhile the node keeps serving: a gateway request (an admin read, during the
 * reload) is answered before the activation, the read or the reload is.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { forgetReadVersions } from "../control/read-version.js";
import { activateVersion, addVersion } from "../control/seed.js";
import { openStore, type Store } from "../store/index.js";
import { ask, call, createIdentity } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");

/** The example with `count` more (pending) licenses named `prefix`-i: about 200 bytes each. */
function withLicenses(count: number, prefix: string): string {
  const out = [EXAMPLE.endsWith("\n") ? EXAMPLE : `${EXAMPLE}\n`];
  for (let i = 0; i < count; i++)
    out.push(
      `  - {id: ${prefix}-${i}, licensee: {principal: p-${i}}, models: [mythos-5], actions: [infer], ` +
        `destinations: [GB], valid_from: 2026-01-01, valid_until: 2028-01-01, status: pending}\n`,
    );
  return out.join("");
}

/** Named, not imported: on a release without it, nothing is published and the tests below say so. */
const READ_CHANNEL = "clearance:scheme-version-read";

interface ReadEvent {
  readonly file: string;
  readonly chars: number;
  readonly thread: boolean;
}

/** Every reading of a version's text (not found read already), as its channel publishes it. */
let reads: ReadEvent[] = [];
const listener = (message: unknown) => void reads.push(message as ReadEvent);
beforeEach(() => {
  reads = [];
  subscribe(READ_CHANNEL, listener);
});
afterEach(() => void unsubscribe(READ_CHANNEL, listener));

/** The next reading of a version in a thread, once its thread is running. */
function threadStarted(): Promise<"thread"> {
  return new Promise((resolve) => {
    const started = (message: unknown) => {
      if (!(message as ReadEvent).thread) return;
      unsubscribe(READ_CHANNEL, started);
      resolve("thread");
    };
    subscribe(READ_CHANNEL, started);
  });
}

let t: TestGateway;
/** Another node: a second store handle on the same SQLite file. */
let other: Store;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway();
  tok.viewer = await createIdentity(t, "viewer@version", ["viewer"]);
  tok.officer = await createIdentity(t, "officer@version", ["compliance-officer"]);
  tok.admin = await createIdentity(t, "admin@version", ["admin"]);
  other = await openStore({ dataDir: t.dataDir });
}, 60_000);
afterAll(async () => {
  await other?.close();
  await t?.gateway.close();
});

const as = (who: string, method: string, path: string, body?: unknown) =>
  call(t, tok[who] ?? null, method, path, body);

/**
 * Runs `work` (a large version's read), and a gateway request once the version's reading thread has
 * started: the request must be answered first. Read on the event loop, `work` is answered before
 * any thread starts, and before the request is even sent.
 */
async function answeredMeanwhile<T>(
  work: () => Promise<T>,
  meanwhile: () => Promise<{ status: number }> = () => ask(t, "alice", "GB"),
): Promise<T> {
  const started = threadStarted();
  let done = false;
  const working = work().then((r) => {
    done = true;
    return r;
  });
  await Promise.race([started, working]);
  const other = await meanwhile();
  expect(done, "done before the request made meanwhile was answered").toBe(false);
  expect(other.status).toBe(200);
  return working;
}

describe("a large scheme version", () => {
  it("is activated reading it once, in a thread: a gateway request is answered meanwhile", async () => {
    // 8,000 licenses (1.4 MB): seconds of parsing, where a gateway request takes milliseconds.
    const uploaded = await as("officer", "POST", "/admin/v1/schemes", { yaml: withLicenses(8_000, "A") });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    const version = uploaded.body.version as number;
    reads = [];
    const r = await answeredMeanwhile(() =>
      as("admin", "POST", `/admin/v1/schemes/${version}/activate`, { reason: "a large version" }),
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version, active: true });
    expect(r.body.not_yet_in_force).toBeUndefined();
    // Once, in the thread: activateVersion and the reload after found it read.
    expect(reads.map(({ file, thread }) => ({ file, thread }))).toEqual([
      { file: `version ${version}`, thread: true },
    ]);
    const versions = await as("viewer", "GET", "/admin/v1/schemes");
    expect(versions.body.data.find((v: { version: number }) => v.version === version)?.active).toBe(true);
  }, 600_000);

  it("is read in a thread for its page, once: a gateway request is answered meanwhile", async () => {
    const uploaded = await as("officer", "POST", "/admin/v1/schemes", { yaml: withLicenses(8_000, "B") });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    const version = uploaded.body.version as number;
    reads = [];
    const r = await answeredMeanwhile(() => as("viewer", "GET", `/admin/v1/schemes/${version}`));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version, active: false, diff: { identical: false } });
    // Against the active version (the A licenses): 8,000 gone, 8,000 new.
    expect(r.body.diff.changes).toHaveLength(16_000);
    expect(reads).toEqual([{ file: `scheme version ${version}`, chars: expect.any(Number), thread: true }]);

    // Read again, and its what-if: found read.
    const again = await as("viewer", "GET", `/admin/v1/schemes/${version}`);
    expect(again.body).toEqual(r.body);
    const whatIf = await as("officer", "POST", `/admin/v1/schemes/${version}/what-if`, {});
    expect(whatIf.status, JSON.stringify(whatIf.body)).toBe(200);
    expect(reads).toHaveLength(1);
  }, 600_000);

  it("activated through another node is read in a thread at this node's reload: requests are answered meanwhile", async () => {
    // This node's poll stopped: it reloads when told (SQLite has no notification).
    t.gateway.snapshot.stop();
    await t.gateway.snapshot.refresh();
    const now = new Date().toISOString();
    const { version } = await addVersion(other, withLicenses(8_000, "C"), "officer@elsewhere", now);
    await activateVersion(other, version, "admin@elsewhere", now, { reason: "through another node" });
    // Read by the other node (this process): this node has not read it.
    forgetReadVersions();
    reads = [];
    // An admin read: the gateway's own answer would be policy_unconfirmed once the snapshot is
    // older than freshness_ms (this node's poll is stopped, and a reload holds the next one back).
    await answeredMeanwhile(
      () => t.gateway.snapshot.refresh(),
      () => as("viewer", "GET", "/admin/v1/schemes"),
    );
    expect(t.gateway.snapshot.current.control.active.document.version).toBe(version);
    expect(t.gateway.snapshot.current.control.reloadFailure).toBeUndefined();
    expect(reads).toEqual([{ file: `scheme version ${version}`, chars: expect.any(Number), thread: true }]);
    t.gateway.snapshot.start(50);
  }, 600_000);
});
