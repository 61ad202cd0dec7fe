/** The benchmark's figures as a plain-text table for the terminal. */
import type { BenchResult } from "./_run.ts";

const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")} /s`;
const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} ms` : "-");
const cores = (
  n: number | null | undefined,
) => (n === null || n === undefined ? "-" : `${n.toFixed(2)}`);
const mb = (n: number | null) => (n === null ? "-" : `${(n / 1024 / 1024).toFixed(0)} MB`);
const yes = (b: boolean | null) => (b === null ? "n/a" : b ? "met" : "NOT met");

/** Two aligned columns: what, figure. */
function rows(title: string, entries: [string, string][]): string[] {
  const width = Math.max(...entries.map(([k]) => k.length));
  return [title, ...entries.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
}

/** Formats a run's figures (the same ones as the JSON file). */
export function formatTable(r: BenchResult): string {
  const s = r.settings;
  const d = r.drain;
  const lines: string[] = [
    `Benchmark ${r.startedAt}: ${s.events.toLocaleString("en-US")} events, ` +
    `${r.machine.cores} cores, ${s.partitions} partitions, ` +
    `${s.partitionsConsumedConcurrently} consumed concurrently, pool ${s.databasePoolSize}, ` +
    `fetch ${s.consumerMaxFetchBytes} B, consumer V8 flags ${s.consumerV8Flags || "none"}`,
    "",
    ...rows("Throughput", [
      [`producer (acks=${s.producerAcks}, ${s.producerCompression})`, rate(r.producer.perSecond)],
      ["consumer drain (4 tables + prediction + offsets)", rate(d.perSecond)],
      ["ceiling: database only", rate(r.ceilings.database.perSecond)],
      ["ceiling: Kafka only (fetch + parse)", rate(r.ceilings.kafka.perSecond)],
      [
        `ceiling: model only (batch ${r.ceilings.model.batchSize})`,
        rate(r.ceilings.model.perSecond),
      ],
      [`drain / smallest ceiling (${r.smallestCeiling.name})`, pct(r.drainOverSmallestCeiling)],
      [`naive baseline (${r.naive.events} events, one at a time)`, rate(r.naive.perSecond)],
      ["speed-up over naive", `${r.naive.speedup.toFixed(1)} x`],
    ]),
    "",
    ...rows("Drain details", [
      ["counts checked (4 tables + offsets)", d.countsOk ? "exact" : "MISMATCH"],
      ["batches, mean size", `${d.batches}, ${Math.round(d.meanBatchSize)}`],
      [
        "time: decode+validate / model / database / Kafka",
        `${pct(d.stages.decodeValidate)} / ${pct(d.stages.model)} / ${pct(d.stages.database)} / ` +
        `${pct(d.stages.kafka)} (fetch wait ${pct(d.stages.kafkaFetch)})`,
      ],
      ["consumer peak RSS (VmHWM)", mb(d.peakRssBytes)],
      [
        "at peak: RSS = heap used + heap free + external + rest",
        `${mb(d.memory.atPeakRss.rss)} = ${mb(d.memory.atPeakRss.heapUsed)} + ` +
        `${mb(d.memory.atPeakRss.heapTotal - d.memory.atPeakRss.heapUsed)} + ` +
        `${mb(d.memory.atPeakRss.external)} + ${
          mb(
            d.memory.atPeakRss.rss - d.memory.atPeakRss.heapTotal - d.memory.atPeakRss.external,
          )
        }`,
      ],
      [
        "largest: heap used / heap total / external",
        `${mb(d.memory.max.heapUsed)} / ${mb(d.memory.max.heapTotal)} / ${
          mb(d.memory.max.external)
        }`,
      ],
      [
        "CPU cores: consumer / broker / database",
        `${cores(d.cpuCores.consumer)} / ${cores(d.cpuCores.broker)} / ${
          cores(d.cpuCores.database)
        }`,
      ],
    ]),
  ];
  if (r.live.length) {
    lines.push("", "Live (latency from scheduled send to DB commit)");
    lines.push("  level  rate/s   sent/s    p50      p95      p99      max      counts");
    for (const l of r.live) {
      lines.push(
        `  ${pct(l.fractionOfDrain).padEnd(6)} ${
          String(Math.round(l.targetPerSecond)).padEnd(8)
        } ` +
          `${String(Math.round(l.producedPerSecond)).padEnd(9)} ${ms(l.latencyMs.p50).padEnd(8)} ` +
          `${ms(l.latencyMs.p95).padEnd(8)} ${ms(l.latencyMs.p99).padEnd(8)} ` +
          `${ms(l.latencyMs.max).padEnd(8)} ${l.countsOk ? "exact" : "MISMATCH"}`,
      );
    }
  }
  const t = r.targets;
  lines.push(
    "",
    ...rows("Targets", [
      ["drain >= 70 % of the smallest ceiling", yes(t.drainAtLeast70PercentOfCeiling)],
      [">= 20 x the naive baseline", yes(t.atLeast20xNaive)],
      ["p99 < 1 s at 50 % of the drain rate", yes(t.p99Under1sAtHalfDrain)],
      ["consumer peak RSS < 300 MB", yes(t.peakRssUnder300MB)],
    ]),
  );
  return lines.join("\n");
}
