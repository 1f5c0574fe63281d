import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".clearance/", "bench/results/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    // What runs on every request. On Node 20 (V8 11.3) an object literal that spreads an object and
    // then adds members, or spreads a second one, takes V8's slow path on every call (1 to 4 µs,
    // a new hidden class each time; bench:bodies, `literals`): assign instead.
    files: [
      "src/gateway/{proxy,relay,index,observer,usage,upstream-error,auth,request-facts,wire,models}.ts",
      "src/upstream/{http,body,sse}.ts",
      "src/counters/*.ts",
      "src/monitoring/*.ts",
      "src/alerts/detectors.ts",
      "src/audit/{entry,log,wal,tree,merkle,tiles}.ts",
      "src/location/*.ts",
      "src/metering/*.ts",
      "src/policy/*.ts",
      "src/http/*.ts",
    ],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "ObjectExpression > SpreadElement ~ *",
          message:
            "On the request path, assign (Object.assign, then members) instead of spreading and adding members in one literal: Node 20's V8 takes its slow path for that literal on every call.",
        },
      ],
    },
  },
);
