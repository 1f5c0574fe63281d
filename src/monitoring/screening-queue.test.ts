/**
 * clearance_screening_queue_length, through restarts: a node started on a store whose review queue
 * already holds matches says how many from its first scrape, not 0 until the store next changes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { asAdmin } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway } from "../testing/gateway.js";

const FIXTURES = join(import.meta.dirname, "..", "screening", "fixtures");
const file = (name: string) => ({
  name: name.split("/").pop()!,
  content_base64: readFileSync(join(FIXTURES, name)).toString("base64"),
});

const queueLength = async (url: string): Promise<string | undefined> => {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return /^clearance_screening_queue_length (\S+)$/m.exec(await r.text())?.[1];
};

it("reports the matches awaiting review from the first scrape after a restart", async () => {
  const first = await startTestGateway();
  const dataDir = first.dataDir;
  try {
    await asAdmin(
      first,
      "POST",
      "/admin/v1/screening/lists",
      { files: [file("ofac/sdn.csv"), file("ofac/alt.csv"), file("ofac/add.csv")] },
      201,
    );
    await asAdmin(first, "POST", "/admin/v1/principals", {
      id: "ivan",
      name: "Ivan Petrov",
      birth_date: "1965-01-12",
      citizenships: [{ country: "DE" }],
      residence: "DE",
      assurance: "verified",
    });
    await first.gateway.screening.idle();
    expect(await first.gateway.store.screening.matches({ status: "potential" })).toHaveLength(1);
  } finally {
    await first.gateway.close();
  }

  const again = await startTestGateway({ dataDir });
  try {
    // Nothing changes in the store meanwhile: the figure is read when the node starts.
    expect(await queueLength(again.url)).toBe("1");
  } finally {
    await again.gateway.close();
  }
});
