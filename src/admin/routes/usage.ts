/** Usage: per license in its quota period (what is left), and totals. */
import { z } from "zod";
import type { LicenseRecord } from "../../licensing/types.js";
import { periodKey } from "../../metering/index.js";
import type { AdminDeps } from "../deps.js";
import { route } from "../router.js";
import { LICENSE_READERS, ownOnly } from "./roles.js";

export async function periodUsage(deps: AdminDeps, r: LicenseRecord) {
  const period = r.terms.quota_period;
  const used = await deps.licenseUsage(r.id, period);
  const quota = r.terms.quota_tokens ?? null;
  return {
    license: r.id,
    status: r.status,
    quota_period: period,
    period: periodKey(period, new Date(deps.now())),
    used_tokens: used,
    quota_tokens: quota,
    remaining_tokens: quota === null ? null : Math.max(0, quota - used),
  };
}

export const usageRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/usage",
    tag: "usage",
    summary: "Token usage totals by organization, principal and license",
    roles: LICENSE_READERS,
    query: z.object({}),
    async handle({ deps, caller }) {
      if (!ownOnly(caller, LICENSE_READERS)) return deps.store.usage.totals();
      // An applicant (or a partner's person) sees its own organization, and the licenses it holds:
      // summed in the store over those rows only, not everyone's usage summed and then filtered.
      const licenses = deps
        .state()
        .licenses.filter(
          (l) =>
            "organization" in l.document.licensee && l.document.licensee.organization === caller.organization,
        )
        .map((l) => l.id);
      const org = caller.organization ?? "";
      const { byOrganization, byLicense } = await deps.store.usage.scopedTotals({
        organization: org === "" ? null : org,
        licenses,
      });
      // In the order the answer always had (the CLI prints it as it comes).
      return { byOrganization, byLicense };
    },
  }),
];
