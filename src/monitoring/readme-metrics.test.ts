/**
 * The README's metrics table, kept honest as the configuration reference is: every metric the
 * gateway registers (with every source a node can have) is named in the table, and every metric the
 * table names is one the gateway registers. Add a metric without documenting it and this fails,
 * naming it.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import type { CompiledScheme } from "../scheme/index.js";
import type { DatabaseStatus } from "../location/index.js";
import { GatewayMetrics, type MetricSources } from "./metrics.js";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** The names in backticks in the first column of the table whose header's first cell is "metric". */
function tableMetrics(): Set<string> {
  const lines = README.split("\n");
  const header = lines.findIndex((l) => /^\|\s*metric\s*\|/.test(l));
  if (header < 0) throw new Error('README.md has no table whose first column is "metric"');
  const names = new Set<string>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const first = line.split("|")[1] ?? "";
    for (const m of first.matchAll(/`([a-z_][a-z0-9_]*)`/g)) names.add(m[1]!);
  }
  return names;
}

/** Every source a gateway node can give its metrics: each metric they gate is registered. */
const everySource: Required<MetricSources> = {
  scheme: () => ({ models: new Map(), licenses: new Map() }) as unknown as CompiledScheme,
  licenseUsage: async () => 0,
  audit: () => ({ size: 0n, published: null }),
  snapshot: () => ({ unconfirmedMs: 0, version: 1 }),
  countersUnavailable: () => null,
  countersEvictionRisk: () => null,
  leftOut: () => [],
  screeningUnscreened: () => 0,
  locationDatabase: () => ({}) as unknown as DatabaseStatus,
  usageJournal: () => ({ appendFailures: 0, pendingRows: 0 }),
  federatedPending: () => 0,
};

it("names in the README's metrics table exactly the metrics a gateway registers", () => {
  const registered = new GatewayMetrics(everySource, { defaultMetrics: false }).registry
    .getMetricsAsArray()
    .map((m) => m.name);
  const documented = tableMetrics();
  expect(registered.length).toBeGreaterThan(20);
  expect(
    registered.filter((name) => !documented.has(name)).sort(),
    "registered, not in the README's table",
  ).toEqual([]);
  expect(
    [...documented].filter((name) => !registered.includes(name)).sort(),
    "in the README's table, not registered",
  ).toEqual([]);
});
