/**
 * The benchmark's measurements, each a function returning plain figures: producer, consumer
 * drain (in a child process), ceilings (database only, Kafka only, model only), the naive
 * one-event-at-a-time baseline and the live latency at a fixed production rate.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import type { PipelineConfig } from "../../lib/config/mod.ts";
import {
  type EventRecord,
  KafkaCluster,
  type KafkaRecord,
  runGroupConsumer,
  type TopicAdmin,
} from "../../lib/kafka/mod.ts";
import {
  countRows as countTableRows,
  type Database,
  dirtyPages,
  ingestBatch,
  openDatabase,
  retryMessage,
  storedOffsets,
  writeCeilingRows,
} from "../../lib/db/mod.ts";
import type { ReturnModel } from "../../lib/model/mod.ts";
import { type OrderEvent, validateMessage, type ValidEvent } from "../../lib/events/mod.ts";
import { produceFile } from "../../lib/producer/mod.ts";
import { log, Progress, warn } from "../../lib/log/mod.ts";
import { CpuSampler, findPid, statusBytes, whenInterrupted } from "./_proc.ts";
import type { BatchRecord, ChildOutput } from "./_consumer_child.ts";

const encoder = new TextEncoder();

/** Events per second over a number of seconds (0 when nothing was timed). */
export function perSecond(count: number, seconds: number): number {
  return seconds > 0 ? count / seconds : 0;
}

// ---------------------------------------------------------------------------------------------
// 1. Producer

/** Producer figures: the product's produceFile() with the config's acks and compression. */
export interface ProducerFigures {
  messages: number;
  seconds: number;
  perSecond: number;
  acks: string;
  compression: string;
}

/** Sends the events file to the topic with the product's producer. */
export async function measureProducer(
  config: PipelineConfig,
  file: string,
  expected: number,
): Promise<ProducerFigures> {
  const result = await produceFile(config, {
    file,
    topic: config.kafka.topic,
    compression: config.producer.compression,
    progress: new Progress({ terminal: false, intervalMs: 60_000 }),
  });
  if (result.failure || result.sent !== expected) {
    throw new Error(
      `Cannot fill the topic: ${result.sent} of ${expected} sent${
        result.failure ? ` (${result.failure})` : ""
      }`,
    );
  }
  return {
    messages: result.sent,
    seconds: result.seconds,
    perSecond: perSecond(result.sent, result.seconds),
    acks: config.producer.acks,
    compression: config.producer.compression,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. and 3. The consumer in a child process

/** Where a consumer child spent its time and what it used. */
export interface ChildRun {
  output: ChildOutput;
  /** First batch start to last batch commit, Date.now() values. */
  window: { from: number; to: number };
  peakRssBytes: number | null;
  /** Share of one core per process over the window (consumer, broker, database). */
  cpu: Record<string, number | null>;
  /** The child's warnings (stderr lines), at most the last 50, and how many there were. */
  warnings: { count: number; last: string[] };
}

const childScript = new URL("./_consumer_child.ts", import.meta.url).pathname;

/**
 * Runs the consumer (bench/_consumer_child.ts: the library's consume() with the batch hook)
 * until it has handled `maxEvents` messages. `whileJoined` runs once the child has joined its
 * group (e.g. the live producer). Samples its peak RSS and the CPU of it, the broker and the
 * database meanwhile.
 */
export async function runConsumerChild(options: {
  configPath: string;
  maxEvents: number;
  dir: string;
  latency?: boolean;
  timeoutMs: number;
  whileJoined?: (child: { pid: number; exited: Promise<unknown> }) => Promise<void>;
  /** Passed to the child as --v8-flags (e.g. a heap limit). */
  v8Flags?: string;
  /** The database server's pid (default: the oldest mariadbd, else mysqld). */
  databasePid?: number;
}): Promise<ChildRun> {
  const out = join(options.dir, `child_${crypto.randomUUID()}.json`);
  const args = [
    "run",
    "-A",
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    childScript,
    "--config",
    options.configPath,
    "--max-events",
    String(options.maxEvents),
    "--out",
    out,
  ];
  if (options.latency) args.push("--latency");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const sampler = new CpuSampler(
    new Map([
      ["consumer", child.pid],
      ["broker", await findPid("kafka.Kafka")],
      [
        "database",
        options.databasePid ?? await findPid("mariadbd", true) ?? await findPid("mysqld", true),
      ],
    ]),
  );
  const forget = whenInterrupted(() => child.kill("SIGKILL"));
  sampler.start();
  let peakRss = 0;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, statusBytes(child.pid, "VmHWM") ?? 0);
  }, 100);
  let joined!: () => void;
  const joinedPromise = new Promise<void>((resolve) => joined = resolve);
  const stdout = readLines(child.stdout, (line) => {
    if (line.startsWith("[OK] Consumer started")) joined();
  });
  let stderrText = "";
  const warnings: string[] = [];
  let warningCount = 0;
  const stderr = readLines(child.stderr, (line) => {
    stderrText += line + "\n";
    if (/^warning|abandoned/i.test(line)) {
      warningCount++;
      warnings.push(line.slice(0, 300));
      if (warnings.length > 50) warnings.shift();
    }
  });
  const timer = setTimeout(() => {
    log(`consumer child still running after ${options.timeoutMs} ms: stopping it`);
    child.kill("SIGKILL");
  }, options.timeoutMs);
  let producing: Promise<void> | undefined;
  try {
    if (options.whileJoined) {
      const exited = child.status.then(() => "exited" as const);
      if (
        (await Promise.race([joinedPromise.then(() => "joined" as const), exited])) === "joined"
      ) {
        producing = options.whileJoined({ pid: child.pid, exited });
        await producing;
      }
    }
    const status = await child.status;
    await Promise.all([stdout, stderr]);
    if (!status.success) {
      throw new Error(
        `Cannot run the consumer: it exited with code ${status.code}: ${stderrText.trim()}`,
      );
    }
  } finally {
    forget();
    clearTimeout(timer);
    clearInterval(rssTimer);
    sampler.stop();
  }
  const output = JSON.parse(await Deno.readTextFile(out)) as ChildOutput;
  await Deno.remove(out);
  const window = batchWindow(output.batches);
  return {
    output,
    window,
    peakRssBytes: peakRss || null,
    cpu: sampler.usage(window.from, window.to),
    warnings: { count: warningCount, last: warnings },
  };
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (rest) onLine(rest);
}

function batchWindow(batches: readonly BatchRecord[]): { from: number; to: number } {
  if (!batches.length) return { from: 0, to: 0 };
  return {
    from: Math.min(...batches.map((b) => b.startedAt)),
    to: Math.max(...batches.map((b) => b.committedAt)),
  };
}

/** Share of the consumer's time per stage, from the batch hook's figures. */
export interface StageShares {
  decodeValidate: number;
  model: number;
  database: number;
  /** Commits, dead letters and heartbeats inside the handler, plus fetching between batches. */
  kafka: number;
  /** Of `kafka`: time no batch handler was running (waiting for fetches). */
  kafkaFetch: number;
}

/** Splits the drain window into stages (concurrent partitions: handler time is divided). */
export function stageShares(run: ChildRun, concurrency: number): StageShares {
  const sum = { validate: 0, model: 0, db: 0, kafka: 0, handler: 0 };
  for (const b of run.output.batches) {
    sum.validate += b.ms.validate;
    sum.model += b.ms.model;
    sum.db += b.ms.db;
    sum.kafka += b.ms.kafka;
    sum.handler += b.committedAt - b.startedAt;
  }
  const windowMs = run.window.to - run.window.from;
  const fetch = Math.max(0, windowMs * concurrency - sum.handler);
  const total = sum.validate + sum.model + sum.db + sum.kafka + fetch || 1;
  return {
    decodeValidate: sum.validate / total,
    model: sum.model / total,
    database: sum.db / total,
    kafka: (sum.kafka + fetch) / total,
    kafkaFetch: fetch / total,
  };
}

/** Row counts of the four tables and the offsets stored for a group. */
export interface Counts {
  customers: number;
  orders: number;
  events: number;
  predictions: number;
  storedOffsets: number;
}

/** Counts what a database holds (offsets: sum of next offsets `group` stored for `topic`). */
export async function countRows(db: Database, group: string, topic: string): Promise<Counts> {
  const offsets = await storedOffsets(db, group, topic);
  let storedSum = 0n;
  for (const next of offsets.values()) storedSum += next;
  return { ...await countTableRows(db), storedOffsets: Number(storedSum) };
}

/** Whether a database holds exactly `expected`; says what differs when it does not. */
export async function countsMatch(
  db: Database,
  target: { group: string; topic: string },
  expected: Counts,
): Promise<{ counts: Counts; countsOk: boolean }> {
  const counts = await countRows(db, target.group, target.topic);
  const countsOk = (Object.keys(expected) as (keyof Counts)[])
    .every((k) => counts[k] === expected[k]);
  if (!countsOk) {
    log(
      `error: counts differ: expected ${JSON.stringify(expected)}, got ${JSON.stringify(counts)}`,
    );
  }
  return { counts, countsOk };
}

// ---------------------------------------------------------------------------------------------
// 4. Ceilings

/** Decodes and validates lines as the consumer does (for the ceilings and the naive run). */
export function validateLines(
  config: PipelineConfig,
  lines: readonly string[],
): { events: OrderEvent[]; features: ValidEvent[]; extraFields: (string | null)[] } {
  const now = new Date();
  const events: OrderEvent[] = [];
  const features: ValidEvent[] = [];
  const extraFields: (string | null)[] = [];
  for (const line of lines) {
    const result = validateMessage(encoder.encode(line), config, now);
    if (!result.ok) throw new Error(`Cannot benchmark: generated event rejected: ${result.reason}`);
    events.push(result.event);
    features.push(result.features);
    extraFields.push(result.extraFields);
  }
  return { events, features, extraFields };
}

/** (c) Model only: predict() over every event in batches of `batchSize`. */
export async function measureModel(
  model: ReturnModel,
  events: readonly ValidEvent[],
  batchSize: number,
): Promise<{ perSecond: number; batchSize: number; probabilities: Float64Array }> {
  const probabilities = new Float64Array(events.length);
  // One warm-up call: the first run allocates onnxruntime's buffers.
  await model.predict(events.slice(0, batchSize));
  const started = performance.now();
  for (let i = 0; i < events.length; i += batchSize) {
    probabilities.set(await model.predict(events.slice(i, i + batchSize)), i);
  }
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: perSecond(events.length, seconds), batchSize, probabilities };
}

/** (b) Kafka only: a fresh group reads the whole topic and validates each message; no DB. */
export async function measureKafkaOnly(
  config: PipelineConfig,
  group: string,
  expected: number,
): Promise<{ perSecond: number; seconds: number }> {
  let count = 0;
  let rejected = 0;
  let first: number | undefined;
  let last = 0;
  const finished = Promise.withResolvers<void>();
  const member = await groupReader(config, group, finished.reject, (records) => {
    first ??= performance.now();
    const now = new Date();
    for (const record of records) {
      if (!validateMessage(record.value, config, now).ok) rejected++;
    }
    count += records.length;
    last = performance.now();
    if (count >= expected) finished.resolve();
    return Promise.resolve();
  });
  try {
    await finished.promise;
  } finally {
    await member.stop();
  }
  if (rejected) throw new Error(`Cannot benchmark: ${rejected} messages failed validation`);
  const seconds = (last - first!) / 1000;
  return { perSecond: perSecond(count, seconds), seconds };
}

/** A fresh group reading the whole topic from the beginning, records handed to `handle`. */
function groupReader(
  config: PipelineConfig,
  group: string,
  fail: (error: unknown) => void,
  handle: (
    records: readonly KafkaRecord[],
    where: { topic: string; partition: number },
  ) => Promise<void>,
) {
  return runGroupConsumer(new KafkaCluster(config.kafka), {
    groupId: group,
    topic: config.kafka.topic,
    fromBeginning: true,
    maxBytesPerPartition: config.consumer.maxFetchBytes,
    partitionsConsumedConcurrently: config.consumer.partitionsConsumedConcurrently,
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    onAssigned: () => {},
    onCrash: (error, restarting) => {
      if (!restarting) fail(error);
    },
    handle: (batch) => handle(batch.records, batch),
  });
}

/**
 * (a) Database only: the same rows (customers, orders, events with their source position,
 * predictions, the stored offset) written with big multi-row INSERTs on one connection, one
 * transaction per `rowsPerStatement` events.
 */
export async function measureDatabaseOnly(
  db: Database,
  data: {
    events: readonly OrderEvent[];
    extraFields: readonly (string | null)[];
    probabilities: Float64Array;
  },
  modelVersion: string,
  rowsPerStatement: number,
): Promise<{ perSecond: number; seconds: number; rowsPerStatement: number }> {
  const started = performance.now();
  await writeCeilingRows(db, data, modelVersion, rowsPerStatement);
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: perSecond(data.events.length, seconds), seconds, rowsPerStatement };
}

// ---------------------------------------------------------------------------------------------
// 5. Naive baseline

/**
 * Waits (at most `maxMs`) until the server has written back most modified pages, so that a
 * phase does not pay for the flushing left behind by the previous one. Reads status only.
 */
export async function waitForFlush(
  db: Database,
  maxMs = 30_000,
  threshold = 1000,
): Promise<{ dirtyPages: number | null; seconds: number }> {
  const started = performance.now();
  let pages: number | null = null;
  for (;;) {
    pages = await dirtyPages(db);
    if (pages === null || pages <= threshold || performance.now() - started > maxMs) break;
    await sleep(500);
  }
  return { dirtyPages: pages, seconds: (performance.now() - started) / 1000 };
}

/**
 * The guide's design taken literally: one message at a time, one model call
 * and one transaction (ingestBatch of one event, offsets included) per event.
 */
export async function measureNaive(
  config: PipelineConfig,
  db: Database,
  model: ReturnModel,
  group: string,
  count: number,
): Promise<{ events: number; seconds: number; perSecond: number }> {
  let handled = 0;
  let first: number | undefined;
  let last = 0;
  const finished = Promise.withResolvers<void>();
  const member = await groupReader(config, group, finished.reject, async (records, where) => {
    for (const record of records) {
      if (handled >= count) return;
      first ??= performance.now();
      const result = validateMessage(record.value, config, new Date());
      if (!result.ok) throw new Error(`Cannot benchmark: ${result.reason}`);
      const probabilities = await model.predict([result.features]);
      await ingestBatch(db, {
        events: [result.event],
        extraFields: [result.extraFields],
        probabilities,
        modelVersion: model.version,
        offsets: [{ ...where, nextOffset: record.offset + 1n }],
        consumerGroup: group,
        duplicates: config.consumer.duplicates,
      });
      handled++;
      last = performance.now();
      if (handled >= count) finished.resolve();
    }
  });
  try {
    await finished.promise;
  } finally {
    await member.stop();
  }
  const seconds = (last - first!) / 1000;
  return { events: handled, seconds, perSecond: perSecond(handled, seconds) };
}

// ---------------------------------------------------------------------------------------------
// 3. Live: a paced producer

/**
 * Sends `lines` at `rate` messages/s. Message i is scheduled at start + i/rate and carries
 * that time as its Kafka timestamp (CreateTime), the origin of the end-to-end latency.
 */
export async function producePaced(
  config: PipelineConfig,
  lines: readonly { key: string; value: string }[],
  rate: number,
): Promise<{ seconds: number; perSecond: number; maxBehindMs: number }> {
  const producer = await new KafkaCluster(config.kafka).connectProducer({
    acks: config.producer.acks,
    compression: config.producer.compression,
  });
  const inFlight: Promise<unknown>[] = [];
  const start = Date.now() + 20;
  let next = 0;
  let maxBehindMs = 0;
  try {
    while (next < lines.length) {
      const now = Date.now();
      const due = Math.min(lines.length, Math.floor(((now - start) * rate) / 1000) + 1);
      if (due > next) {
        maxBehindMs = Math.max(maxBehindMs, now - (start + (next * 1000) / rate));
        const records: EventRecord[] = [];
        for (let i = next; i < due; i++) {
          records.push({
            key: lines[i].key,
            value: lines[i].value,
            timestamp: Math.round(start + (i * 1000) / rate),
          });
        }
        next = due;
        inFlight.push(producer.send(config.kafka.topic, records));
        while (inFlight.length > 32) await inFlight.shift();
      }
      await sleep(5);
    }
    await Promise.all(inFlight);
  } finally {
    await producer.close();
  }
  const seconds = (Date.now() - start) / 1000;
  return { seconds, perSecond: perSecond(lines.length, seconds), maxBehindMs };
}

/** The p-th percentile (0..100) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Opens (creating and migrating) the database a config names. */
export function openBenchDatabase(config: PipelineConfig): Promise<Database> {
  return openDatabase(config, {
    retry: { retryForMs: 10_000 },
    onRetry: (...retry) => warn(retryMessage(...retry)),
  });
}

/** Deletes topics and consumer groups, ignoring what is already gone. */
export async function cleanupKafka(
  admin: TopicAdmin,
  topics: readonly string[],
  groups: readonly string[],
): Promise<void> {
  for (const topic of topics) {
    await admin.deleteTopic(topic, 30_000).catch((error) => log(`warning: ${error.message}`));
  }
  for (const group of groups) await admin.deleteGroup(group).catch(() => {});
}
