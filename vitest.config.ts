import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "console/src/**/*.test.ts", "console/e2e/**/*.test.ts"],
    // Suites that need PostgreSQL run when a server answers (see src/store/postgres) and skip otherwise.
    exclude: ["**/node_modules/**", "**/dist/**"],
    // Time limits catch hangs, not slowness: a loaded 2-core CI machine runs some suites 10× slower.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // expect.poll waits for a state to arrive (a page to update), not for speed: 1 s by default was
    // too short for a browser sending 8 MB on a CI machine at load 15.
    expect: { poll: { timeout: 30_000 } },
  },
});
