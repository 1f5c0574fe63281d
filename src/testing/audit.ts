/** The audit log opened as start-up opens it, for tests of what start-up checks and says. */
import { openAudit, type AuditOptions, type OpenAudit } from "../audit/index.js";

/**
 * Opens the audit log (a checkpoint a second, every error thrown), collecting the lines it logs;
 * its close is pushed onto `closing`, for the test file to run after all.
 */
export async function openAuditLogged(
  options: Pick<AuditOptions, "dataDir" | "origin" | "keyFile" | "store">,
  closing: (() => Promise<void>)[],
): Promise<{ audit: OpenAudit; lines: string[] }> {
  const lines: string[] = [];
  const audit = await openAudit({
    ...options,
    checkpointMs: 1_000,
    onError: (err) => {
      throw err;
    },
    log: (line) => lines.push(line),
  });
  closing.push(() => audit.log.close());
  return { audit, lines };
}
