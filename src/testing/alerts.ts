/** The alert service as one node runs it, for tests of what it raises and stores across a node's lives. */
import { AlertService, type AlertServiceOptions } from "../alerts/service.js";
import type { Store } from "../store/index.js";

/** Opens the alert service: no license used, a change in force at once, every error thrown. */
export const openAlertService = (
  o: Omit<AlertServiceOptions, "licenseUsage" | "changed" | "onError">,
): Promise<AlertService> =>
  AlertService.open({
    ...o,
    licenseUsage: async () => 0,
    changed: async () => {},
    onError: (err) => {
      throw err;
    },
  });

/** The alerts `store` holds, each as "detector subject severity", sorted. */
export const storedAlerts = async (store: Store): Promise<string[]> =>
  (await store.alerts.list()).map((a) => `${a.detector} ${a.subject.id} ${a.severity}`).sort();
