/**
 * The HTML footprint opened in a real browser (Debian's chromium-headless-shell through
 * playwright-core): the page loads from a file with nothing fetched, its script runs without
 * errors, and choosing another model and action recolours the policy map. Skipped, saying so,
 * where no such browser is installed.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSchemeFile } from "../scheme/index.js";
import type { FootprintReport } from "./footprint.js";
import { renderFootprint } from "./format.js";
import { ACCESS_COLOURS } from "./html.js";
import { policyFootprint } from "./policy.js";
import { ServedCounter } from "./served.js";

const BROWSER = "/usr/bin/chromium-headless-shell";
const available = existsSync(BROWSER);
if (!available) console.warn(`skipping the browser test: ${BROWSER} is not installed`);

function report(): FootprintReport {
  const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
  const period = { from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" };
  const counter = new ServedCounter(scheme, new Map(), period);
  for (const [location, decision] of [
    ["US", "allow"],
    ["IN", "fallback"],
    ["IR", "deny"],
  ] as const) {
    counter.add({
      action: "infer",
      decision,
      grant: null,
      location,
      model: "mythos-5",
      node: "gw-1",
      organization: null,
      principal: "someone",
      reason:
        decision === "allow"
          ? "home-person"
          : decision === "deny"
            ? "embargoed-location"
            : "no-authorization",
      request_id: "r",
      scheme: scheme.digest,
      served_model: decision === "deny" ? null : decision === "allow" ? "mythos-5" : "mythos-4",
      time: "2026-11-15T00:00:00.000Z",
      type: "decision",
    });
  }
  const served = counter.result({
    licenseTokens: new Map(),
    days: { from: "2026-11-01", to: "2026-11-30" },
    quotaUsed: new Map(),
  });
  const at = Date.parse("2026-11-21T00:00:00Z");
  return {
    report: "footprint",
    generated_at: new Date(at).toISOString(),
    scheme: scheme.ref,
    served,
    policy: policyFootprint(scheme, at),
  };
}

describe.skipIf(!available)("the HTML footprint in a browser", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: BROWSER });
  }, 30_000);
  afterAll(() => browser?.close());

  it("loads from a file with nothing fetched, and the selector recolours the policy map", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "clearance-html-")), "footprint.html");
    writeFileSync(file, renderFootprint(report(), "html"));
    const page = await browser.newPage();
    const errors: string[] = [];
    const fetched: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith("file://")) fetched.push(r.url());
    });
    await page.goto(`file://${file}`);
    const fill = (code: string) => page.getAttribute(`#policy-map path[data-country="${code}"]`, "fill");
    expect(await fill("US")).toBe(ACCESS_COLOURS["partner-nationals"]);
    expect(await fill("IN")).toBe(ACCESS_COLOURS["home-persons"]);
    await page.selectOption("#policy-select", "mythos-5-weights|weights");
    expect(await fill("US")).toBe(ACCESS_COLOURS["home-persons"]);
    expect(await fill("FR")).toBe(ACCESS_COLOURS.nobody);
    expect(await page.textContent(`#policy-map path[data-country="FR"] title`)).toBe("France (FR): nobody");
    await page.selectOption("#policy-select", "mythos-4|infer");
    expect(await fill("IN")).toBe(ACCESS_COLOURS.everyone);
    expect(await fill("IR")).toBe(ACCESS_COLOURS.embargoed);
    const box = await page.locator("#served-map").boundingBox();
    expect(box?.width).toBeGreaterThan(300);
    expect(errors).toEqual([]);
    expect(fetched).toEqual([]);
  }, 30_000);
});
