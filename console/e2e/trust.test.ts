/**
 * What the console may not take on the server's word, and what it may not lose, in Chromium against
 * a real gateway: an entry's inclusion is verified for the bytes the page shows (a server showing one
 * entry and proving another is caught); a key shown once stays shown when the list cannot be read
 * again after it was created. The server's answers the test is about are held or rewritten by the
 * test (page.route).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBundle, encodeBundle } from "../../src/audit/tiles.js";
import { ask } from "../../src/testing/admin.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

describe.skipIf(CHROMIUM === null)(
  "the console's trust and keeping, in Chromium",
  { timeout: 180_000 },
  () => {
    beforeAll(async () => {
      ctx.h = await startHarness();
    }, 180_000);
    afterAll(async () => {
      await ctx.h?.close();
    });

    it("an entry shown altered is not said to be in the signed tree, whatever the server proves", async () => {
      const asked = await ask(h().t, "devi", "IN");
      await h().t.gateway.audit.log.publish();
      const vkey = readFileSync(join(h().t.dataDir, "audit.vkey"), "utf8").trim();
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Audit log");

      // The server answers the look-up with the entry forged (its fallback shown as an allow), and
      // every later read of the bundle, and the proof, as the log really is.
      const bundles = (url: URL) => url.pathname.startsWith("/audit/tile/entries/");
      let forged = 0;
      await page.route(bundles, async (route) => {
        const real = await route.fetch();
        const body = await real.body();
        const entries = decodeBundle(body);
        const at = entries.findIndex((e) => e.toString("utf8").includes(asked.requestId));
        if (at < 0 || forged > 0) return route.fulfill({ response: real, body });
        forged++;
        const entry = entries[at] as Buffer;
        entries[at] = Buffer.from(
          entry
            .toString("utf8")
            .replace('"decision":"fallback"', '"decision":"allow"')
            .replace('"reason":"no-authorization"', '"reason":"license"'),
        );
        expect(entries[at]).not.toEqual(entry);
        return route.fulfill({ response: real, body: encodeBundle(entries) });
      });
      await page.getByLabel("Request id").fill(asked.requestId);
      await page.getByRole("button", { name: "Find" }).click();
      await page.getByRole("heading", { name: /^Entry \d+$/ }).waitFor();
      expect(forged).toBe(1);
      await page.getByText("license", { exact: true }).waitFor();

      await page.getByLabel("Verifier key").fill(vkey);
      await page.getByRole("button", { name: "Verify its inclusion" }).click();
      const said = page.getByText(/inclusion proof (leads|of entry \d+ does not lead) to the signed root/);
      await said.waitFor();
      expect(await said.innerText()).toMatch(/does not lead to the signed root/);
      await page.unroute(bundles);
      await context.close();
    });

    it("a filter that matches rarely reads the log a bounded stretch at a time, saying how far", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Audit log");
      await page.getByRole("row").nth(1).waitFor();

      // A busy gateway's log: 256,000 decisions and not one admin change among them.
      const size = 256 * 1000;
      const decision = (i: number) =>
        Buffer.from(
          JSON.stringify({
            type: "decision",
            time: "2026-01-01T00:00:00Z",
            principal: "p",
            action: "infer",
            model: "m",
            decision: "allow",
            reason: "open-model",
            request_id: `r${i}`,
          }),
        );
      const bundle = encodeBundle(Array.from({ length: 256 }, (_, i) => decision(i)));
      let read = 0;
      await page.route(
        (url) => url.pathname === "/audit/checkpoint",
        async (route) => {
          const real = await route.fetch();
          const [origin, , ...rest] = (await real.text()).split("\n");
          return route.fulfill({ response: real, body: [origin, String(size), ...rest].join("\n") });
        },
      );
      await page.route(
        (url) => url.pathname.startsWith("/audit/tile/entries/"),
        (route) => (read++, route.fulfill({ status: 200, body: bundle })),
      );
      await page.getByLabel("Show").selectOption("admin");
      const said = page.getByText(
        /^Read back to entry \d+ \(of 256000 published\), none of them an admin change/,
      );
      await said.waitFor();
      expect(read).toBeLessThan(100);
      expect(await said.innerText()).toContain(`entry ${size - read * 256} `);
      const before = read;
      const first = await said.innerText();
      await page.getByRole("button", { name: "Older entries" }).click();
      await expect.poll(() => said.innerText()).not.toBe(first);
      expect(read).toBeGreaterThan(before);
      expect(read).toBeLessThan(2 * before + 1);
      expect(await said.innerText()).toContain(`entry ${size - read * 256} `);
      await expectAccessible(page, "the audit log, a filter matching nothing in the latest entries");
      await context.close();
    });

    it("a key shown once stays shown when the list cannot be read again after it was created", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "Principals and keys");
      await page.getByRole("cell", { name: "alice", exact: true }).first().waitFor();

      // Once the key is created, the lists' reload fails (the store down for a moment).
      const lists = (url: URL) =>
        url.pathname === "/admin/v1/principals" || url.pathname === "/admin/v1/keys";
      await page.route(lists, (r) =>
        r.request().method() !== "GET"
          ? r.continue()
          : r.fulfill({
              status: 503,
              contentType: "application/json",
              body: JSON.stringify({ error: { code: "unavailable", message: "the store is unavailable" } }),
            }),
      );
      await page.getByLabel("Principal", { exact: true }).selectOption("alice");
      await page.getByLabel("Label").fill("kept");
      await page.getByRole("button", { name: "Create key" }).click();
      await page.getByText("the store is unavailable").waitFor();
      // The new key is still on the page, with the failure said beside what was read before.
      const key = page.getByLabel("New API key");
      await key.waitFor();
      expect(await key.innerText()).toMatch(/^clr_/);
      expect(await page.getByRole("alert").innerText()).toMatch(
        /could not be read \(the store is unavailable\): what is shown is as read before/,
      );
      await expectAccessible(page, "principals and keys, a reload failed after a key was created");

      await page.unroute(lists);
      await page.getByRole("button", { name: "I have stored it" }).click();
      await context.close();
    });
  },
);
