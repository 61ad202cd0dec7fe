/** `deno task generate`: writes synthetic order events as JSON Lines. */
import {
  choiceFlag,
  numberFlag,
  parseFlags,
  runMain,
  UsageError,
  UserError,
} from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { ID_KINDS, writeEventsFile } from "../dev/generator/mod.ts";
import { log, out } from "../lib/log/mod.ts";
import { displayPath } from "../lib/errors/mod.ts";

const HELP = `Writes synthetic e-commerce order events (JSON Lines), reproducibly from a seed.

USAGE
  deno task generate [OPTIONS]

OPTIONS
  --events N            lines to write (default 2000)
  --seed S              integer seed; same seed and options give the same bytes (default 42)
  --out PATH            output file, "-" for stdout (default: producer.file in pipeline.yaml)
  --force               overwrite the output file if it exists (without it: exit 2)
  --customers N         size of the customer pool (default: 40% of --events)
  --duplicates F        fraction of lines repeating an earlier event exactly (default 0)
  --missing-optional F  fraction of events lacking 1-3 optional fields (default 0)
  --malformed F         fraction of malformed lines: invalid JSON, a JSON array,
                        a required key missing (default 0)
  --ids KIND            event and order ids: random (version 4 UUIDs, the default) or
                        time-ordered (version 7 UUIDs: the event's time first)
  --config PATH         pipeline.yaml to read producer.file from (default ./pipeline.yaml)
  -h, --help            show this help

Returns are drawn from the ground-truth probability trueReturnProbability() in
dev/generator/mod.ts; the summary on stderr prints the observed and expected return rates.

EXIT CODES
  0  written
  2  usage error, or the output file exists and --force was not given`;

function fractionFlag(name: string, value: string | undefined): number {
  const n = numberFlag(name, value) ?? 0;
  if (n > 1) throw new UsageError(`--${name} expects a fraction between 0 and 1, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseFlags(Deno.args, {
    events: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    customers: { type: "string" },
    duplicates: { type: "string" },
    "missing-optional": { type: "string" },
    malformed: { type: "string" },
    ids: { type: "string" },
    force: { type: "boolean" },
  });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const options = {
    events: numberFlag("events", values.events, { integer: true }) ?? 2000,
    seed: numberFlag("seed", values.seed, { integer: true }) ?? 42,
    customers: numberFlag("customers", values.customers, { integer: true, min: 1 }),
    duplicates: fractionFlag("duplicates", values.duplicates),
    missingOptional: fractionFlag("missing-optional", values["missing-optional"]),
    malformed: fractionFlag("malformed", values.malformed),
    ids: choiceFlag("ids", values.ids, ID_KINDS),
  };
  const path = values.out ?? (await loadConfig(values.config)).producer.file;
  const started = performance.now();
  const stats = await writeEventsFile(path, options, { overwrite: values.force }).catch((error) => {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    // The shipped sample is tracked: a second run must not silently replace it.
    throw new UserError(
      `Cannot write ${displayPath(path)}: the file exists; pass --force to overwrite it ` +
        `(or --out PATH to write a new file)`,
    );
  });
  const seconds = (performance.now() - started) / 1000;
  const shown = path === "-" ? "stdout" : displayPath(path);
  const pct = (n: number, d: number) => d ? `${(100 * n / d).toFixed(1)}%` : "n/a";
  log(
    `generated ${stats.lines} lines (${stats.bytes} bytes) to ${shown} in ${
      seconds.toFixed(1)
    } s: ${stats.events} events, ${stats.duplicates} duplicates, ${stats.incomplete} incomplete, ${stats.malformed} malformed; seed ${options.seed}`,
  );
  log(
    `returned: ${pct(stats.returned, stats.events)} observed, ${
      pct(stats.probabilitySum, stats.events)
    } expected from trueReturnProbability`,
  );
  return 0;
}

if (import.meta.main) runMain(main);
