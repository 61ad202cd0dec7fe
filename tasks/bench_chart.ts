/**
 * `deno task bench:chart`: draws the events/s curves of several sustained results on one
 * chart, e.g. before and after a change.
 */
import { ExitCode, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { log, out } from "../lib/log/mod.ts";
import { curveOf, lineChart } from "../dev/bench/mod.ts";

const HELP = `Draws the curves of sustained benchmark results (deno task bench --sustained) on one
SVG chart of events/s against events stored.

USAGE
  deno task bench:chart --out CHART.svg RESULT.json[=LABEL] ...

OPTIONS
  --out PATH     the SVG to write (required)
  --title TEXT   the chart's title (default: Sustained drain)
  -h, --help     show this help

Each RESULT.json is one curve, labelled LABEL or else the run's --label.`;

runMain(async () => {
  const { values, positionals } = parseFlags(Deno.args, {
    out: { type: "string" },
    title: { type: "string" },
  }, { allowPositionals: true });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  if (!values.out || !positionals.length) {
    throw new UsageError("--out and at least one RESULT.json are required (see --help)");
  }
  const curves = [];
  for (const arg of positionals) {
    const [path, label] = arg.split(/=(.*)/s, 2);
    let json: unknown;
    try {
      json = JSON.parse(await Deno.readTextFile(path));
    } catch (error) {
      throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
    }
    curves.push(curveOf(json as Parameters<typeof curveOf>[0], label || undefined));
  }
  await Deno.writeTextFile(
    values.out,
    lineChart({
      title: values.title ?? "Sustained drain",
      xLabel: "events stored",
      yLabel: "events/s (per slice)",
      curves,
    }),
  );
  log(`chart written to ${values.out}`);
  return ExitCode.ok;
});
