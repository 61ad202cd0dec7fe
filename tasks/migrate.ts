/** `deno task migrate`: creates the database if missing and applies pending migrations. */
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { ExitCode, parseFlags, runMain } from "../lib/cli/mod.ts";
import { log, out, warn } from "../lib/log/mod.ts";
import {
  applyKeyType,
  applyMigrations,
  migrationStatus,
  openDatabase,
  retryMessage,
} from "../lib/db/mod.ts";

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

/** Applies pending migrations and prints each one applied, or lists them with `status`. */
async function runMigrations(
  config: PipelineConfig,
  options: { status: boolean },
): Promise<number> {
  await using db = await openDatabase(config, {
    migrate: false,
    onRetry: (...retry) => warn(retryMessage(...retry)),
  });
  log(`database ${db.target.display}`);
  if (options.status) {
    for (const m of await migrationStatus(db)) {
      out(`${m.applied ? "applied" : "pending"}\t${m.tag}\t${m.hash.slice(0, 12)}`);
    }
    return ExitCode.ok;
  }
  const applied = await applyMigrations(db);
  for (const tag of applied) out(`applied\t${tag}`);
  if (await applyKeyType(db, config.database.keyType, log)) {
    out(`applied\tkey_type ${config.database.keyType}`);
  }
  const total = (await migrationStatus(db)).length;
  log(
    applied.length
      ? `${applied.length} migration(s) applied`
      : `up to date (${total} migration(s))`,
  );
  return ExitCode.ok;
}
