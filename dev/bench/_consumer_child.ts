/**
 * The consumer as the benchmark runs it: a child process calling the same consume() that
 * consumer.ts calls, with the same config, plus the onBatch hook to record where each
 * batch's time went and, for the live phase, each event's latency. It stops after
 * --max-events messages and writes what it recorded to --out as JSON.
 */
import { numberFlag, parseFlags, runMain, UsageError } from "../../lib/cli/mod.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { type BatchReport, consume } from "../../lib/consumer/mod.ts";

/** One batch as written to the --out file. */
export interface BatchRecord {
  readonly n: number;
  readonly partition: number;
  readonly startedAt: number;
  readonly committedAt: number;
  readonly ms: BatchReport["ms"];
}

/** Deno.memoryUsage() figures in bytes. */
export interface MemorySample {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
}

/** Where the consumer's memory went: the largest value of each figure, and all at peak RSS. */
export interface MemoryFigures {
  readonly max: MemorySample;
  readonly atPeakRss: MemorySample;
}

/** What the child writes to --out. */
export interface ChildOutput {
  readonly ingested: number;
  readonly messages: number;
  /** Messages handled again after a redelivery whose effects were already stored. */
  readonly alreadyApplied: number;
  readonly duplicates: number;
  readonly deadLettered: number;
  readonly batches: BatchRecord[];
  /** Per event: DB commit time minus the Kafka message timestamp, in ms (with --latency). */
  readonly latenciesMs: number[];
  /** Sampled every 50 ms and after each batch (VmHWM, taken outside, also sees peaks between). */
  readonly memory: MemoryFigures;
}

runMain(async () => {
  const { values } = parseFlags(Deno.args, {
    "max-events": { type: "string" },
    out: { type: "string" },
    latency: { type: "boolean" },
  });
  const maxEvents = numberFlag("max-events", values["max-events"], { integer: true, min: 1 });
  if (!values.config || !values.out || maxEvents === undefined) {
    throw new UsageError("--config, --out and --max-events are required");
  }
  const config = await loadConfig(values.config);
  const batches: BatchRecord[] = [];
  const latenciesMs: number[] = [];
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  let max: MemorySample = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 };
  let atPeakRss = max;
  const sampleMemory = () => {
    const { rss, heapTotal, heapUsed, external } = Deno.memoryUsage();
    const now = { rss, heapTotal, heapUsed, external };
    if (rss > atPeakRss.rss) atPeakRss = now;
    max = {
      rss: Math.max(max.rss, rss),
      heapTotal: Math.max(max.heapTotal, heapTotal),
      heapUsed: Math.max(max.heapUsed, heapUsed),
      external: Math.max(max.external, external),
    };
  };
  const memoryTimer = setInterval(sampleMemory, 50);
  const stats = await consume(config, {
    maxEvents,
    quiet: true,
    signal: stop.signal,
    onBatch: (report) => {
      sampleMemory();
      batches.push({
        n: report.messages.length,
        partition: report.partition,
        startedAt: report.startedAt,
        committedAt: report.committedAt,
        ms: report.ms,
      });
      if (!values.latency) return;
      for (const message of report.messages) {
        latenciesMs.push(report.committedAt - Number(message.timestamp));
      }
    },
  });
  const output: ChildOutput = {
    ingested: stats.ingested,
    messages: stats.messages,
    alreadyApplied: stats.alreadyApplied,
    duplicates: stats.duplicates,
    deadLettered: stats.deadLettered,
    batches,
    latenciesMs,
    memory: { max, atPeakRss },
  };
  clearInterval(memoryTimer);
  await Deno.writeTextFile(values.out, JSON.stringify(output));
});
