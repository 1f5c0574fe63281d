/**
 * End-to-end harness: the console built by Vite into a temporary directory, a real gateway (embedded
 * store, demo upstream, the G7 example scheme) started in-process on a free port serving it, and
 * Debian's Chromium headless shell driven by playwright-core. Nothing downloads a browser: without
 * one installed, the suites skip and say so.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { build } from "vite";
import { expect } from "vitest";
import { createIdentity } from "../../src/testing/admin.js";
import { startTestGateway, type TestGateway, type TestGatewayOptions } from "../../src/testing/gateway.js";

/** The Chromium binary: $CHROMIUM_PATH, Debian's chromium-headless-shell, or Debian's chromium. */
export function findChromium(): string | null {
  const candidates = [
    process.env.CHROMIUM_PATH,
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/bin/chromium",
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  try {
    const found = execFileSync("sh", ["-c", "command -v chromium-headless-shell"], {
      encoding: "utf8",
    }).trim();
    return found === "" ? null : found;
  } catch {
    return null;
  }
}

export const CHROMIUM = findChromium();
if (CHROMIUM === null) {
  process.stderr.write(
    "console e2e: SKIPPED — no Chromium found (apt-get install chromium-headless-shell, or set CHROMIUM_PATH)\n",
  );
}

/**
 * The README's screenshots: written to docs/console with CONSOLE_SCREENSHOTS=1 (`npm run
 * screenshots`); otherwise still taken (the same code runs) into a temporary directory, so that
 * `npm test` leaves the working tree as it was.
 */
export const SCREENSHOTS =
  process.env.CONSOLE_SCREENSHOTS === "1"
    ? resolve("docs/console")
    : mkdtempSync(join(tmpdir(), "clearance-console-screenshots-"));
export const DESKTOP = { width: 1280, height: 800 };
export const TABLET = { width: 820, height: 1180 };

export interface Harness {
  readonly t: TestGateway;
  /** The console's build the gateway serves. */
  readonly consoleDir: string;
  readonly browser: Browser;
  /** Tokens of the identities the tests sign in as. */
  readonly tokens: Readonly<
    Record<"officer" | "approver1" | "approver2" | "applicant" | "viewer" | "admin", string>
  >;
  /** A fresh browser context (own session storage) with one page, at the given size. */
  page(viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

/** `gateway`: options of the test gateway (a store that fails on cue, records seeded). */
export async function startHarness(gateway: Omit<TestGatewayOptions, "consoleDir"> = {}): Promise<Harness> {
  const outDir = mkdtempSync(join(tmpdir(), "clearance-console-build-"));
  await build({
    configFile: resolve("console/vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
  const t = await startTestGateway({ ...gateway, consoleDir: outDir });
  const tokens = {
    officer: await createIdentity(t, "olivia@regulator", ["compliance-officer"]),
    approver1: await createIdentity(t, "alan@regulator", ["approver"]),
    approver2: await createIdentity(t, "beth@regulator", ["approver"]),
    applicant: await createIdentity(t, "hans@bw-cyber", ["applicant"], "bw-cyber"),
    viewer: await createIdentity(t, "vera@auditor", ["viewer"]),
    admin: await createIdentity(t, "ada@provider", ["admin"]),
  };
  const browser = await chromium.launch({ executablePath: CHROMIUM as string, args: ["--no-sandbox"] });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    t,
    consoleDir: outDir,
    browser,
    tokens,
    async page(viewport = DESKTOP) {
      const context = await browser.newContext({ viewport, baseURL: t.url });
      const page = await context.newPage();
      // A page error or a CSP violation is a failure, not noise.
      page.on("pageerror", (err) => {
        throw err;
      });
      page.on("console", (msg) => {
        if (msg.type() === "error" && /Content Security Policy/.test(msg.text())) {
          throw new Error(`CSP violation: ${msg.text()}`);
        }
      });
      return { context, page };
    },
    async close() {
      await browser.close();
      await t.gateway.close();
    },
  };
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.goto("/console/");
  await page.getByLabel("Identity token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("navigation", { name: "Pages" }).waitFor();
}

/** Goes to a page through the navigation, as a person would. */
export async function open(page: Page, title: string): Promise<void> {
  await page
    .getByRole("navigation", { name: "Pages" })
    .getByRole("link", { name: title, exact: true })
    .click();
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
}

/** WCAG 2.1 A and AA: no violations. */
export async function expectAccessible(page: Page, where: string): Promise<void> {
  const result = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  const found = result.violations.map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`,
  );
  expect(found, `accessibility of ${where}`).toEqual([]);
}

/** The page from its top, or with `at` scrolled into view. */
export async function screenshot(page: Page, name: string, at?: Locator): Promise<void> {
  if (at === undefined) await page.evaluate(() => window.scrollTo(0, 0));
  else await at.evaluate((el) => el.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}
