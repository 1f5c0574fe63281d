/** `clearance remote screening …`: the same verbs as the local ones, through a running server. */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../../cli/io.js";
import { run } from "../../cli/program.js";
import { asAdmin, createIdentity } from "../../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures");
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.gateway.close();
});

async function cli(args: string[], token = ADMIN_TOKEN) {
  let out = "";
  let err = "";
  const saved = process.env.CLEARANCE_TOKEN;
  process.env.CLEARANCE_TOKEN = token;
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  try {
    const code = await run([...args, "--url", t.url], io);
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
    else process.env.CLEARANCE_TOKEN = saved;
  }
}

describe("clearance remote screening", () => {
  it("imports, lists, diffs, searches, rescreens, and reviews through the admin API", async () => {
    const imported = await cli(["remote", "screening", "import", join(FIXTURES, "ofac", "sdn.csv")]);
    expect(imported.out, imported.err).toContain("imported ofac-sdn version 1: 3 entries (+3 -0 ~0)");
    expect((await cli(["remote", "screening", "lists"])).out).toMatch(/ofac-sdn +1 +active +ofac-csv/);
    expect((await cli(["remote", "screening", "diff", "ofac-sdn"])).out).toContain("added (3):");
    const search = await cli([
      "remote",
      "screening",
      "search",
      "Ivan Petrov",
      "--type",
      "person",
      "--birth-date",
      "1965",
    ]);
    expect(search.out).toContain("ofac-sdn/101  PETROV, Ivan Sergeyevich");

    await asAdmin(t, "POST", "/admin/v1/principals", {
      id: "ivan-r",
      name: "Ivan S. Petrov",
      birth_date: "1965-01-12",
      citizenships: [{ country: "FR" }],
    });
    expect((await cli(["remote", "screening", "rescreen"])).out).toMatch(
      /rescreened \d+ principals and organizations against 3 entries/,
    );
    const queue = await cli(["remote", "screening", "review", "list", "--json"]);
    const match = JSON.parse(queue.out).data.find((m: { subject_id: string }) => m.subject_id === "ivan-r");
    expect(match).toBeDefined();
    const reviewer = await createIdentity(t, "remote-reviewer", ["reviewer"]);
    const viewer = await createIdentity(t, "remote-viewer", ["viewer"]);
    const refused = await cli(["remote", "screening", "review", "clear", match.id, "--reason", "x"], viewer);
    expect(refused.code).toBe(1);
    const cleared = await cli(
      ["remote", "screening", "review", "clear", match.id, "--reason", "different person"],
      reviewer,
    );
    expect(cleared.out).toBe(`${match.id}: cleared\n`);
    const shown = await cli(["remote", "screening", "review", "show", match.id], viewer);
    expect(shown.out).toContain("cleared by remote-reviewer (different person)");
  });
});
