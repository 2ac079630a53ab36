import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".wrangler/", ".sipedge/", "**/*.d.ts"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    // Library code logs through the injected logger (STYLE.md), never console.
    files: ["src/**/*.ts", "durable-objects/**/*.ts"],
    rules: { "no-console": "error" },
  },
);
