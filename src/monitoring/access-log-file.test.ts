/**
 * The access log to a file loses no line silently: a line that cannot be written (a full disk, a
 * directory gone) is counted in clearance_access_log_dropped_lines_total, the failure is said once
 * in the gateway's log, and the log goes on by itself once the file can be written again — it did
 * not, until a restart. A real file, and /dev/full for a disk that is full.
 */
import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  constants,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { parseConfig } from "../config/index.js";
import { eventually } from "../testing/admin.js";
import { observedRequest } from "../testing/observed.js";
import { openAccessLog } from "./access-log.js";
import { Monitoring } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "clearance-access-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const request = (requestId: string) => observedRequest({ requestId, startedAt: Date.now() });

async function open(destination: string, errors: unknown[]): Promise<Monitoring> {
  const config = parseConfig(
    `scheme: g7-trusted-partners.yaml\nproviders: { demo: { type: demo } }\ndefault_provider: demo\nmodels: { mythos-5: { provider: demo } }\nmonitoring: { alerts: { enabled: false }, access_log: { destination: ${JSON.stringify(destination)} } }\n`,
    join("examples", "test-clearance.yaml"),
    { CLEARANCE_ADMIN_TOKEN: "test-admin-token-0123456789abcdefghij" },
  );
  return Monitoring.open({
    config: config.file.monitoring,
    sources: {},
    authenticate: () => undefined,
    onError: (err) => errors.push(err),
  });
}

const dropped = async (m: Monitoring) =>
  Number(
    /^clearance_access_log_dropped_lines_total (\d+)$/m.exec((await m.metrics?.expose())?.text ?? "")?.[1] ??
      "-1",
  );

/** Waits until `done` holds: eventually(), bounded by the test's time limit, not one of its own. */
async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  await eventually(async () => done(), Boolean);
}

const lines = (path: string) =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => (JSON.parse(l) as { request_id: string }).request_id)
    : [];

it("counts the lines a full disk refuses, says so once, and writes again once it can", async () => {
  const path = join(dir, "full.log");
  symlinkSync("/dev/full", path); // every write: ENOSPC
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    expect(await dropped(m)).toBe(0);
    m.observe(request("r1"));
    await until(async () => (await dropped(m)) === 1);
    m.observe(request("r2"));
    m.observe(request("r3"));
    await until(async () => (await dropped(m)) === 3);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain(`the access log (${path}) cannot be written`);
    expect(String(errors[0])).toContain("ENOSPC");
    // Room again (the link replaced by a plain file): the next lines land, with no restart.
    rmSync(path);
    m.observe(request("r4"));
    await until(() => lines(path).includes("r4"));
    m.observe(request("r5"));
  } finally {
    await m.close();
  }
  expect(lines(path)).toEqual(["r4", "r5"]);
  expect(await dropped(m)).toBe(3);
  expect(errors).toHaveLength(1);
}, 20_000);

it("opens the file again once its directory is there", async () => {
  const sub = join(dir, "later");
  const path = join(sub, "access.log");
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    m.observe(request("a1"));
    await until(async () => (await dropped(m)) === 1);
    expect(String(errors[0])).toContain("ENOENT");
    mkdirSync(sub);
    m.observe(request("a2"));
    await until(() => lines(path).includes("a2"));
  } finally {
    await m.close();
  }
  expect(lines(path)).toEqual(["a2"]);
  expect(await dropped(m)).toBe(1);
  expect(errors).toHaveLength(1);
}, 20_000);

it("reopens the file by name after a rotator renamed it: earlier lines stay in the renamed file, none lost", async () => {
  const path = join(dir, "rotated.log");
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    m.observe(request("o1"));
    await until(() => lines(path).includes("o1"));
    // Accepted before the reopen, still buffered (or under way) when the file is renamed.
    m.observe(request("o2"));
    renameSync(path, `${path}.1`);
    m.observe(request("o3"));
    // Before: no reopen; every later line went on into the renamed file until a write failed.
    expect(await m.reopenAccessLog()).toBe(path);
    m.observe(request("n1"));
    m.observe(request("n2"));
  } finally {
    await m.close();
  }
  expect(lines(`${path}.1`)).toEqual(["o1", "o2", "o3"]);
  expect(lines(path)).toEqual(["n1", "n2"]);
  expect(await dropped(m)).toBe(0);
  expect(errors).toEqual([]);
}, 20_000);

it("reopens a file that could not be written as any other, and nothing for stdout", async () => {
  const path = join(dir, "reopen-missing", "access.log");
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    await until(() => errors.length === 1);
    mkdirSync(join(dir, "reopen-missing"));
    expect(await m.reopenAccessLog()).toBe(path);
    m.observe(request("m1"));
  } finally {
    await m.close();
  }
  expect(lines(path)).toEqual(["m1"]);
  const out = await open("stdout", errors);
  expect(await out.reopenAccessLog()).toBeNull();
  await out.close();
}, 20_000);

// Before: the new file's open failed after reopen() had resolved (its error came later, to the
// gateway's log only), so SIGHUP said "reopened" of a file that was not; and a reopen after close()
// had begun did nothing but still named the file.
it("a reopen whose file cannot be opened rejects with the reason; the log goes on once it can", async () => {
  const sub = join(dir, "rotated-away");
  const path = join(sub, "access.log");
  mkdirSync(sub);
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    m.observe(request("g1"));
    await until(() => lines(path).includes("g1"));
    renameSync(sub, `${sub}.old`);
    await expect(m.reopenAccessLog()).rejects.toThrow(/ENOENT/);
    expect(errors).toHaveLength(1);
    mkdirSync(sub);
    m.observe(request("g2"));
    await until(() => lines(path).includes("g2"));
  } finally {
    await m.close();
  }
  expect(lines(join(`${sub}.old`, "access.log"))).toEqual(["g1"]);
  expect(lines(path)).toEqual(["g2"]);
}, 20_000);

it("a reopen once close() has begun reopens nothing and says so (null)", async () => {
  const path = join(dir, "closing.log");
  const errors: unknown[] = [];
  const m = await open(path, errors);
  m.observe(request("k1"));
  const closing = m.close();
  expect(await m.reopenAccessLog()).toBeNull();
  await closing;
  expect(lines(path)).toEqual(["k1"]);
  expect(errors).toEqual([]);
  // The log itself, its close() begun: false, and no file opened that nobody would close.
  const log = openAccessLog({ destination: path, onError: (e) => errors.push(e) });
  const closed = log.close();
  expect(await log.reopen()).toBe(false);
  await closed;
  expect(errors).toEqual([]);
}, 20_000);

it("says a destination that cannot be opened at start, before any line is written", async () => {
  const path = join(dir, "nowhere", "access.log");
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    // Before: opened at the first line, so a wrong path was said only once traffic came.
    await until(() => errors.length === 1);
    expect(String(errors[0])).toContain(`the access log (${path}) cannot be written`);
    expect(String(errors[0])).toContain("ENOENT");
    expect(await dropped(m)).toBe(0);
  } finally {
    await m.close();
  }
}, 20_000);

it("says a failure of the last lines written at close", async () => {
  const path = join(dir, "full-at-close.log");
  symlinkSync("/dev/full", path);
  const errors: unknown[] = [];
  const m = await open(path, errors);
  m.observe(request("c1"));
  // Before: closing marked the log closed before its last chunk's failure came back: unsaid.
  await m.close();
  expect(errors).toHaveLength(1);
  expect(String(errors[0])).toContain("ENOSPC");
}, 20_000);

it("holds at most MAX_PENDING_BYTES a destination has not taken: beyond it lines are dropped and counted, none lost unseen", async () => {
  // A FIFO whose reader reads nothing yet: its pipe fills, as a hung mount's writes would stall.
  const path = join(dir, "stalled.fifo");
  execFileSync("mkfifo", [path]);
  const held = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const errors: unknown[] = [];
  const m = await open(path, errors);
  const total = 40_000; // about 16 MiB of lines (410 bytes each)
  let received: string[] = [];
  try {
    for (let i = 0; i < total; i++) m.observe(request(`s${i}`));
    await until(async () => (await dropped(m)) > 0);
    // A reader that reads comes (open before the idle one leaves: the pipe keeps what it holds
    // while any reader has it open); the log is closed and the reader sees its end.
    const reader = createReadStream(path, { encoding: "utf8" });
    await new Promise((r) => reader.once("open", r));
    closeSync(held);
    let text = "";
    reader.on("data", (c) => (text += String(c)));
    const ended = new Promise<void>((r) => reader.once("end", () => r()));
    await m.close();
    await ended;
    received = text.split("\n").filter((l) => l !== "");
  } finally {
    await m.close();
  }
  const lost = await dropped(m);
  expect(lost).toBeGreaterThan(0);
  expect(received.length).toBeGreaterThan(0);
  expect(received.length + lost).toBe(total);
  expect(errors).toEqual([]);
}, 60_000);

it("closes within its bound when the file takes nothing (a FIFO whose reader reads nothing): waiting lines dropped, counted and said", async () => {
  const path = join(dir, "never-read.fifo");
  execFileSync("mkfifo", [path]);
  const held = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const errors: unknown[] = [];
  const m = await open(path, errors);
  // More than the pipe holds (64 KiB): the rest waits.
  const total = 1_000;
  for (let i = 0; i < total; i++) m.observe(request(`n${i}`));
  // Before: close() waited for the FIFO's reader for ever, holding the gateway's shutdown.
  await m.close();
  const lost = await dropped(m);
  expect(lost).toBeGreaterThan(0);
  expect(errors).toHaveLength(1);
  expect(String(errors[0])).toContain("took nothing");
  // Every line reached the reader whole or is counted (the chunk under way when the file was
  // destroyed is counted whole, though the pipe may hold its start).
  let text = "";
  const buffer = Buffer.alloc(65_536);
  // Read to the end: what the pipe holds now, asked again (eventually()) while the writer's end is
  // not yet closed (EAGAIN), until the end of file.
  await eventually(
    async () => {
      for (;;) {
        let n: number;
        try {
          n = readSync(held, buffer);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
          return { ended: false, read: text.length };
        }
        if (n === 0) return { ended: true, read: text.length };
        text += buffer.toString("utf8", 0, n);
      }
    },
    (seen) => seen.ended,
  );
  closeSync(held);
  const whole = text.split("\n").filter((l) => l.endsWith("}"));
  expect(whole.length + lost).toBeGreaterThanOrEqual(total);
}, 30_000);

// Before: the open for writing waited for a reader, unbounded, in one of libuv's four threads
// (each SIGHUP one more): SIGHUP never answered, and close() alone ended the wait.
it("a reopen onto a FIFO no process reads is refused at once, saying so; the log goes on once a reader comes", async () => {
  const path = join(dir, "shipper.log");
  const errors: unknown[] = [];
  const m = await open(path, errors);
  let text = "";
  try {
    m.observe(request("f1"));
    await until(() => lines(path).includes("f1"));
    renameSync(path, `${path}.1`);
    execFileSync("mkfifo", [path]);
    const refused = m.reopenAccessLog();
    await expect(refused).rejects.toThrow(
      `ENXIO: no such device or address, open '${path}' (a FIFO no process has open for reading: its lines are dropped until its reader opens it)`,
    );
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain(`the access log (${path}) cannot be written: ENXIO`);
    m.observe(request("f2"));
    await until(async () => (await dropped(m)) === 1);
    // Its reader (a log shipper) comes: the next lines reach it, with no signal.
    // (Opened without waiting for a writer, as a shipper's open would wait for the log's next chunk.)
    const reader = new Socket({
      fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK),
      writable: false,
    });
    reader.on("data", (c) => (text += String(c)));
    m.observe(request("f3"));
    await until(() => text.includes('"f3"'));
    reader.destroy();
  } finally {
    await m.close();
  }
  expect(lines(`${path}.1`)).toEqual(["f1"]);
  expect(await dropped(m)).toBe(1);
  expect(errors).toHaveLength(1);
}, 20_000);

it("says at start a FIFO no process reads, as any destination that cannot be opened", async () => {
  const path = join(dir, "unread-at-start.fifo");
  execFileSync("mkfifo", [path]);
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    await until(() => errors.length === 1);
    expect(String(errors[0])).toContain(`the access log (${path}) cannot be written: ENXIO`);
    expect(String(errors[0])).toContain("a FIFO no process has open for reading");
  } finally {
    // Before: close() waited its full bound for the open, and the open held a thread until a reader.
    await m.close();
  }
}, 20_000);

/**
 * A terminal read slowly (at most 800 KB/s), as a terminal emulator or `docker run -t` reads: python3's
 * pty module makes one (Node has none) and prints its name, then reads what comes until END, and
 * prints it.
 */
const SLOW_TERMINAL = `
import os, pty, sys, time, tty
master, slave = pty.openpty()
tty.setraw(slave)  # no output processing: the lines come as written
print(os.ttyname(slave), flush=True)
got = b""
while not got.endswith(b"END\\n"):
    got += os.read(master, 4096)
    time.sleep(0.005)
sys.stdout.buffer.write(got[:-4])
`;

// Before: the terminal was written through a non-blocking descriptor by libuv's threads: a write
// the terminal had no room for failed with EAGAIN, its chunk of lines dropped and the file opened
// again (1,900 of 2,000 lines lost), said as "A system error occurred: undefined returned undefined".
it("writes every line to a terminal that reads slowly, dropping none", async () => {
  const reader = spawn("python3", ["-c", SLOW_TERMINAL], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  reader.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => reader.once("close", resolve));
  await until(() => out.includes("\n"));
  const name = out.slice(0, out.indexOf("\n"));
  const errors: unknown[] = [];
  let lost = 0;
  const log = openAccessLog({
    destination: name,
    onError: (e) => errors.push(e),
    onDropped: (n) => (lost += n),
  });
  const total = 1_000; // about 400 KB: the terminal holds a few KB
  for (let i = 0; i < total; i++) log.write(request(`t${i}`));
  await log.close();
  // Its end, once every line the log wrote is in the terminal (not opened as its controlling one).
  const end = openSync(name, constants.O_WRONLY | constants.O_NOCTTY);
  writeSync(end, "END\n");
  closeSync(end);
  expect(await exited).toBe(0);
  expect(errors.map(String)).toEqual([]);
  expect(lost).toBe(0);
  const received = out
    .slice(name.length + 1)
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as { request_id: string }).request_id);
  expect(received).toEqual(Array.from({ length: total }, (_, i) => `t${i}`));
}, 60_000);

// Before: "(a socket file, which cannot be written as a file)", nothing said of what to write instead.
it("says of a socket (/dev/stdout under systemd's journal) that it cannot be opened, and to write destination: stdout", async () => {
  const path = join(dir, "journal.sock");
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const errors: unknown[] = [];
  const m = await open(path, errors);
  try {
    await until(() => errors.length === 1);
    expect(String(errors[0])).toContain(
      `the access log (${path}) cannot be written: ENXIO: no such device or address, open '${path}' (a socket, which cannot be opened as a file — as /dev/stdout is when the gateway's standard output is one, under systemd's journal: for the gateway's own standard output, write \`destination: stdout\`)`,
    );
  } finally {
    await m.close();
    server.close();
  }
}, 20_000);
