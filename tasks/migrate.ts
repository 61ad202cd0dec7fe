/** `deno task migrate`: creates the database if missing and applies pending migrations. */
import { loadConfig } from "../lib/config/mod.ts";
import { parseFlags, runMain } from "../lib/cli/mod.ts";
import { out } from "../lib/log/mod.ts";
import { runMigrations } from "../lib/db/mod.ts";

const help = `Creates the database of database.url if missing and applies the SQL migrations in
migrations/ that it lacks (the consumer does the same when it starts). Safe to run again.

USAGE:
  deno task migrate [OPTIONS]

OPTIONS:
  --status            list each migration as applied or pending; change nothing
  --config PATH       pipeline.yaml to read (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  -h, --help          show this help

OUTPUT:
  stdout: one line per migration: "applied<TAB>tag" (--status: "applied|pending<TAB>tag<TAB>hash")
  stderr: the database (password masked) and a summary

EXIT CODES:
  0  done (also when nothing was pending)
  1  a migration failed (the error names it; running again resumes it)
  2  usage or config error, database unreachable or access denied`;

runMain(async () => {
  const { values: flags } = parseFlags(Deno.args, { status: { type: "boolean" } });
  if (flags.help) {
    out(help);
    return;
  }
  const config = await loadConfig(flags.config);
  return await runMigrations(config, { status: Boolean(flags.status) });
});
