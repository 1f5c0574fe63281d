/**
 * Stored ids in `report footprint` and `scheme what-if` as text, CSV and HTML. Only their JSON was
 * escaped: an organization or principal id holding a line separator (ids refuse C0 and C1, not
 * it) or a bidirectional override (refused on intake now, but a store written before holds them:
 * seeded here through the store) reached the terminal raw in the other formats. On stdout every
 * format now shows stored values as the CLI's table cells do (`\u202e`); a CSV or HTML file written
 * with --out keeps them exact. In every CSV a cell a spreadsheet would run as a formula starts with
 * `'`, and in HTML a stored `<script>` is text, never run (checked in a real browser where one is
 * installed).
 */
import { parse } from "csv-parse/sync";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePrincipal } from "../../policy/index.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";
import { putPrincipalAsBefore } from "../../testing/older-principals.js";
import { CONTROL_CHARACTERS, cellText, type Io } from "../io.js";
import { run } from "../program.js";

/** A formula, markup that would run, a right-to-left override and a line separator. */
const ORG = "=1+1<script>window.ran=1</script>\u202egnp.exe\u2028x";
const ID = "mal\u202elory";
/** What a terminal acts on, line breaks (counted apart) aside. */
const ACTED_ON = new RegExp(`(?!\\n)[${CONTROL_CHARACTERS}]`);
const BROWSER = "/usr/bin/chromium-headless-shell";

let t: TestGateway;
let key = "";
const dir = mkdtempSync(join(tmpdir(), "clearance-report-text-"));
/** The example scheme with mythos-5 for home persons only: a German national loses it. */
const candidate = join(dir, "candidate.yaml");

async function cli(...args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

beforeAll(async () => {
  writeFileSync(
    candidate,
    readFileSync("examples/g7-trusted-partners.yaml", "utf8").replace(
      "mythos-5: { control: controlled,",
      "mythos-5: { control: home-only,",
    ),
  );
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-report-text-gw-"));
  t = await startTestGateway({
    dataDir,
    seed: async (s) => {
      // The store refuses the override in new writes: written as a release before did.
      putPrincipalAsBefore(
        dataDir,
        parsePrincipal({
          id: ID,
          citizenships: [{ country: "DE", since: "1990-03-03" }],
          residence: "DE",
          organization: { id: ORG, country: "DE" },
          assurance: "attested",
        }),
      );
      key = (await s.keys.create(ID, "test")).key;
    },
  });
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hello" }] }),
  });
  await res.arrayBuffer();
  expect([res.headers.get("x-clearance-decision"), res.headers.get("x-clearance-reason")]).toEqual([
    "allow",
    "partner-country",
  ]);
  await t.gateway.audit.log.publish();
}, 60_000);
afterAll(() => t.gateway.close());

const footprint = (...args: string[]) => cli("report", "footprint", "--data-dir", t.dataDir, ...args);
const whatIf = (...args: string[]) => cli("scheme", "what-if", candidate, "--data-dir", t.dataDir, ...args);
const rows = (csv: string) => parse(csv, { columns: true }) as Record<string, string>[];

describe("stored ids on stdout", () => {
  it("what-if --format text shows them as cells do", async () => {
    const r = await whatIf("--format", "text");
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(ACTED_ON);
    expect(r.out).toContain(cellText(ORG));
    expect(r.out).toContain(cellText(ID));
  });

  it("footprint and what-if CSV: valid CSV, the values as cells show them, formulas not run", async () => {
    const f = await footprint("--format", "csv");
    expect(f.code).toBe(0);
    expect(f.out).not.toMatch(ACTED_ON);
    expect(rows(f.out).map((x) => x.organization)).toContain(`'${cellText(ORG)}`);
    const w = await whatIf("--format", "csv");
    expect(w.code).toBe(0);
    expect(w.out).not.toMatch(ACTED_ON);
    const lost = rows(w.out).find((x) => x.organization?.includes("window.ran"));
    expect(lost).toMatchObject({
      direction: "loss",
      organization: `'${cellText(ORG)}`,
      examples: `${cellText(ID)}@DE`,
    });
  });

  it("footprint and what-if HTML", async () => {
    for (const r of [await footprint("--format", "html"), await whatIf("--format", "html")]) {
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(ACTED_ON);
      expect(r.out).toContain("=1+1&#60;script&#62;window.ran=1&#60;/script&#62;\\u202egnp.exe\\u2028x");
    }
  });
});

describe("stored ids in a file written with --out", () => {
  it("CSV keeps them exact, formulas still not run", async () => {
    const out = join(dir, "served.csv");
    expect((await footprint("--format", "csv", "--out", out)).code).toBe(0);
    expect(rows(readFileSync(out, "utf8")).map((x) => x.organization)).toContain(`'${ORG}`);
    const impact = join(dir, "impact.csv");
    expect((await whatIf("--format", "csv", "--out", impact)).code).toBe(0);
    expect(
      rows(readFileSync(impact, "utf8")).find((x) => x.organization?.includes("window.ran")),
    ).toMatchObject({
      direction: "loss",
      organization: `'${ORG}`,
      examples: `${ID}@DE`,
    });
  });

  it.skipIf(!existsSync(BROWSER))(
    "HTML: in a browser, a stored <script> is text and never runs",
    async () => {
      const pages = [join(dir, "footprint.html"), join(dir, "impact.html")];
      expect((await footprint("--format", "html", "--out", pages[0]!)).code).toBe(0);
      expect((await whatIf("--format", "html", "--out", pages[1]!)).code).toBe(0);
      const browser = await chromium.launch({ executablePath: BROWSER });
      try {
        for (const file of pages) {
          const page = await browser.newPage();
          const errors: string[] = [];
          page.on("pageerror", (e) => errors.push(e.message));
          await page.goto(`file://${file}`);
          expect(await page.evaluate(() => (globalThis as unknown as { ran?: number }).ran)).toBeUndefined();
          const cells = await page.locator("td").allTextContents();
          expect(cells).toContain(ORG);
          expect(errors).toEqual([]);
        }
      } finally {
        await browser.close();
      }
    },
    30_000,
  );
});

describe("stored ids in the remote reports footprint and schemes what-if", () => {
  const remote = async (...args: string[]) => {
    const saved = process.env.CLEARANCE_TOKEN;
    process.env.CLEARANCE_TOKEN = ADMIN_TOKEN;
    try {
      return await cli(...args, "--url", t.url);
    } finally {
      if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
      else process.env.CLEARANCE_TOKEN = saved;
    }
  };

  it("JSON is the same JSON, escaped; CSV, HTML and text show them as cells do, as the local verbs", async () => {
    // Before: what a terminal acts on was taken out of the JSON text, so it no longer held the id.
    const json = await remote("reports", "footprint");
    expect(json.code).toBe(0);
    expect(json.out).not.toMatch(ACTED_ON);
    const report = JSON.parse(json.out) as { served: { rows: { organization: string }[] } };
    expect(report.served.rows.map((x) => x.organization)).toContain(ORG);
    const csv = await remote("reports", "footprint", "--format", "csv");
    expect(rows(csv.out).map((x) => x.organization)).toContain(`'${cellText(ORG)}`);
    const html = await remote("reports", "footprint", "--format", "html");
    expect(html.out).toContain("\\u202egnp.exe\\u2028x");
    const uploaded = await remote("schemes", "upload", candidate);
    expect(uploaded.code).toBe(0);
    const version = /uploaded scheme version (\d+)/.exec(uploaded.err)?.[1] ?? "";
    const text = await remote("schemes", "what-if", version);
    expect(text.code).toBe(0);
    expect(text.out).toContain(cellText(ORG));
    const csvImpact = await remote("schemes", "what-if", version, "--format", "csv");
    expect(rows(csvImpact.out).find((x) => x.organization?.includes("window.ran"))).toMatchObject({
      organization: `'${cellText(ORG)}`,
      examples: `${cellText(ID)}@DE`,
    });
  });
});
