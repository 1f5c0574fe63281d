import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { WorkerTimeoutError, runWorker } from "./index.js";

/** Worker scripts written for the test (plain CommonJS, so no TypeScript loader is involved). */
const dir = mkdtempSync(join(tmpdir(), "clearance-threads-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = pathToFileURL(join(dir, "caller.js")).href;

function worker(name: string, body: string): string {
  writeFileSync(
    join(dir, `${name}.js`),
    `const { parentPort, workerData } = require("node:worker_threads");\n${body}\n`,
  );
  return name;
}

/** Message ports still open in this process (a live worker holds one). */
const ports = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length;

async function settled(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail("the worker's promise resolved"),
    (err: unknown) => err,
  );
}

describe("runWorker", () => {
  it("resolves with the worker's one message, its transferred buffer intact", async () => {
    const name = worker(
      "answer",
      "const a = new Int32Array(workerData.n).map((_, i) => i * 2); parentPort.postMessage(a, [a.buffer]);",
    );
    const answer = await runWorker<Int32Array>(base, name, { n: 1000 });
    expect(answer).toBeInstanceOf(Int32Array);
    expect(answer.length).toBe(1000);
    expect(answer[999]).toBe(1998);
  });

  it("ends the worker once it has answered, even one that would run on", async () => {
    const before = ports();
    const name = worker("lingers", "parentPort.postMessage(1); setInterval(() => {}, 1000);");
    await expect(runWorker(base, name, null)).resolves.toBe(1);
    await expect.poll(ports).toBe(before);
  });

  it("rejects with the worker's Error as thrown", async () => {
    const name = worker("throws-error", 'const e = new Error("bad line 3"); e.code = "E_LINE"; throw e;');
    const err = await settled(runWorker(base, name, null));
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ message: "bad line 3", code: "E_LINE" });
  });

  it.each([
    ["null", "throw null;", /worker thread failed: null/],
    ["undefined", "throw undefined;", /worker thread failed: undefined/],
    ["a string", 'throw "boom";', /worker thread failed: boom/],
    ["a number", "throw 42;", /worker thread failed: 42/],
    ["a plain object", 'throw { message: "half an error" };', /worker thread failed: half an error/],
    ["an uncloneable answer", "parentPort.postMessage(() => 1);", /worker thread failed/],
  ])("rejects with an Error, naming the worker, when it throws %s", async (_, body, message) => {
    const name = worker(`throws-${_.replace(/\W/g, "-")}`, body);
    const err = await settled(runWorker(base, name, null));
    // A caller reads err.code (the screening import does): null or a string would make that a TypeError.
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`the ${name} worker thread`);
  });

  it("rejects when the worker ends without answering", async () => {
    const quiet = worker("quiet", "");
    await expect(runWorker(base, quiet, null)).rejects.toThrow(
      "the quiet worker thread stopped with exit code 0 before answering",
    );
    const exits = worker("exits", "process.exit(3);");
    await expect(runWorker(base, exits, null)).rejects.toThrow(/exit code 3 before answering/);
  });

  it("rejects past its heap limit with ERR_WORKER_OUT_OF_MEMORY", async () => {
    const name = worker(
      "hungry",
      "const keep = []; for (;;) keep.push(new Array(100000).fill({ x: keep.length }));",
    );
    const err = await settled(
      runWorker(base, name, null, { resourceLimits: { maxOldGenerationSizeMb: 16 } }),
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: unknown }).code).toBe("ERR_WORKER_OUT_OF_MEMORY");
  });

  it("stops a worker that never answers nor exits at its time limit, and says so", async () => {
    const before = ports();
    // Spins on the CPU for ever: no message, no exit, no event loop turn.
    const name = worker("spins", "for (;;) {}");
    const err = await settled(runWorker(base, name, null, { timeoutMs: 200 }));
    expect(err).toBeInstanceOf(WorkerTimeoutError);
    expect(err).toMatchObject({ code: "ERR_WORKER_TIMEOUT", worker: "spins", timeoutMs: 200 });
    expect((err as Error).message).toBe(
      "the spins worker thread did not answer within 200 ms and was stopped",
    );
    // The thread is gone, not left spinning on its core.
    await expect.poll(ports).toBe(before);
  });

  it("a worker that answers within its time limit resolves, and the limit is not kept after", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const name = worker("prompt", "parentPort.postMessage(workerData * 2);");
    await expect(runWorker(base, name, 21, { timeoutMs: 60_000 })).resolves.toBe(42);
    // An answered run holds no timer: nothing of it keeps the process up for the minute. (At most
    // as many as before: a timer an earlier test left, such as a poll's, may end meanwhile.)
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it("refuses a time limit that is not positive", async () => {
    await expect(runWorker(base, "prompt", 1, { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(runWorker(base, "prompt", 1, { timeoutMs: Number.NaN })).rejects.toThrow(RangeError);
  });

  it("rejects when the worker's module cannot be loaded", async () => {
    await expect(runWorker(base, "missing", null)).rejects.toThrow(/missing/);
  });
});
