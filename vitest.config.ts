import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    // Suites that need a running PostgreSQL or Redis are opted into by .ci/run.
    exclude: ["**/node_modules/**", "**/dist/**"],
  },
});
