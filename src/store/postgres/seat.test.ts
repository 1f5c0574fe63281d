/**
 * The audit log integrator's seat, a lease on real PostgreSQL: a holder whose link silently stops
 * carrying packets (a partition, a dead NAT entry) loses the seat on its own side too, and another
 * node takes it. Each test in its own schema. Skipped without PostgreSQL.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { blackhole } from "../../testing/blackhole.js";
import { eventually } from "../../testing/admin.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openStore, type IntegratorSeat, type Store } from "../index.js";

if (skipReason !== undefined) console.warn(`src/store/postgres/seat.test.ts: SKIPPED, ${skipReason}`);

const opened: (Store | IntegratorSeat)[] = [];
const roles: string[] = [];
afterAll(async () => {
  for (const o of opened.reverse()) await o.close().catch(() => undefined);
  for (const r of roles) await adminPool().query(`DROP OWNED BY ${r}; DROP ROLE ${r}`);
  await dropSchemas();
});

/** A login role of its own (cluster-wide, so named apart and dropped after), with the schema's tables. */
async function role(url: string, schema: string): Promise<string> {
  const name = `clearance_test_role_${randomBytes(4).toString("hex")}`;
  roles.push(name);
  await adminPool().query(
    `CREATE ROLE ${name} LOGIN; GRANT ALL ON SCHEMA ${schema} TO ${name};
     GRANT ALL ON ALL TABLES IN SCHEMA ${schema} TO ${name}`,
  );
  const as = new URL(url);
  as.username = name;
  return as.toString();
}

const open = async (url: string): Promise<Store> => {
  const store = await openStore({ driver: "postgres", dataDir: "(unused)", url, queryTimeoutMs: 1000 });
  opened.push(store);
  return store;
};

const seatOf = (store: Store, leaseMs: number): IntegratorSeat => {
  const seat = store.sharedAudit!.seat({ leaseMs });
  opened.push(seat);
  return seat;
};

/** Polls `done` (the test's own timeout catches what never happens; no time is asserted). */
async function until(done: () => Promise<boolean> | boolean): Promise<void> {
  await eventually(async () => done(), Boolean);
}

/** The sessions on the server opened with this application_name. */
const sessionsNamed = async (name: string) =>
  (
    await adminPool().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
      [name],
    )
  ).rows[0]!.n;

/** The URL with an application_name of its own, to find the seat's session on the server. */
function named(base: string): { url: string; name: string } {
  const url = new URL(base);
  const name = `clearance_test_seat_${randomBytes(4).toString("hex")}`;
  url.searchParams.set("application_name", name);
  return { url: url.toString(), name };
}

/**
 * A TCP proxy whose connections, once `hold()` is called, are accepted but carry nothing until
 * `open()`: a connect under way (a slow network, a busy pooler). `accepted` resolves at the first
 * one held.
 */
async function gate(url: string) {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  let holding = false;
  let opened!: () => void;
  const opening = new Promise<void>((resolve) => (opened = resolve));
  let accepted!: () => void;
  const first = new Promise<void>((resolve) => (accepted = resolve));
  // Half-open: each side's FIN is carried on, not answered by the proxy (before the server's own).
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on("error", () => undefined);
    client.pause();
    if (holding) accepted();
    void (holding ? opening : Promise.resolve()).then(() => {
      const upstream = net.connect({
        port: Number(target.port || 5432),
        host: target.hostname,
        allowHalfOpen: true,
      });
      sockets.add(upstream);
      upstream.on("error", () => undefined);
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    accepted: first,
    hold: () => void (holding = true),
    open: () => opened(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy whose link, once `silence()` is called, carries only the server's words: what the
 * client sends goes nowhere, and neither side's close passes (an asymmetric route failing, then a
 * partition). The server's last answer (an error as its session ends) reaches the client; the close
 * that follows it does not.
 */
async function oneWay(url: string) {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  let silent = false;
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({
      port: Number(target.port || 5432),
      host: target.hostname,
      allowHalfOpen: true,
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
    }
    client.on("data", (d) => void (silent || upstream.write(d)));
    upstream.on("data", (d) => void client.write(d));
    client.on("end", () => void (silent || upstream.end()));
    upstream.on("end", () => void (silent || client.end()));
    client.on("close", () => void (silent || upstream.destroy()));
    upstream.on("close", () => void (silent || client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    silence: () => void (silent = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy on which the seat's sessions (their startup names "clearance-integrator") go silent
 * right after their connect: the startup and the server's answers pass, then nothing from the
 * client's first statement on, either way, and no close (a link gone silent between the connect and
 * the set-up). `dropped` resolves once the seat has closed its end of such a connection.
 */
async function silentAfterConnect(url: string) {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  let dropped!: () => void;
  const seatDropped = new Promise<void>((resolve) => (dropped = resolve));
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({
      port: Number(target.port || 5432),
      host: target.hostname,
      allowHalfOpen: true,
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
    }
    let seat = false;
    let silent = false;
    let startup = true;
    let pending = Buffer.alloc(0);
    // Whole messages only: the startup has no type byte, every later one has one.
    client.on("data", (d) => {
      if (silent) return;
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const head = startup ? 0 : 1;
        if (pending.length < head + 4) return;
        const size = head + pending.readInt32BE(head);
        if (pending.length < size) return;
        const message = pending.subarray(0, size);
        if (startup) seat = message.includes("clearance-integrator");
        else if (seat) {
          silent = true;
          return;
        }
        pending = pending.subarray(size);
        startup = false;
        upstream.write(message);
      }
    });
    upstream.on("data", (d) => void (silent || client.write(d)));
    // The seat's end of a silenced connection: its FIN (or RST) is the proxy's to hear, not to pass.
    client.on("end", () => (silent ? dropped() : upstream.end()));
    upstream.on("end", () => void (silent || client.end()));
    client.on("close", () => (silent ? dropped() : upstream.destroy()));
    upstream.on("close", () => void (silent || client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    dropped: seatDropped,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const checkpoint = (size: bigint, node: string) => ({
  size,
  root: Buffer.alloc(32, Number(size)),
  note: `note ${size}`,
  node,
});

describe.skipIf(skipReason !== undefined)("the integrator's seat (a lease)", () => {
  it("a holder whose link goes silent gives the seat up by itself; another node takes it over", async () => {
    const { url } = await freshSchema();
    const proxy = await blackhole(url, { partition: true });
    try {
      const a = seatOf(await open(proxy.url), 600);
      const b = seatOf(await open(url), 600);
      expect(await a.acquire()).toBe(true);
      expect(await b.acquire()).toBe(false);
      proxy.cut(); // no FIN, no RST: only silence
      // A's heartbeats no longer arrive: past the lease, B ends A's session and takes the seat…
      await until(() => b.acquire());
      await b.publish(checkpoint(1n, "node-b"));
      // …and A, which cannot hear that, learns it from its own heartbeat going unanswered.
      await until(() => !a.held);
      await expect(a.publish(checkpoint(2n, "node-a"))).rejects.toThrow(/not the audit log's integrator/);
    } finally {
      await proxy.close();
    }
  });

  it("a session the seat cannot set up is ended, not left open on the server", async () => {
    const { url: base } = await freshSchema();
    const url = new URL(base);
    const name = `clearance_test_seat_${randomBytes(4).toString("hex")}`;
    url.searchParams.set("application_name", name);
    // A lease past idle_session_timeout's range (2^31 - 1 ms): the session's last SET is refused.
    const seat = seatOf(await open(url.toString()), 2 ** 31);
    await expect(seat.acquire()).rejects.toThrow(/idle_session_timeout/);
    const seatSessions = async () =>
      (
        await adminPool().query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'SET idle_session_timeout%'`,
          [name],
        )
      ).rows[0]!.n;
    await until(async () => (await seatSessions()) === 0);
  });

  it("a holder whose heartbeats are answered keeps the seat lease after lease", async () => {
    const { url } = await freshSchema();
    const a = seatOf(await open(url), 1000);
    const b = seatOf(await open(url), 1000);
    expect(await a.acquire()).toBe(true);
    // Several leases pass by the database's clock, which the lease is measured by: A's heartbeats
    // are answered, so B, trying all the while, never takes the seat (once it had, it would hold it,
    // and this would never pass).
    const dbNow = async () =>
      (await adminPool().query<{ ms: number }>("SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms"))
        .rows[0]!.ms;
    const t0 = await dbNow();
    await vi.waitFor(
      async () => {
        expect(await b.acquire()).toBe(false);
        expect(a.held).toBe(true);
        expect((await dbNow()) - t0, "ms passed by the database's clock").toBeGreaterThan(2_500);
      },
      { timeout: 30_000, interval: 100 },
    );
    await a.publish(checkpoint(1n, "node-a"));
  });

  it("a seat closed while it gives the lock up has freed it when close resolves, and its release does not fail", async () => {
    const { url } = await freshSchema();
    const store = await open(url);
    // Several times: the unlock on the wire and the end of the session race each other.
    for (let i = 0; i < 5; i++) {
      const a = seatOf(store, 30_000);
      const b = seatOf(store, 30_000);
      expect(await a.acquire()).toBe(true);
      expect(await b.acquire()).toBe(false); // B's session is open, as a running node's is
      // The audit log does this when it judges a round hung, then closes (see SharedAuditLog.close).
      const releasing = a.release();
      releasing.catch(() => undefined); // judged below, after the lock
      await a.close();
      expect(await b.acquire()).toBe(true);
      await expect(releasing).resolves.toBeUndefined();
      await b.close();
    }
  });

  it("another node takes the seat over though it connects as another database role", async () => {
    const { url, schema } = await freshSchema();
    await open(url); // migrated
    const [asA, asB] = [await role(url, schema), await role(url, schema)];
    const proxy = await blackhole(asA, { partition: true });
    try {
      const a = seatOf(await open(proxy.url), 600);
      const b = seatOf(await open(asB), 600);
      expect(await a.acquire()).toBe(true);
      // A's backend lives on, orphaned; B may neither see that it is idle nor end it.
      proxy.cut();
      await until(() => b.acquire());
      await b.publish(checkpoint(1n, "node-b"));
    } finally {
      await proxy.close();
    }
  });

  it("a seat closed on a link gone silent, with no statement under way, is closed all the same", async () => {
    const { url: base } = await freshSchema();
    const { url, name } = named(base);
    const proxy = await blackhole(url, { partition: true });
    try {
      // A long lease: no heartbeat is under way when the link goes silent, none notices it first.
      const a = seatOf(await open(proxy.url), 30_000);
      expect(await a.acquire()).toBe(true);
      proxy.cut(); // no FIN, no RST: the Terminate goes nowhere, and no close comes back
      // Settles (the test's timeout catches a close waiting for TCP to give up), and says why.
      await expect(a.close()).rejects.toThrow(/did not end.*destroyed/);
      expect(a.held).toBe(false);
    } finally {
      await proxy.close();
    }
    // The server frees the lock once it notices (here: the proxy, closing, stands in for keepalives).
    await until(async () => (await sessionsNamed(name)) === 0);
  });

  it("a seat closed while its session is being opened leaves no session on the server", async () => {
    const { url: base } = await freshSchema();
    const { url, name } = named(base);
    await open(url); // migrated
    const proxy = await gate(url);
    try {
      const a = seatOf(await open(proxy.url), 30_000);
      proxy.hold();
      const acquiring = a.acquire();
      await proxy.accepted; // the seat's connect is under way…
      const closing = a.close();
      proxy.open(); // …and completes after close was called
      await closing;
      expect(await acquiring).toBe(false);
      expect(a.held).toBe(false);
      // Ended before close resolved (a Terminate: the server closes the socket once the backend is gone).
      expect(await sessionsNamed(name)).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it("a seat closed while its connect never completes settles, and leaves no session", async () => {
    const { url: base } = await freshSchema();
    const { url, name } = named(base);
    await open(url); // migrated
    const proxy = await gate(url);
    try {
      const a = seatOf(await open(proxy.url), 30_000);
      proxy.hold();
      const acquiring = a.acquire();
      await proxy.accepted;
      await expect(a.close()).rejects.toThrow(/did not end.*destroyed/);
      expect(await acquiring).toBe(false);
      expect(a.held).toBe(false);
      expect(await sessionsNamed(name)).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it("a release whose unlock fails on a link gone silent settles, its session's socket destroyed", async () => {
    const { url: base } = await freshSchema();
    const { url, name } = named(base);
    await open(url); // migrated
    const proxy = await oneWay(url);
    try {
      // A long lease: no heartbeat is under way, and the unlock's own bound is not what ends it.
      const a = seatOf(await open(proxy.url), 30_000);
      expect(await a.acquire()).toBe(true);
      proxy.silence();
      const releasing = a.release();
      releasing.catch(() => undefined); // judged below
      // The server ends the seat's session under the unlock: its error reaches the seat, its close
      // (and the Terminate the seat then sends) does not.
      await until(
        async () =>
          (
            await adminPool().query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE application_name = $1 AND query LIKE '%pg_try_advisory_lock%'`,
              [name],
            )
          ).rowCount === 1,
      );
      // Settles (the test's timeout catches an end waiting for TCP to give up), saying that the socket
      // had to be destroyed (the lock is then freed when the server notices), the unlock's error kept.
      const failed = await releasing.then(
        () => null,
        (err: Error) => err,
      );
      expect(failed?.message).toMatch(
        /^the audit log integrator's unlock failed \(terminating connection .*\), and its session did not end within 2000 ms .*its socket was destroyed, and the database frees the integrator lock when it notices/,
      );
      expect((failed?.cause as Error | undefined)?.message).toMatch(/^terminating connection/);
      expect(a.held).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it("a seat whose connect goes unanswered fails its acquire, saying so", async () => {
    const { url } = await freshSchema();
    const proxy = await blackhole(url, { partition: true });
    try {
      const a = seatOf(await open(proxy.url), 600); // the store itself connected, and migrated
      proxy.cut(); // the seat's connection is accepted, and nothing ever comes back
      // Fails (the test's timeout catches a connect waiting for TCP to give up), and says why.
      await expect(a.acquire()).rejects.toThrow(/did not open within 600 ms/);
      expect(a.held).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it("a seat whose link goes silent right after its connect fails its acquire, saying so, its socket destroyed", async () => {
    const { url } = await freshSchema();
    const proxy = await silentAfterConnect(url);
    try {
      const a = seatOf(await open(proxy.url), 600); // the store's own sessions are not silenced
      // Fails (the test's timeout catches a set-up waiting for TCP to give up), and says why.
      const failed = await a.acquire().then(
        () => null,
        (err: Error) => err,
      );
      expect(failed?.message).toMatch(
        /the audit log integrator's session did not finish its set-up within 600 ms of starting to connect \(`SET tcp_keepalives_idle = 10.*` unanswered.*its socket was destroyed/,
      );
      expect((failed?.cause as Error | undefined)?.message).toBe("Query read timeout");
      expect(a.held).toBe(false);
      await proxy.dropped; // the seat closed its end (the test's timeout catches one left open)
    } finally {
      await proxy.close();
    }
  });
});
