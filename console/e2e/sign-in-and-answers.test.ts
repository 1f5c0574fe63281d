/**
 * Partner sign-in against more than one provider, and answers that do not come as asked, in Chromium
 * against a real gateway: a malicious partner's provider that sends the browser on to an honest
 * provider's login (the OIDC mix-up attack, RFC 9207) gets neither the code nor the PKCE verifier; a
 * token endpoint answering a proxy's page is said with its status; a reload answering late does not
 * overwrite a newer one; a change whose answer is lost says it may have been applied and how to check.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin, eventually } from "../../src/testing/admin.js";
import { AUDIENCE, signingKey, startTestIdp } from "../../src/testing/oidc.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";
import { forward } from "./idp-elsewhere.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
const closed = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/**
 * A malicious partner's provider: a real oidc-provider (its own discovery document, keys and
 * issuer), except that its authorization endpoint sends the browser on to the honest provider's with
 * the same query, and its token endpoint keeps what it is sent and redeems it at the honest one.
 */
async function startMixUpIdp(honestIssuer: string, clientId: string, redirectUri: string) {
  const front = createServer();
  const issuer = `http://127.0.0.1:${await listen(front)}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [(await signingKey("ES256", "mallory-1")) as never] },
    clients: [
      {
        client_id: clientId,
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: [redirectUri],
        id_token_signed_response_alg: "ES256",
      },
    ],
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    claims: { openid: ["sub"], profile: ["name"] },
    conformIdTokenClaims: false,
  });
  const inner = createServer(provider.callback());
  const innerPort = await listen(inner);
  const honest = (await (await fetch(`${honestIssuer}/.well-known/openid-configuration`)).json()) as {
    authorization_endpoint: string;
    token_endpoint: string;
  };
  const stolen: { code: string | null; verifier: string | null; idToken?: string }[] = [];
  front.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", issuer);
    if (req.method === "GET" && url.pathname === "/auth") {
      const to = new URL(honest.authorization_endpoint);
      to.search = url.search;
      res.writeHead(302, { location: to.toString() }).end();
      return;
    }
    if (req.method === "POST" && url.pathname === "/token") {
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (text += c));
      req.on("end", () => {
        const sent = new URLSearchParams(text);
        const loot: (typeof stolen)[number] = { code: sent.get("code"), verifier: sent.get("code_verifier") };
        stolen.push(loot);
        void fetch(honest.token_endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: text,
        })
          .then(async (r) => {
            const body = (await r.json()) as { id_token?: string };
            if (body.id_token !== undefined) loot.idToken = body.id_token;
            res
              .writeHead(r.status, { "content-type": "application/json", "access-control-allow-origin": "*" })
              .end(JSON.stringify(body));
          })
          .catch(() => res.writeHead(502).end());
      });
      return;
    }
    forward(req, res, innerPort);
  });
  return {
    issuer,
    stolen,
    async close() {
      await closed(front);
      await closed(inner);
    },
  };
}

/** Logs in at oidc-provider's own login page and consents. */
async function logIn(page: Page, issuer: string, login: string): Promise<void> {
  await page.waitForURL(`${issuer}/**`);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any");
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]').click();
}

/** Past the promises a released answer resolves and the render React schedules for them. */
const settle = (page: Page) =>
  page.evaluate(async () => {
    for (let i = 0; i < 4; i++)
      await new Promise((r) => {
        const c = new MessageChannel();
        c.port1.onmessage = r;
        c.port2.postMessage(null);
      });
    await new Promise((r) => requestAnimationFrame(r));
  });

/** A partner's status as its row shows it. */
const status = (page: Page, id: string) =>
  page
    .getByRole("row")
    .filter({ hasText: `(${id})` })
    .locator(".status")
    .innerText();

async function registerPartner(id: string, activate: boolean): Promise<void> {
  await asAdmin(h().t, "POST", "/admin/v1/partners", {
    kind: "organization",
    partner: {
      id,
      name: `Partner ${id}`,
      country: "GB",
      assurance: "verified",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    },
    reason: `registered for the console's tests (${id})`,
  });
  if (activate)
    await asAdmin(h().t, "POST", `/admin/v1/partners/${id}/status`, {
      status: "active",
      reason: "activated for the console's tests",
    });
}

describe.skipIf(CHROMIUM === null)("sign-in and answers, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a partner's provider sending the browser on to another's login gets no code and no verifier (mix-up)", async () => {
    const t = h().t;
    const redirectUri = `${t.url}/console/`;
    const honest = await startTestIdp({
      people: { vic: { name: "Victor Victim" } },
      console: { clientId: "clearance-console", redirectUri },
    });
    const mallory = await startMixUpIdp(honest.issuer, "clearance-console", redirectUri);
    try {
      await registerPartner("mallory-corp", true);
      const provider = (id: string, name: string, issuer: string) => ({
        id,
        name,
        issuer,
        discovery: true,
        audiences: [AUDIENCE],
        claims: { display_name: "name" },
        console: { client_id: "clearance-console" },
      });
      await asAdmin(
        t,
        "POST",
        "/admin/v1/partners/uk-aisi/identity-providers",
        provider("uk-aisi-honest", "UK AISI honest login", honest.issuer),
        201,
      );
      await asAdmin(
        t,
        "POST",
        "/admin/v1/partners/mallory-corp/identity-providers",
        provider("mallory-login", "Mallory login", mallory.issuer),
        201,
      );
      await eventually(
        () => fetch(`${t.url}/admin/v1/sign-in/providers`).then((r) => r.json()),
        (b: { data: unknown[] }) => b.data.length > 1,
      );

      // The victim starts at the malicious partner's provider, and logs in at the honest one's.
      const { context, page } = await h().page();
      await page.goto("/console/");
      await page.getByRole("button", { name: "Sign in with Mallory login" }).click();
      await logIn(page, honest.issuer, "vic");
      const alert = page.getByRole("alert");
      await alert.waitFor();
      expect(await alert.innerText()).toMatch(
        new RegExp(`answer comes from ${honest.issuer}, not from ${mallory.issuer}.*sign in again`, "is"),
      );
      expect(mallory.stolen).toEqual([]);
      expect(await page.evaluate(() => sessionStorage.getItem("clearance.token"))).toBeNull();
      expect(await page.getByRole("navigation", { name: "Pages" }).count()).toBe(0);
      await expectAccessible(page, "the sign-in page after a mixed-up answer");

      // Signing in at the honest provider itself still works, in the same tab.
      await page.getByRole("button", { name: "Sign in with UK AISI honest login" }).click();
      // (The provider remembers the person's login and consent: it answers at once.)
      await page.getByRole("navigation", { name: "Pages" }).waitFor();
      expect(await page.locator(".who").innerText()).toBe("Victor Victim · partner · uk-aisi");
      await context.close();
    } finally {
      await mallory.close();
      await honest.close();
    }
  });

  it("a token endpoint answering a proxy's HTML page is said with its status", async () => {
    const t = h().t;
    const idp = await startTestIdp({
      people: { pat: { name: "Pat Partner" } },
      console: { clientId: "clearance-console-proxied", redirectUri: `${t.url}/console/` },
    });
    try {
      await asAdmin(
        t,
        "POST",
        "/admin/v1/partners/uk-aisi/identity-providers",
        {
          id: "uk-aisi-proxied",
          name: "UK AISI proxied",
          issuer: idp.issuer,
          discovery: true,
          audiences: [AUDIENCE],
          claims: { display_name: "name" },
          console: { client_id: "clearance-console-proxied" },
        },
        201,
      );
      await eventually(
        () => fetch(`${t.url}/admin/v1/sign-in/providers`).then((r) => r.json()),
        (b: { data: { id: string }[] }) => b.data.some((p) => p.id === "uk-aisi-proxied"),
      );
      const { context, page } = await h().page();
      await page.route(`${idp.issuer}/token`, (r) =>
        r.fulfill({
          status: 502,
          contentType: "text/html",
          headers: { "access-control-allow-origin": "*" },
          body: "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        }),
      );
      // A captive portal's page where the discovery document should be: said, not a parse error.
      const discovery = `${idp.issuer}/.well-known/openid-configuration`;
      await page.route(discovery, (r) =>
        r.fulfill({
          status: 200,
          contentType: "text/html",
          headers: { "access-control-allow-origin": "*" },
          body: "<html><body>Log in to the hotel's network</body></html>",
        }),
      );
      await page.goto("/console/");
      const button = page.getByRole("button", { name: "Sign in with UK AISI proxied" });
      await button.click();
      await page.getByRole("alert").waitFor();
      expect(await page.getByRole("alert").innerText()).toBe(
        `UK AISI proxied: its discovery document (at ${idp.issuer}) is not a JSON object`,
      );
      await page.unroute(discovery);
      await button.click();
      await logIn(page, idp.issuer, "pat");
      const alert = page.getByRole("alert");
      await alert.waitFor();
      const said = await alert.innerText();
      expect(said).toMatch(/did not issue a token: it answered 502/);
      expect(said).not.toMatch(/Unexpected token|JSON/);
      await context.close();
    } finally {
      await idp.close();
    }
  });

  it("a reload answering after a newer one does not overwrite it", async () => {
    await registerPartner("race-a", false);
    await registerPartner("race-b", false);
    const { context, page } = await h().page();
    // Once armed, the next partners list read is held (its body read now) until the test releases it.
    await context.addInitScript(() => {
      const w = window as unknown as { __hold: boolean; __held: (() => void) | null };
      w.__hold = false;
      w.__held = null;
      const real = window.fetch.bind(window);
      window.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (!w.__hold || w.__held !== null || !/\/admin\/v1\/partners\?/.test(url)) return real(input, init);
        const res = await real(input, init);
        const text = await res.text();
        return new Promise<Response>((resolve) => {
          w.__held = () => resolve(new Response(text, { status: res.status, headers: res.headers }));
        });
      };
    });
    await signIn(page, h().tokens.admin);
    await open(page, "Partners");
    await expect.poll(() => status(page, "race-b")).toBe("applied");
    await page.evaluate(() => ((window as unknown as { __hold: boolean }).__hold = true));

    const activate = async (id: string) => {
      const form = page.getByRole("form", { name: `Change the status of ${id}` });
      await form.getByLabel("Reason").fill(`activated by the console test (${id})`);
      await form.getByRole("button", { name: "Apply" }).click();
    };
    // The first change's reload is held (it read race-b still applied); the second's is not.
    await activate("race-a");
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { __held: unknown }).__held !== null))
      .toBe(true);
    await activate("race-b");
    await expect.poll(() => status(page, "race-b")).toBe("active");
    expect(await status(page, "race-a")).toBe("active");

    // The older reload answers now: what it read must not replace what the newer one showed.
    await page.evaluate(() => (window as unknown as { __held: () => void }).__held());
    await settle(page);
    expect(await status(page, "race-b")).toBe("active");
    expect(await status(page, "race-a")).toBe("active");
    await context.close();
  });

  it("a change whose answer is lost on the way says it may have been applied, and how to check", async () => {
    await registerPartner("lost-answer", false);
    const { context, page } = await h().page();
    await signIn(page, h().tokens.admin);
    await open(page, "Partners");
    // The server applies the change; the connection drops before its answer reaches the browser.
    await page.route(
      (url) => url.pathname === "/admin/v1/partners/lost-answer/status",
      async (r) => {
        await r.fetch();
        await r.abort("connectionreset");
      },
    );
    const form = page.getByRole("form", { name: "Change the status of lost-answer" });
    await form.getByLabel("Reason").fill("activated by the console test, answer lost");
    await form.getByRole("button", { name: "Apply" }).click();
    const error = form.locator(".field-error");
    await error.waitFor();
    const said = await error.innerText();
    expect(said).toMatch(/may or may not have been applied/);
    expect(said).toMatch(/reload/i);
    expect(said).not.toBe("Failed to fetch");
    await expectAccessible(page, "a change whose answer was lost");
    // As it says: a reload shows the change was applied.
    await page.unroute((url) => url.pathname === "/admin/v1/partners/lost-answer/status");
    await page.reload();
    await expect.poll(() => status(page, "lost-answer")).toBe("active");
    await context.close();
  });

  it("an API key is created once however often its form is submitted while it is created", async () => {
    const { context, page } = await h().page();
    // The key creations the page asks for, counted as it asks (before any answer).
    await context.addInitScript(() => {
      const w = window as unknown as { __keyPosts: number };
      w.__keyPosts = 0;
      const real = window.fetch.bind(window);
      window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (init?.method === "POST" && url.endsWith("/admin/v1/keys")) w.__keyPosts++;
        return real(input, init);
      };
    });
    // The first creation is held (a slow server) while the person submits again.
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const keys = (url: URL) => url.pathname === "/admin/v1/keys";
    await page.route(keys, async (r) => {
      if (r.request().method() === "POST") await held;
      await r.continue();
    });
    await signIn(page, h().tokens.admin);
    await open(page, "Principals and keys");
    const form = page.getByRole("form", { name: "Create an API key" });
    await form.getByLabel("Label").fill("pressed twice");
    await form.getByLabel("Label").press("Enter");
    await form.getByLabel("Label").press("Enter");
    await form.getByRole("button", { name: "Create key" }).click({ force: true });
    expect(await page.evaluate(() => (window as unknown as { __keyPosts: number }).__keyPosts)).toBe(1);
    release();
    await page.getByLabel("New API key").waitFor();
    await expect.poll(() => page.getByRole("row").filter({ hasText: "pressed twice" }).count()).toBe(1);
    expect(await form.getByRole("button", { name: "Create key" }).isEnabled()).toBe(true);
    await context.close();
  });
});
