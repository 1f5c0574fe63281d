/**
 * The admin token and a URL's password never reach the terminal: not in usage errors, not in
 * "cannot reach" messages, not in what a server answers. The reviewer's two cases run the CLI as a
 * process, so that its last-resort error path (a stack trace, exit 70) is covered too.
 */
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../io.js";
import { run } from "../program.js";
import { createClient } from "./remote-client.js";

const SECRET = "clra_S3cretTokenValue0123456789abcdefABCDEF";

const DEFAULT_ENV = { CLEARANCE_URL: "http://127.0.0.1:9" };

/** The CLI from source as a process; nothing listens on port 9 (fetch refuses it anyway). */
function spawned(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, ...DEFAULT_ENV, ...env },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The CLI in-process, with these variables set for this run only. */
async function clearance(args: string[], env: Record<string, string>) {
  const vars = { ...DEFAULT_ENV, ...env };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  try {
    return { code: await run(args, io), out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("the admin token is never printed", () => {
  it("a token with a second line, a space or a non-ASCII character: usage (exit 2), not echoed", async () => {
    const multiline = spawned(["remote", "alerts", "list"], {
      CLEARANCE_TOKEN: `${SECRET}\nrotated 2026-12-01`,
    });
    expect(multiline.code).toBe(2);
    expect(multiline.err).not.toContain("S3cret");
    expect(multiline.err).toMatch(/^CLEARANCE_TOKEN holds a space, a line break/);
    for (const token of [
      `${SECRET}\nrotated 2026-12-01`,
      `${SECRET} old`,
      `${SECRET}\u00e9`,
      `Bearer\t${SECRET}`,
    ]) {
      const r = await clearance(["remote", "alerts", "list"], { CLEARANCE_TOKEN: token });
      expect(r.code, JSON.stringify(token)).toBe(2);
      expect(r.out).toBe("");
      expect(r.err).not.toContain("S3cret");
      expect(r.err).not.toContain("rotated");
      expect(r.err).toMatch(
        /^CLEARANCE_TOKEN holds a space, a line break or a character outside printable ASCII/,
      );
    }
    // Surrounding white space (a file's final newline) is trimmed, as before: that token is sent.
    const trimmed = await clearance(["remote", "alerts", "list"], { CLEARANCE_TOKEN: `${SECRET}\n` });
    expect(trimmed.code).toBe(1);
    expect(trimmed.err).toMatch(/^clearance: cannot reach the Clearance server at http:\/\/127\.0\.0\.1:9/);
    expect(trimmed.err).not.toContain("S3cret");
  });

  it("a URL with a user name and password: usage (exit 2), the password not echoed", async () => {
    const spawnedUrl = spawned(["remote", "alerts", "list"], {
      CLEARANCE_URL: "http://ops:hunter2@127.0.0.1:9",
      CLEARANCE_TOKEN: "clra_x",
    });
    expect(spawnedUrl.code).toBe(2);
    expect(spawnedUrl.err).not.toContain("hunter2");
    for (const [url, host] of [
      ["http://ops:hunter2@127.0.0.1:9", "127.0.0.1:9"],
      ["https://ops:hunter2@gw.example", "gw.example"],
    ] as const) {
      const r = await clearance(["remote", "alerts", "list"], {
        CLEARANCE_URL: url,
        CLEARANCE_TOKEN: "clra_x",
      });
      expect(r).toEqual({
        code: 2,
        out: "",
        err:
          `CLEARANCE_URL: the URL carries a user name or password (${url.split(":")[0]}://…@${host}): ` +
          "remove it; the admin token is read from CLEARANCE_TOKEN\n",
      });
    }
    // Not a URL at all (a port out of range): still not echoed with its password.
    const bad = await clearance(["remote", "alerts", "list", "--url", "http://ops:hunter2@127.0.0.1:99999"], {
      CLEARANCE_TOKEN: "clra_x",
    });
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      '--url: not a URL: "http://…@127.0.0.1:99999" (expected e.g. http://127.0.0.1:8080)\n',
    );
    // No scheme: "ops:" reads as one; still not echoed.
    const schemeless = await clearance(["remote", "alerts", "list", "--url", "ops:hunter2@gw.example:8443"], {
      CLEARANCE_TOKEN: "clra_x",
    });
    expect(schemeless).toMatchObject({ code: 2, err: expect.not.stringContaining("hunter2") as unknown });
  });
});

/** The error a request fails with (a test failure if it succeeds). */
const failure = (request: Promise<unknown>): Promise<Error> =>
  request.then(
    () => {
      throw new Error("expected the request to fail");
    },
    (err: unknown) => err as Error,
  );

describe("what fails here is not 'cannot reach the server'", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith("/moved")) {
        res.writeHead(302, { location: "http://127.0.0.1:1/elsewhere" });
        return void res.end();
      }
      // A proxy or debugging server that echoes the request's headers in its error page.
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`bad request: authorization=${req.headers.authorization ?? ""}`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("an error thrown before sending (fetch's header check) is no network error, and hides the token", async () => {
    const client = createClient({
      url,
      token: SECRET,
      fetch: (_input, init) => {
        const auth = new Headers(init?.headers).get("authorization");
        throw new TypeError(`Headers.append: "${auth}" is an invalid header value.`);
      },
    });
    const err = await failure(client.request("GET", "/admin/v1/alerts"));
    expect(err).toMatchObject({ code: "request_failed" });
    expect(err.message).toBe(
      `could not send the request to ${url}: Headers.append: "Bearer [token]" is an invalid header value.`,
    );
  });

  it("a server echoing the token: the message shows [token] instead", async () => {
    const err = await failure(createClient({ url, token: SECRET }).request("GET", "/admin/v1/alerts"));
    expect(err).toMatchObject({ code: "http_400", status: 400 });
    expect(err.message).toBe(
      `GET ${url}/admin/v1/alerts answered HTTP 400: bad request: authorization=Bearer [token]`,
    );
  });

  it("a redirect is said as one (not followed: it would take the token elsewhere)", async () => {
    const err = await failure(createClient({ url, token: SECRET }).request("GET", "/moved"));
    expect(err).toMatchObject({ code: "redirected" });
    expect(err.message).toMatch(/answered with a redirect, which is not followed/);
  });
});
