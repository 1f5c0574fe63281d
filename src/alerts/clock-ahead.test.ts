/**
 * A fleet node whose clock is badly ahead, with the fleet's sightings shared through Redis: its
 * sightings are taken as of when Redis received them (counted and reported), so one dated a year ahead
 * neither dates its alert a year ahead nor runs the periodic sweep a year ahead, which forgot every
 * other subject's state (a principal's embargoed attempts counted anew). Skipped, saying so, without
 * Redis.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { storedAlerts } from "../testing/alerts.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisAdmin, redisSkipReason } from "../testing/redis.js";
import { fengSightings } from "../testing/sightings.js";
import type { Sighting } from "./detectors.js";
import { AlertService } from "./service.js";

if (redisSkipReason !== undefined)
  console.warn(`src/alerts/clock-ahead.test.ts: SKIPPED, ${redisSkipReason}`);

const config = configSchema.parse({
  scheme: "s.yaml",
  providers: {},
  monitoring: { alerts: { shared: "redis" } },
}).monitoring.alerts;
const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const MIN = 60_000;
const YEAR = 365 * 24 * 60 * MIN;
const { sighting, embargoed } = fengSightings();

let store: Store;
let service: AlertService | undefined;
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-clock-ahead-")) });
});
afterEach(async () => {
  await service?.close();
  service = undefined;
  await store.close();
});
afterAll(async () => {
  await dropPrefixes();
});

/** Appends sightings to the fleet's stream, as the nodes deciding them would, in one pipeline. */
async function published(prefix: string, sightings: readonly Sighting[]): Promise<void> {
  const pipe = redisAdmin().pipeline();
  for (const s of sightings) pipe.xadd(`${prefix}alerts:sightings`, "*", "s", JSON.stringify(s));
  await pipe.exec();
}

describe.skipIf(redisSkipReason !== undefined)(
  redisSkipReason === undefined
    ? "a fleet node whose clock is ahead"
    : `a fleet node whose clock is ahead: SKIPPED, ${redisSkipReason}`,
  () => {
    it("its sighting a year ahead neither dates its alert a year ahead nor forgets every other subject's state", async () => {
      const prefix = freshPrefix();
      const errors: string[] = [];
      service = await AlertService.open({
        config,
        store,
        scheme: () => scheme,
        redis: { url: REDIS_URL, prefix },
        licenseUsage: async () => 0,
        changed: async () => {},
        onError: (err) => errors.push((err as Error).message),
      });
      await service.warmedUp();
      const now = Date.now();
      // feng tries twice from Iran; the fleet serves 9,997 ordinary requests; the node whose clock
      // is a year ahead refuses a denied party (its sighting is the 10,000th: the sweep's turn);
      // feng's third attempt is "repeated" (3 within the window): high.
      const bulk = Array.from({ length: 9_997 }, (_, i) =>
        sighting({ t: now - MIN, principal: "bulk", credential: "k-bulk", requestId: `bulk-${i}` }),
      );
      await published(prefix, [
        embargoed(now - 3 * MIN),
        embargoed(now - 2 * MIN),
        ...bulk,
        sighting({ t: now + YEAR, principal: "listed", credential: "k-listed", reason: "denied-party" }),
        embargoed(now),
      ]);
      const expected = [
        "denied-party listed critical",
        "embargoed-attempt feng high",
        "embargoed-attempt feng medium",
      ];
      await eventually(
        () => storedAlerts(store),
        (l) => l.length >= 3,
      );
      await service.settled();
      const after = Date.now();
      expect(await storedAlerts(store)).toEqual(expected);
      const [listed] = await store.alerts.list({ detector: "denied-party" });
      expect(Date.parse(listed!.raised_at)).toBeGreaterThanOrEqual(now);
      expect(Date.parse(listed!.raised_at)).toBeLessThanOrEqual(after);
      // Reported by the feed's next tick.
      await eventually(
        async () => errors.length,
        (n) => n >= 1,
      );
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /^alert sighting stream: 1 sighting dated more than 60 s ahead of this node's clock, taken as of when Redis received them/,
      );
    });
  },
);
