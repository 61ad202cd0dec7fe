/** drizzle-kit settings: `deno task db:generate` writes SQL migrations from lib/db/_schema.ts. */
export default {
  dialect: "mysql",
  schema: "./lib/db/_schema.ts",
  out: "./migrations",
  // Keep generated SQL free of unintended defaults: every name is explicit in the schema.
  strict: true,
  verbose: true,
};
