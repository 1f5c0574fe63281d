/**
 * The console's build: static files under dist/console of the package, which the gateway serves at
 * /console/. Modules shared with the server (zod schemas, the audit log's formats) are imported from
 * ../src; the two Node built-ins they touch are replaced by browser shims (see src/shims).
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "/console/",
  plugins: [react()],
  resolve: {
    alias: {
      "node:module": here("src/shims/module.ts"),
      "node:crypto": here("src/shims/crypto.ts"),
      "node:fs": here("src/shims/fs.ts"),
    },
  },
  build: {
    outDir: here("../dist/console"),
    emptyOutDir: true,
    // Inline nothing as data: URLs (fonts stay files the CSP allows from 'self').
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      // zod's sources carry /* @__PURE__ */ comments where Rollup cannot use them: harmless noise.
      onwarn(warning, warn) {
        if (warning.code !== "INVALID_ANNOTATION") warn(warning);
      },
    },
  },
});
