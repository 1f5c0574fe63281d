import { defineConfig } from "vitest/config";

// The long hardening suites (faults, crashes): run by their own npm scripts, never inside `npm test`.
export default defineConfig({
  test: {
    include: ["src/hardening/**/*.long.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    fileParallelism: false,
  },
});
