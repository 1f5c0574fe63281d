/** The configured providers, by name. */
import type { GatewayConfig } from "../config/index.js";
import { createDemoProvider } from "./demo.js";
import { createHttpProvider } from "./http.js";
import type { Provider } from "./types.js";

export * from "./types.js";

export function createProviders(config: GatewayConfig): Map<string, Provider> {
  const providers = new Map<string, Provider>();
  for (const [name, p] of Object.entries(config.file.providers)) {
    if (p.type === "demo") {
      providers.set(name, createDemoProvider({ tokenDelayMs: p.token_delay_ms }));
      continue;
    }
    const apiKey = config.apiKeys.get(name);
    providers.set(
      name,
      createHttpProvider({
        name,
        type: p.type,
        baseUrl: p.base_url,
        ...(apiKey === undefined ? {} : { apiKey }),
        connections: p.connections,
        timeouts: p.timeouts,
      }),
    );
  }
  return providers;
}
