/**
 * A partner or license in the store that does not compile with the active scheme version is left
 * out of the policy in force (what it would grant is denied). /readyz says so, compactly — how many to
 * anyone, what and why to a caller who reads every partner and license — and stays ready (failing
 * closed already; taking every node out of rotation would switch the service off); /metrics counts
 * it in clearance_policy_left_out, for alerts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t.gateway.close());

const leftOutGauge = async () => {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await res.text();
  const value = (kind: string) =>
    Number(new RegExp(`^clearance_policy_left_out\\{kind="${kind}"\\} (\\d+)$`, "m").exec(text)?.[1]);
  return { partner: value("partner"), license: value("license") };
};

interface Ready {
  readonly status: string;
  readonly warnings?: string[];
  readonly left_out?: { count: number; items?: { kind: string; id: string; why: string }[] };
}

describe("what the policy in force leaves out", () => {
  it("is reported by /readyz (what and why), which stays ready, and counted in a gauge", async () => {
    const before = await fetch(`${t.url}/readyz`);
    expect(before.status).toBe(200);
    expect(await before.json()).not.toHaveProperty("left_out");
    expect(await leftOutGauge()).toEqual({ partner: 0, license: 0 });

    // A record the active version cannot compile (a race with an older build, a hand-edited database).
    const { store } = t.gateway;
    const record = await store.records.get<{ partner: { grants: { models: string[] }[] } }>(
      "partner",
      "eu-members",
    );
    const broken = structuredClone(record!.document);
    broken.partner.grants[0]!.models = ["no-such-model"];
    await store.records.put("partner", "eu-members", broken, record!.revision, {
      actor: "test",
      action: "partner.update",
    });
    await t.gateway.snapshot.refresh();
    expect(t.gateway.snapshot.current.control.leftOut).toHaveLength(1);

    // A probe (no token) is told how many, and not which: ids and problems are the control plane's.
    const probe = await fetch(`${t.url}/readyz`);
    expect(probe.status).toBe(200);
    const text = await probe.text();
    expect(text).not.toContain("eu-members");
    const counted = JSON.parse(text) as Ready;
    expect(counted.status).toBe("ok");
    expect(counted.left_out).toEqual({ count: 1 });
    expect(counted.warnings?.join("\n")).toMatch(/1 partner or license is left out of the policy in force/);
    // A caller who reads every partner and license is told what and why.
    const ready = (token: string) =>
      fetch(`${t.url}/readyz`, { headers: { authorization: `Bearer ${token}` } });
    const res = await ready(ADMIN_TOKEN);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Ready;
    expect(body.left_out).toEqual({
      count: 1,
      items: [
        { kind: "partner", id: "eu-members", why: expect.stringMatching(/grants.*models.*no-such-model/) },
      ],
    });
    expect(body.warnings).toEqual(counted.warnings);
    const applicant = await createIdentity(t, "lo-applicant", ["applicant"], "bw-cyber");
    expect(((await (await ready(applicant)).json()) as Ready).left_out).toEqual({ count: 1 });
    // A token that is not an admin's (a probe passing a client's key along) is a probe's answer.
    const stranger = await ready("not-a-token");
    expect(stranger.status).toBe(200);
    expect(((await stranger.json()) as Ready).left_out).toEqual({ count: 1 });
    expect(await leftOutGauge()).toEqual({ partner: 1, license: 0 });

    // Not ready for another reason: said all the same.
    const holder = t.gateway.snapshot;
    holder.stop();
    await holder.refresh(); // after any poll under way, which would confirm it again
    holder.confirmedAt = -Infinity;
    try {
      const stale = await ready(ADMIN_TOKEN);
      expect(stale.status).toBe(503);
      const notReady = (await stale.json()) as Ready & { reasons: string[] };
      expect(notReady.reasons).toHaveLength(1);
      expect(notReady.left_out).toEqual(body.left_out);
      expect(notReady.warnings).toEqual(body.warnings);
    } finally {
      holder.confirmedAt = performance.now();
      holder.start(50);
    }
  });
});
