/**
 * The console's static files: content types, cache headers, the CSP, the app's own pages getting
 * index.html, and no way out of the build directory (dot segments, escapes, backslashes, symlinks).
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { CONTENT_SECURITY_POLICY } from "./static.js";

let t: TestGateway;
let bare: TestGateway;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), "clearance-console-"));
  const dir = join(root, "build");
  mkdirSync(join(dir, "assets"), { recursive: true });
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>Clearance</title>");
  writeFileSync(join(dir, "assets", "index-abc123.js"), "console.log(1)");
  writeFileSync(join(dir, "assets", "index-abc123.css"), "body{}");
  writeFileSync(join(dir, "assets", "inter-latin.woff2"), "wOF2");
  writeFileSync(join(root, "secret.txt"), "not for the web");
  symlinkSync(join(root, "secret.txt"), join(dir, "link.txt"));
  t = await startTestGateway({ consoleDir: dir });
  bare = await startTestGateway({ consoleDir: null });
});
afterAll(async () => {
  await t.gateway.close();
  await bare.gateway.close();
});

/** Raw HTTP, so that the path reaches the server exactly as written (fetch would normalise `..`). */
function get(base: string, path: string, method = "GET") {
  const url = new URL(base);
  return new Promise<{ status: number; headers: Record<string, string>; body: string }>((ok, fail) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        ok({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body }),
      );
    });
    req.on("error", fail);
    req.end();
  });
}

describe("the console's static files", () => {
  it("serves the app with its content type, the CSP and no caching of index.html", async () => {
    const r = await get(t.url, "/console/");
    expect(r.status).toBe(200);
    expect(r.body).toContain("<title>Clearance</title>");
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.headers["cache-control"]).toBe("no-cache");
    expect(r.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(r.headers["content-security-policy"]).not.toContain("unsafe");
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
    expect(r.headers["x-frame-options"]).toBe("DENY");
  });

  it("hashed assets are immutable, each with its own type", async () => {
    const js = await get(t.url, "/console/assets/index-abc123.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect((await get(t.url, "/console/assets/index-abc123.css")).headers["content-type"]).toBe(
      "text/css; charset=utf-8",
    );
    expect((await get(t.url, "/console/assets/inter-latin.woff2")).headers["content-type"]).toBe(
      "font/woff2",
    );
    const head = await get(t.url, "/console/assets/index-abc123.js", "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("14");
    expect(head.body).toBe("");
  });

  it("the app's own pages get index.html; a missing asset is a 404", async () => {
    for (const page of ["/console/licenses", "/console/licenses/LIC-1", "/console/audit?request=x"]) {
      const r = await get(t.url, page);
      expect(r.status, page).toBe(200);
      expect(r.body).toContain("<title>Clearance</title>");
    }
    expect((await get(t.url, "/console/assets/gone.js")).status).toBe(404);
    expect((await get(t.url, "/console/assets/page")).status).toBe(404);
    expect((await get(t.url, "/console/missing.png")).status).toBe(404);
  });

  it("never leaves the build directory", async () => {
    for (const path of [
      "/console/../secret.txt",
      "/console/%2e%2e/secret.txt",
      "/console/assets/%2e%2e/%2e%2e/secret.txt",
      "/console/..%2fsecret.txt",
      "/console/..%5csecret.txt",
      "/console/%00index.html",
      "/console/link.txt",
      "/console/assets/..%2F..%2Fsecret.txt",
    ]) {
      const r = await get(t.url, path);
      expect(r.body, path).not.toContain("not for the web");
      expect([400, 404], path).toContain(r.status);
    }
  });

  it("/console redirects to /console/; writes are refused; errors are the admin API's JSON", async () => {
    const r = await get(t.url, "/console");
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe("/console/");
    const post = await get(t.url, "/console/", "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD"); // RFC 9110 15.5.6
    expect(JSON.parse(post.body).error.code).toBe("method_not_allowed");
    expect(JSON.parse((await get(t.url, "/console/%E0%A4%A")).body).error.code).toBe("invalid_path");
  });

  it("without a build, says how to make one", async () => {
    const r = await get(bare.url, "/console/");
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error.message).toMatch(/npm run build/);
  });

  it("GET /admin/v1/me names the caller and its roles", async () => {
    const res = await fetch(`${t.url}/admin/v1/me`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "admin", name: "admin", roles: ["admin"], organization: null });
    expect((await fetch(`${t.url}/admin/v1/me`)).status).toBe(401);
  });
});
