/**
 * `deno run -A bench/codecs.ts`: compressed size and compress/decompress speed of each record-
 * batch codec, as kafkajs runs them, on one batch of generated events. No broker needed.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { ExitCode, numberFlag, parseFlags, runMain } from "../lib/cli/mod.ts";
import { generateLines } from "../dev/generator/mod.ts";
import { batchCodec, PRODUCER_COMPRESSIONS } from "../lib/kafka/mod.ts";
import { out } from "../lib/log/mod.ts";

const HELP = `Measures each batch codec on one batch of generated JSON events (no broker).

USAGE
  deno run -A bench/codecs.ts [OPTIONS]

OPTIONS
  --events N            events in the batch (default 5000)
  --rounds N            timed runs per codec and direction (default 30): median wall time,
                        mean CPU time
  -h, --help            show this help`;

/** The records section kafkajs compresses: per record about 10 bytes of framing, key, value. */
function recordsOf(lines: string[]): Uint8Array {
  const encoder = new TextEncoder();
  return Buffer.concat(lines.map((line) => {
    const key = JSON.parse(line).event_id as string;
    return Buffer.concat([new Uint8Array(10), encoder.encode(key), encoder.encode(line)]);
  }));
}

/**
 * Median wall time and mean CPU time (all threads: zstd, gzip and LZ4 run off the main one) of
 * one run; CPU time also holds when other processes share the cores.
 */
async function timed(rounds: number, run: () => Promise<unknown>) {
  for (let i = 0; i < 3; i++) await run();
  const times: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  const { user, system } = process.cpuUsage(cpu);
  return {
    wallMs: times.sort((a, b) => a - b)[Math.floor(times.length / 2)],
    cpuMs: (user + system) / 1000 / rounds,
  };
}

async function main(): Promise<number> {
  const { values } = parseFlags(Deno.args, {
    events: { type: "string" },
    rounds: { type: "string" },
  });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  const events = numberFlag("events", values.events, { integer: true, min: 1 }) ?? 5000;
  const rounds = numberFlag("rounds", values.rounds, { integer: true, min: 1 }) ?? 30;
  const batch = recordsOf([...generateLines({ events, seed: 42 })]);
  const mb = batch.length / 1e6;
  out(
    `${events.toLocaleString("en-US")} events, ${batch.length.toLocaleString("en-US")} bytes ` +
      `(${Math.round(batch.length / events)} per record), median of ${rounds} runs`,
  );
  const columns = (cells: (string | number)[]) =>
    cells.map((c, i) => i === 0 ? String(c).padEnd(7) : String(c).padStart(i < 3 ? 11 : 9))
      .join(" ");
  out(columns(["", "", "", "compress", "", "", "decompress", "", ""]));
  out(
    columns([
      "codec",
      "bytes",
      "ratio",
      "wall ms",
      "CPU ms",
      "MB/CPU s",
      "wall ms",
      "CPU ms",
      "MB/CPU s",
    ]),
  );
  for (const name of PRODUCER_COMPRESSIONS) {
    if (name === "none") continue;
    const codec = batchCodec(name);
    const compressed = await codec.compress(batch);
    const restored = await codec.decompress(compressed);
    if (Buffer.compare(Buffer.from(restored), Buffer.from(batch)) !== 0) {
      throw new Error(`${name} did not restore the batch`);
    }
    const compressing = await timed(rounds, () => codec.compress(batch));
    const decompressing = await timed(rounds, () => codec.decompress(compressed));
    const times = ({ wallMs, cpuMs }: { wallMs: number; cpuMs: number }) => [
      wallMs.toFixed(1),
      cpuMs.toFixed(1),
      (mb / (cpuMs / 1000)).toFixed(0),
    ];
    out(columns([
      name,
      compressed.length.toLocaleString("en-US"),
      (batch.length / compressed.length).toFixed(2),
      ...times(compressing),
      ...times(decompressing),
    ]));
  }
  return ExitCode.ok;
}

if (import.meta.main) runMain(main);
