/**
 * The console in a real browser against a real gateway: one gateway and one browser for every
 * suite (each suite file registers its tests here, so they share them and run in order).
 */
import { afterAll, beforeAll, describe } from "vitest";
import { CHROMIUM, startHarness, type Harness } from "./harness.js";
import { alertsSuite } from "./alerts.js";
import { auditSuite } from "./audit.js";
import { identitySuite } from "./identity.js";
import { licensesSuite } from "./licenses.js";
import { overviewSuite } from "./overview.js";
import { partnerSignInSuite } from "./partner-sign-in.js";
import { principalsSuite } from "./principals.js";
import { schemesSuite } from "./schemes.js";
import { screeningSuite } from "./screening.js";
import { whatIfSuite } from "./whatif.js";
import { shellSuite } from "./shell.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

describe.skipIf(CHROMIUM === null)("the console in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });
  shellSuite(h);
  licensesSuite(h);
  principalsSuite(h);
  schemesSuite(h);
  auditSuite(h);
  overviewSuite(h);
  alertsSuite(h);
  identitySuite(h);
  partnerSignInSuite(h);
  screeningSuite(h);
  whatIfSuite(h);
});
