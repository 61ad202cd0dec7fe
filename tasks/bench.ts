/** `deno task bench`: measures the pipeline side by side against the running services. */
import { dirname, resolve } from "node:path";
import { defaultConfigPath } from "../lib/config/mod.ts";
import { ExitCode, numberFlag, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { log, out } from "../lib/log/mod.ts";
import { type BenchResult, runBenchmark } from "../dev/bench/mod.ts";
import { formatTable } from "../dev/bench/mod.ts";

const HELP = `Benchmarks the pipeline against the running Kafka and MariaDB/MySQL, in one run:
producer, consumer drain, live latency, ceilings (database, Kafka, model), naive baseline.
It uses its own topics, consumer groups and databases and removes them afterwards.

USAGE
  deno task bench [OPTIONS]

OPTIONS
  --events N            events to produce and drain (default 200000)
  --naive-events N      events for the one-at-a-time baseline (default 5000)
  --live-seconds S      seconds of production per live level; 0 skips the live phase (default 15)
  --ceiling-rows N      rows per INSERT of the database ceiling (default 5000)
  --concurrency N       consumer.partitions_consumed_concurrently for this run
  --pool N              database.pool_size for this run
  --partitions N        kafka.partitions of the benchmark topics
  --fetch-bytes N       consumer.max_fetch_bytes for this run (compressed bytes per partition)
  --consumer-v8-flags F V8 flags of the consumer process (default: those of deno task consume;
                        "" for none), e.g. --max-old-space-size=160
  --out PATH            JSON results (default bench/results/latest.json)
  --config PATH         pipeline config to start from (default ./pipeline.yaml or $PIPELINE_CONFIG)
  -h, --help            show this help

The table goes to stdout, progress to stderr. Exit codes: 0 done, 1 a phase failed or a
count check did not match, 2 bad usage or config, services unreachable.`;

/** The V8 flags of `deno task consume` (deno.json): the child runs as the product does. */
async function consumeTaskV8Flags(): Promise<string | undefined> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  return String(denoJson.tasks?.consume ?? "").match(/--v8-flags=(\S+)/)?.[1];
}

const defaultOut = resolve(
  dirname(new URL(import.meta.url).pathname),
  "..",
  "dev",
  "bench",
  "results",
  "latest.json",
);

async function main(): Promise<number> {
  const { values } = parseFlags(Deno.args, {
    events: { type: "string" },
    "naive-events": { type: "string" },
    "live-seconds": { type: "string" },
    "ceiling-rows": { type: "string" },
    concurrency: { type: "string" },
    pool: { type: "string" },
    partitions: { type: "string" },
    out: { type: "string" },
    "consumer-v8-flags": { type: "string" },
    "fetch-bytes": { type: "string" },
  });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  const count = (name: string, fallback?: number, min = 1) =>
    numberFlag(name, values[name as keyof typeof values] as string | undefined, {
      integer: true,
      min,
    }) ?? fallback;
  const overrides: Record<string, unknown> = {};
  const concurrency = count("concurrency");
  if (concurrency !== undefined) {
    overrides["consumer.partitions_consumed_concurrently"] = concurrency;
  }
  const pool = count("pool");
  if (pool !== undefined) overrides["database.pool_size"] = pool;
  const partitions = count("partitions");
  if (partitions !== undefined) overrides["kafka.partitions"] = partitions;
  const fetchBytes = count("fetch-bytes", undefined, 1024);
  if (fetchBytes !== undefined) overrides["consumer.max_fetch_bytes"] = fetchBytes;
  const events = count("events", 200_000)!;
  if (events < 10) throw new UsageError(`--events expects at least 10, got ${events}`);
  const result: BenchResult = await runBenchmark({
    configPath: values.config ?? defaultConfigPath(),
    events,
    naiveEvents: count("naive-events", 5000)!,
    liveSeconds: count("live-seconds", 15, 0)!,
    liveLevels: [0.25, 0.5, 0.75],
    ceilingRows: count("ceiling-rows", 5000)!,
    overrides,
    seed: 20_240_601,
    consumerV8Flags: values["consumer-v8-flags"] ?? await consumeTaskV8Flags(),
  });
  const path = values.out ?? defaultOut;
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(result, null, 2) + "\n");
  out(formatTable(result));
  log(`results written to ${path}`);
  const liveOk = result.live.every((l) => l.countsOk);
  return result.drain.countsOk && result.naive.countsOk && liveOk ? ExitCode.ok : ExitCode.failure;
}

if (import.meta.main) runMain(main);
