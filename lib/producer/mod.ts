/**
 * Sends a JSON Lines file to Kafka, one message per line, keyed by event_id.
 * Bad lines are reported and counted, never sent; the file is streamed in constant memory.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { PipelineConfig } from "../config/mod.ts";
import { errorText, ExitCode, UserError } from "../errors/mod.ts";
import { decodeJsonObject, missingRequired } from "../events/mod.ts";
import { readLines } from "./_jsonl.ts";
import {
  type EventProducer,
  type EventRecord,
  KafkaCluster,
  type ProducerCompression,
} from "../kafka/mod.ts";
import { debugLog, formatBytes, formatCount, Progress } from "../log/mod.ts";

/** What to send and how. Flags override pipeline.yaml, which the caller has already applied. */
export interface ProduceOptions {
  /** File path, or "-" for stdin. */
  readonly file: string;
  /** Name shown in messages (defaults to `file`). */
  readonly displayName?: string;
  readonly topic: string;
  /** Send at most this many messages. */
  readonly limit?: number;
  /** Messages per second at most. */
  readonly rate?: number;
  /** Use event_id as the message key (default true). */
  readonly key?: boolean;
  /** Stop at the first bad line, sending nothing from it on. */
  readonly strict?: boolean;
  readonly compression: ProducerCompression;
  /** Batches awaiting acknowledgement at once (default 4). */
  readonly inFlight?: number;
  /** Bad lines reported one by one before only counting (default 100). */
  readonly maxReported?: number;
  /** Where report lines go (default stderr, through the progress display). */
  readonly progress?: Progress;
}

/** What happened, for the summary and the exit code. */
export interface ProduceResult {
  lines: number;
  blank: number;
  /** Messages acknowledged by the broker. */
  sent: number;
  /** Payload bytes acknowledged. */
  sentBytes: number;
  bytesRead: number;
  skipped: Map<string, number>;
  seconds: number;
  /** Why sending stopped early: "limit", "strict", "interrupted", or a send failure. */
  stopped?: "limit" | "strict" | "interrupted";
  failure?: string;
}

type Source = { read(p: Uint8Array): Promise<number | null>; close(): void };

/** Opens the input, failing as a user error (exit 2) when it cannot be read. */
async function openInput(file: string): Promise<{ reader: Source; size?: number }> {
  if (file === "-") return { reader: Deno.stdin };
  try {
    const handle = await Deno.open(file, { read: true });
    const info = await handle.stat();
    if (info.isDirectory) {
      handle.close();
      throw new UserError(`Cannot read "${file}": it is a directory`);
    }
    return { reader: handle, size: info.isFile ? info.size : undefined };
  } catch (error) {
    if (error instanceof UserError) throw error;
    const reason = error instanceof Deno.errors.NotFound ? "file not found" : String(error);
    throw new UserError(`Cannot read "${file}": ${reason}`, {
      hint:
        "pass --file PATH or set producer.file in pipeline.yaml (deno task generate writes one)",
    });
  }
}

/** Streams the file to the topic; returns counts (the caller prints the summary). */
export async function produceFile(
  config: PipelineConfig,
  options: ProduceOptions,
): Promise<ProduceResult> {
  const started = performance.now();
  const shown = options.displayName ?? options.file;
  const input = await openInput(options.file);
  const progress = options.progress ?? new Progress({ totalBytes: input.size });
  const result: ProduceResult = {
    lines: 0,
    blank: 0,
    sent: 0,
    sentBytes: 0,
    bytesRead: 0,
    skipped: new Map(),
    seconds: 0,
  };
  let producer: EventProducer | undefined;
  const onInterrupt = () => result.stopped ??= "interrupted";
  try {
    const cluster = new KafkaCluster(config.kafka, { retries: 5, onLog: debugLog() });
    const admin = await cluster.connectAdmin();
    try {
      if (!(await admin.topicExists(options.topic))) {
        throw new UserError(
          `topic ${options.topic} does not exist: create it with deno task admin create`,
          { hint: "the producer never creates topics; check --topic or kafka.topic" },
        );
      }
    } finally {
      await admin.close();
    }
    producer = await cluster.connectProducer({
      acks: config.producer.acks,
      compression: options.compression,
    });
    Deno.addSignalListener("SIGINT", onInterrupt);
    await sendLines(producer, input.reader, config, options, result, progress, shown);
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    } catch {
      // never added: the broker or the topic check failed first
    }
    progress.finish();
    if (input.reader !== Deno.stdin) input.reader.close();
    await producer?.close().catch(() => {});
    result.seconds = (performance.now() - started) / 1000;
  }
  return result;
}

async function sendLines(
  producer: EventProducer,
  reader: Source,
  config: PipelineConfig,
  options: ProduceOptions,
  result: ProduceResult,
  progress: Progress,
  shown: string,
): Promise<void> {
  const limits = {
    maxBytes: config.consumer.maxMessageBytes,
    maxDepth: config.consumer.maxDepth,
  };
  const required = config.events.required;
  const useKey = options.key ?? true;
  const limit = options.limit ?? Infinity;
  const rate = options.rate;
  const maxInFlight = Math.max(1, options.inFlight ?? 4);
  const maxReported = options.maxReported ?? 100;
  // With a rate, small batches keep messages flowing at the asked pace.
  const batchSize = rate
    ? Math.max(1, Math.min(config.producer.batchSize, Math.ceil(rate / 20)))
    : config.producer.batchSize;
  const state = { lines: 0, bytes: 0, sent: 0, skipped: 0 };
  const inFlight: Promise<void>[] = [];
  let batch: EventRecord[] = [];
  /** Line number of the batch's first record, named when its send fails. */
  let batchLine = 0;
  let batchBytes = 0;
  let queued = 0;
  let reported = 0;
  let firstFailed = Infinity;
  const rateStart = performance.now();

  const dispatch = () => {
    if (batch.length === 0) return;
    const messages = batch;
    const bytes = batchBytes;
    const line = batchLine;
    batch = [];
    batchBytes = 0;
    const sending = producer.send(options.topic, messages)
      .then(() => {
        result.sent += messages.length;
        result.sentBytes += bytes;
        state.sent = result.sent;
      }, (error) => {
        result.failure ??= `Cannot send to topic ${options.topic}: ${errorText(error)}`;
        firstFailed = Math.min(firstFailed, line);
      });
    inFlight.push(sending);
  };
  const drain = async (keep: number) => {
    while (inFlight.length > keep) await inFlight.shift();
  };
  const skip = (line: number, reason: string) => {
    const group = reason.split(": ")[0];
    result.skipped.set(group, (result.skipped.get(group) ?? 0) + 1);
    state.skipped++;
    if (reported < maxReported) progress.message(`${shown}:${line}: skipped: ${reason}`);
    else if (reported === maxReported) {
      progress.message(`(more than ${maxReported} bad lines: only counting them from now on)`);
    }
    reported++;
  };

  for await (const line of readLines(reader, { maxLineBytes: limits.maxBytes })) {
    if (result.failure || result.stopped) break;
    if (queued >= limit) {
      result.stopped = "limit";
      break;
    }
    result.lines++;
    result.bytesRead += line.sourceBytes;
    state.lines = result.lines;
    state.bytes = result.bytesRead;
    if (line.bytes && isBlank(line.bytes)) {
      result.blank++;
      continue;
    }
    const decoded = line.bytes ? decodeJsonObject(line.bytes, limits) : {
      ok: false as const,
      reason: `message too large: ${line.length} bytes (max ${limits.maxBytes})`,
    };
    const missing = decoded.ok ? missingRequired(decoded.value, required) : [];
    const reason = !decoded.ok
      ? decoded.reason
      : missing.length
      ? `missing required key${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`
      : undefined;
    if (!decoded.ok || reason !== undefined) {
      skip(line.number, reason!);
      if (options.strict) {
        result.stopped = "strict";
        break;
      }
      continue;
    }
    const id = decoded.value.event_id;
    const key = useKey && (typeof id === "string" || typeof id === "number") ? String(id) : null;
    const bytes = line.bytes!;
    // The original bytes, not a re-serialisation: what the file says is what Kafka gets.
    const message: EventRecord = { key, value: bytes };
    if (rate) {
      const due = rateStart + (queued / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) {
        dispatch();
        await sleep(wait);
      }
    }
    if (!batch.length) batchLine = line.number;
    batch.push(message);
    batchBytes += bytes.byteLength;
    queued++;
    if (batch.length >= batchSize) {
      dispatch();
      await drain(maxInFlight - 1);
    }
    progress.update(state);
  }
  if (!result.failure) dispatch();
  await drain(0);
  if (result.failure) {
    const unsent = queued - result.sent;
    result.failure += `; ${formatCount(result.sent)} lines were sent and acknowledged, ${
      formatCount(unsent)
    } were not (the first of them is line ${firstFailed})`;
  }
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  }
  return true;
}

/** One-paragraph summary of a run, for stderr. */
export function summarize(result: ProduceResult, topic: string): string[] {
  const seconds = Math.max(result.seconds, 1e-3);
  const lines = [
    `sent ${formatCount(result.sent)} messages (${
      formatBytes(result.sentBytes)
    }) to topic ${topic} in ${seconds.toFixed(seconds < 10 ? 2 : 1)} s (${
      formatCount(result.sent / seconds)
    } msg/s); read ${formatCount(result.lines)} lines (${formatBytes(result.bytesRead)}), ${
      formatCount(result.blank)
    } blank`,
  ];
  const skipped = [...result.skipped.values()].reduce((a, b) => a + b, 0);
  if (skipped) {
    const parts = [...result.skipped].map(([reason, n]) => `${reason} ${formatCount(n)}`);
    lines.push(`skipped ${formatCount(skipped)} bad lines: ${parts.join(", ")}`);
  }
  if (result.stopped === "limit") lines.push("stopped at --limit");
  if (result.stopped === "strict") lines.push("stopped at the first bad line (--strict)");
  if (result.stopped === "interrupted") lines.push("interrupted: stopped reading");
  return lines;
}

/** Exit code for a finished run: 0 when every line was sent, 1 otherwise. */
export function exitCodeOf(result: ProduceResult): number {
  const skipped = [...result.skipped.values()].reduce((a, b) => a + b, 0);
  return result.failure || skipped || result.stopped === "interrupted"
    ? ExitCode.failure
    : ExitCode.ok;
}

export { readLines } from "./_jsonl.ts";
