/**
 * A large scheme upload is read in a worker thread: while its YAML is parsed, the node keeps serving
 * (a gateway request and an admin read are answered before the upload is), and a large bad upload is
 * refused with every problem placed, as a small one is.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadThreadChannel } from "../control/upload.js";
import { ask, call, createIdentity, type Reply } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");

/** The example with `count` more (pending) licenses: about 200 bytes each. */
function withLicenses(count: number): string {
  const out = [EXAMPLE.endsWith("\n") ? EXAMPLE : `${EXAMPLE}\n`];
  for (let i = 0; i < count; i++)
    out.push(
      `  - {id: X-${i}, licensee: {principal: p-${i}}, models: [mythos-5], actions: [infer], ` +
        `destinations: [GB], valid_from: 2026-01-01, valid_until: 2028-01-01, status: pending}\n`,
    );
  return out.join("");
}

let t: TestGateway;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway();
  tok.viewer = await createIdentity(t, "viewer@upload", ["viewer"]);
  tok.officer = await createIdentity(t, "officer@upload", ["compliance-officer"]);
});
afterAll(() => t.gateway.close());

const upload = (yaml: string) => call(t, tok.officer ?? null, "POST", "/admin/v1/schemes", { yaml });

/** The next upload thread's start, as its channel says it. */
function threadStarted(): Promise<"thread"> {
  return new Promise((resolve) => {
    const started = () => {
      unsubscribe(uploadThreadChannel.name, started);
      resolve("thread");
    };
    subscribe(uploadThreadChannel.name, started);
  });
}

describe("a large scheme upload", () => {
  it("is read off the event loop: a gateway request and an admin read are answered before it", async () => {
    // 8,000 licenses (1.6 MB): seconds of parsing, where the requests below take milliseconds.
    const started = threadStarted();
    let answered: Reply | undefined;
    const uploading = upload(withLicenses(8_000)).then((r) => (answered = r));
    // Read on the event loop (before), the upload was answered before any thread started.
    await Promise.race([started, uploading]);
    const decision = await ask(t, "alice", "GB");
    expect(answered).toBeUndefined();
    expect(decision.status).toBe(200);
    const versions = await call(t, tok.viewer ?? null, "GET", "/admin/v1/schemes");
    expect(answered).toBeUndefined();
    expect(versions.status).toBe(200);
    const r = await uploading;
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ created: true, diff: { identical: false } });
    expect(r.body.diff.changes).toHaveLength(8_000);
  }, 300_000);

  it("with errors is refused with each problem placed in the upload, as a small one is", async () => {
    const bad = withLicenses(1_000).replace("destinations: [GB]", "destinations: [NOWHERE]");
    const r = await upload(bad);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: "invalid_request",
      problems: [expect.objectContaining({ code: "unknown_set", file: "uploaded scheme", line: 69 })],
    });
    const listed = await call(t, tok.viewer ?? null, "GET", "/admin/v1/schemes");
    expect(listed.body.data).toHaveLength(2);
  }, 120_000);
});
