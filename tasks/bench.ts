/** `deno task bench`: measures the pipeline side by side against the running services. */
import { dirname, join, resolve } from "node:path";
import { defaultConfigPath } from "../lib/config/mod.ts";
import {
  choiceFlag,
  ExitCode,
  numberFlag,
  parseFlags,
  runMain,
  UsageError,
} from "../lib/cli/mod.ts";
import { log, out } from "../lib/log/mod.ts";
import { ID_KINDS } from "../dev/generator/mod.ts";
import {
  type BenchResult,
  curveOf,
  formatTable,
  lineChart,
  runBenchmark,
  runSustained,
  type SustainedResult,
} from "../dev/bench/mod.ts";

const HELP = `Benchmarks the pipeline against the running Kafka and MariaDB/MySQL, in one run:
producer, consumer drain, live latency, ceilings (database, Kafka, model), naive baseline.
It uses its own topics, consumer groups and databases and removes them afterwards.

USAGE
  deno task bench [OPTIONS]
  deno task bench --sustained [N] [OPTIONS]

With --sustained, only the sustained phase runs: one consumer drains N events (default
1000000) into one fresh database on a MariaDB of the benchmark's own (started with its
defaults, plus any --server-option, on a free port from 3307; removed afterwards). Every
--slice events stored it records the rate, the buffer pool's pages read per event and hit
ratio, and the CPU of the consumer and the server; at the end the bytes per event of each
table and index. The JSON goes to --out (default dev/bench/results/sustained.json) and
the chart of events/s against events stored next to it (.svg). deno task bench:chart draws
several runs on one chart.

OPTIONS
  --events N            events to produce and drain (default 200000)
  --naive-events N      events for the one-at-a-time baseline (default 5000)
  --live-seconds S      seconds of production per live level; 0 skips the live phase (default 15)
  --ceiling-rows N      rows per INSERT of the database ceiling (default 5000)
  --concurrency N       consumer.partitions_consumed_concurrently for this run
  --pool N              database.pool_size for this run
  --partitions N        kafka.partitions of the benchmark topics
  --fetch-bytes N       consumer.max_fetch_bytes for this run (compressed bytes per partition)
  --key-type T          database.key_type for this run: text or uuid
  --read-ahead N        database.read_ahead for this run (extra connections; 0: off)
  --consumer-v8-flags F V8 flags of the consumer process (default: those of deno task consume;
                        "" for none), e.g. --max-old-space-size=160
  --sustained [N]       run the sustained phase only, N events (default 1000000)
  --slice N             events stored per slice of the sustained phase (default 50000)
  --label TEXT          legend text of the sustained run's curve (default: the date)
  --ids KIND            event and order ids of the sustained phase: random (version 4 UUIDs,
                        the default) or time-ordered (version 7 UUIDs)
  --own-server          run against a MariaDB of the benchmark's own (always with --sustained)
  --server-option OPT   an option of that server, repeatable; implies --own-server,
                        e.g. --server-option=--innodb-buffer-pool-size=2G
  --out PATH            JSON results (default dev/bench/results/latest.json)
  --config PATH         pipeline config to start from (default ./pipeline.yaml or $PIPELINE_CONFIG)
  -h, --help            show this help

The table goes to stdout, progress to stderr. Exit codes: 0 done, 1 a phase failed or a
count check did not match, 2 bad usage or config, services unreachable.`;

/** The V8 flags of `deno task consume` (deno.json): the child runs as the product does. */
async function consumeTaskV8Flags(): Promise<string | undefined> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  return String(denoJson.tasks?.consume ?? "").match(/--v8-flags=(\S+)/)?.[1];
}

const resultsDir = resolve(
  dirname(new URL(import.meta.url).pathname),
  "..",
  "dev",
  "bench",
  "results",
);

/** `--sustained` may stand alone (the default N): give it its value before parsing. */
export function withSustainedValue(args: readonly string[]): string[] {
  return args.flatMap((arg, i) => {
    const next = args[i + 1];
    return arg === "--sustained" && (next === undefined || next.startsWith("-"))
      ? [arg, "1000000"]
      : [arg];
  });
}

async function main(): Promise<number> {
  const { values } = parseFlags(withSustainedValue(Deno.args), {
    events: { type: "string" },
    "naive-events": { type: "string" },
    "live-seconds": { type: "string" },
    "ceiling-rows": { type: "string" },
    concurrency: { type: "string" },
    pool: { type: "string" },
    "read-ahead": { type: "string" },
    partitions: { type: "string" },
    out: { type: "string" },
    "consumer-v8-flags": { type: "string" },
    "fetch-bytes": { type: "string" },
    "key-type": { type: "string" },
    sustained: { type: "string" },
    slice: { type: "string" },
    label: { type: "string" },
    ids: { type: "string" },
    "own-server": { type: "boolean" },
    "server-option": { type: "string", multiple: true },
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
  const readAhead = count("read-ahead", undefined, 0);
  if (readAhead !== undefined) overrides["database.read_ahead"] = readAhead;
  const partitions = count("partitions");
  if (partitions !== undefined) overrides["kafka.partitions"] = partitions;
  const fetchBytes = count("fetch-bytes", undefined, 1024);
  if (fetchBytes !== undefined) overrides["consumer.max_fetch_bytes"] = fetchBytes;
  const keyType = choiceFlag("key-type", values["key-type"], ["text", "uuid"]);
  if (keyType !== undefined) overrides["database.key_type"] = keyType;
  const serverOptions = values["server-option"] ?? [];
  const consumerV8Flags = values["consumer-v8-flags"] ?? await consumeTaskV8Flags();
  const sustained = count("sustained");
  if (sustained !== undefined) {
    if (values.events !== undefined) {
      throw new UsageError("--events does not apply to --sustained: write --sustained N");
    }
    const result = await runSustained({
      configPath: values.config ?? defaultConfigPath(),
      events: sustained,
      sliceEvents: count("slice", 50_000)!,
      serverOptions,
      overrides,
      seed: 20_240_601,
      ids: choiceFlag("ids", values.ids, ID_KINDS),
      consumerV8Flags,
      label: values.label ?? `sustained ${new Date().toISOString().slice(0, 10)}`,
    });
    const path = values.out ?? join(resultsDir, "sustained.json");
    await writeSustained(path, result);
    return result.drain.countsOk ? ExitCode.ok : ExitCode.failure;
  }
  if (values.ids !== undefined) throw new UsageError("--ids applies to --sustained only");
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
    consumerV8Flags,
    ownServerOptions: values["own-server"] || serverOptions.length ? serverOptions : undefined,
  });
  const path = values.out ?? join(resultsDir, "latest.json");
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(result, null, 2) + "\n");
  out(formatTable(result));
  log(`results written to ${path}`);
  const liveOk = result.live.every((l) => l.countsOk);
  return result.drain.countsOk && result.naive.countsOk && liveOk ? ExitCode.ok : ExitCode.failure;
}

/** The JSON, its chart next to it (.svg) and a few lines of figures on stdout. */
async function writeSustained(path: string, result: SustainedResult): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(result, null, 2) + "\n");
  const svg = path.replace(/\.json$/, "") + ".svg";
  await Deno.writeTextFile(
    svg,
    lineChart({
      title: `Sustained drain: ${result.settings.events.toLocaleString("en-US")} events, ` +
        `buffer pool ${result.server.innodbBufferPoolSize / 1024 / 1024} MiB`,
      xLabel: "events stored",
      yLabel: "events/s (per slice)",
      curves: [curveOf(result)],
    }),
  );
  const rate = (n: number | null) => (n === null ? "-" : Math.round(n).toLocaleString("en-US"));
  out(
    `Sustained ${result.label}: ${result.drain.events} events, counts ${
      result.drain.countsOk ? "exact" : "MISMATCH"
    }`,
  );
  out(
    `  mean ${rate(result.drain.perSecond)} events/s; at 200k ${
      rate(result.rateAt["200000"])
    }, 500k ${rate(result.rateAt["500000"])}, 1M ${rate(result.rateAt["1000000"])}`,
  );
  out(
    `  footprint ${Math.round(result.footprint.bytesPerEvent)} B/event (${
      Math.round(result.footprint.fileBytesPerEvent)
    } B/event in files); ${result.drain.pagesReadPerEvent?.toFixed(2)} pages read/event`,
  );
  log(`results written to ${path} and ${svg}`);
}

if (import.meta.main) runMain(main);
