/**
 * `deno run -A bench/codecs.ts`: compressed size and compress/decompress speed of each record-
 * batch codec, as kafkajs runs them, on one batch of generated events. No broker needed.
 */
import { Buffer } from "node:buffer";
import { ExitCode, numberFlag, parseFlags, runMain } from "../lib/cli/mod.ts";
import { generateLines } from "../dev/generator/mod.ts";
import { batchCodec, PRODUCER_COMPRESSIONS } from "../lib/kafka/mod.ts";
import { out } from "../lib/log/mod.ts";

const HELP = `Measures each batch codec on one batch of generated JSON events (no broker).

USAGE
  deno run -A bench/codecs.ts [OPTIONS]

OPTIONS
  --events N            events in the batch (default 5000)
  --rounds N            timed runs per codec and direction; the median is shown (default 30)
  -h, --help            show this help`;

/** The records section kafkajs compresses: per record about 10 bytes of framing, key, value. */
function recordsOf(lines: string[]): Uint8Array {
  const encoder = new TextEncoder();
  return Buffer.concat(lines.map((line) => {
    const key = JSON.parse(line).event_id as string;
    return Buffer.concat([new Uint8Array(10), encoder.encode(key), encoder.encode(line)]);
  }));
}

async function medianMs(rounds: number, run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
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
  out("codec    compressed  ratio  compress          decompress");
  for (const name of PRODUCER_COMPRESSIONS) {
    if (name === "none") continue;
    const codec = batchCodec(name);
    const compressed = await codec.compress(batch);
    const restored = await codec.decompress(compressed);
    if (Buffer.compare(Buffer.from(restored), Buffer.from(batch)) !== 0) {
      throw new Error(`${name} did not restore the batch`);
    }
    const compressMs = await medianMs(rounds, () => codec.compress(batch));
    const decompressMs = await medianMs(rounds, () => codec.decompress(compressed));
    const speed = (ms: number) =>
      `${(mb / (ms / 1000)).toFixed(0).padStart(4)} MB/s ${ms.toFixed(1).padStart(5)} ms`;
    out(
      `${name.padEnd(8)} ${compressed.length.toLocaleString("en-US").padStart(10)}  ` +
        `${(batch.length / compressed.length).toFixed(2).padStart(5)}  ` +
        `${speed(compressMs)}  ${speed(decompressMs)}`,
    );
  }
  return ExitCode.ok;
}

if (import.meta.main) runMain(main);
