/** `deno task check [--dry-run FILE]`: every precondition of the pipeline, checked at once. */
import { resolve } from "node:path";
import { ExitCode, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { dryRun, dryRunLines, findingLine, runCheck } from "../lib/check/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import { out } from "../lib/log/mod.ts";

const HELP = `Checks, in one go and before anything runs, everything that would stop the
pipeline: pipeline.yaml (as every command loads it), the model (and model.shadow) against its
mapping, the live database schema against what the pipeline writes (tables, column types,
lengths, collations, foreign keys, pending migrations), the topic (exists, partitions), the
dead-letter topic, and the broker's message-size limits against the consumer's. Reads only.

With --dry-run FILE, runs a JSON-Lines file through what the consumer does instead (decode,
validation, defaults, deduplication within the file and against the stored events, scoring)
and prints what would happen; nothing is written anywhere (Kafka is not used).

USAGE
  deno task check [OPTIONS]
  deno task check --dry-run FILE [OPTIONS]

OPTIONS
  --dry-run FILE  the JSON-Lines file to try
  --config PATH   pipeline.yaml (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  -h, --help      show this help

OUTPUT
  one line per check on stdout: "ok", "note" (worth knowing, not a problem) or "problem"

EXIT CODES
  0 no problem (dry run: the file was read), 2 any problem, a usage or config error`;

async function main(): Promise<number> {
  const { values, positionals } = parseFlags(Deno.args, {
    "dry-run": { type: "string" },
  }, { allowPositionals: true });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const file = values["dry-run"];
  if (file !== undefined) {
    const config = await loadConfig(values.config);
    const path = resolve(file);
    const report = await dryRun(config, path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new UserError(`Cannot read "${file}": file not found`, { cause: error });
    });
    for (const line of dryRunLines(report, config.source)) out(line);
    return ExitCode.ok;
  }
  const problems = await runCheck(values.config, (finding) => out(findingLine(finding)));
  out(problems ? `check: ${problems} problem(s)` : "check: no problem found");
  return problems ? ExitCode.usage : ExitCode.ok;
}

if (import.meta.main) runMain(main);
