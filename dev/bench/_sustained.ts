/**
 * The sustained phase (`deno task bench --sustained N`): one consumer drains N events into
 * one fresh database on a MariaDB of the benchmark's own, and the run is cut into slices of
 * events stored (every 50,000 by default). Per slice: the rate, the buffer pool's pages read
 * and hit ratio, pages written and redo bytes, the CPU of the consumer and of the server. At
 * the end: the on-disk footprint per event per table and index, what the buffer pool holds
 * per index, and (when the server runs with performance_schema) reads per table file and
 * time per statement.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { generateEvents, type IdKind } from "../generator/mod.ts";
import { KafkaCluster, type TopicAdmin } from "../../lib/kafka/mod.ts";
import {
  bufferPoolByIndex,
  type Database,
  migrationStatus,
  performanceSchemaFigures,
  serverSettings,
  statusCounters,
  storageFootprint,
  storedEventCount,
} from "../../lib/db/mod.ts";
import { log } from "../../lib/log/mod.ts";
import { uniqueName, writeConfig } from "../testing/mod.ts";
import {
  cleanupKafka,
  type Counts,
  countsMatch,
  measureProducer,
  openBenchDatabase,
  perSecond,
  runConsumerChild,
} from "./_phases.ts";
import { cpuSeconds } from "./_proc.ts";
import { startOwnServer } from "./_server.ts";
import type { BatchRecord } from "./_consumer_child.ts";
import type { Curve } from "./_chart.ts";

/** What to run. */
export interface SustainedOptions {
  readonly configPath: string;
  readonly events: number;
  /** Events stored per slice (default 50,000). */
  readonly sliceEvents: number;
  /** Options of the benchmark's own MariaDB beyond its defaults. */
  readonly serverOptions: readonly string[];
  readonly overrides: Readonly<Record<string, unknown>>;
  readonly seed: number;
  /** How the generated event and order ids are made (default: random, version 4). */
  readonly ids?: IdKind;
  readonly consumerV8Flags?: string;
  /** Legend text of this run's curve. */
  readonly label: string;
}

/** Everything a sustained run measured; written as JSON and drawn as a chart. */
export type SustainedResult = Awaited<ReturnType<typeof runSustained>>;

/** Server status counters read per slice (SHOW GLOBAL STATUS). */
const COUNTERS = [
  "Innodb_buffer_pool_reads",
  "Innodb_buffer_pool_read_requests",
  "Innodb_buffer_pool_read_ahead",
  "Innodb_buffer_pool_pages_flushed",
  "Innodb_buffer_pool_pages_dirty",
  "Innodb_data_fsyncs",
  "Innodb_os_log_written",
] as const;
type Counter = typeof COUNTERS[number];

interface Sample {
  readonly at: number;
  readonly stored: number;
  readonly status: Record<Counter, number>;
  readonly cpu: { consumer: number | null; database: number | null };
}

const readStatus = (db: Database) => statusCounters(db, COUNTERS);

/** Samples at the start and each time another `slice` events are stored, until `total`. */
async function monitor(options: {
  db: Database;
  group: string;
  total: number;
  slice: number;
  consumerPid: number;
  serverPid: number;
  exited: Promise<unknown>;
  samples: Sample[];
}): Promise<void> {
  const { db, samples } = options;
  let exited = false;
  options.exited.then(() => exited = true);
  let stopped = false;
  const take = async (stored: number) => {
    const status = await readStatus(db);
    const sample: Sample = {
      at: Date.now(),
      stored,
      status,
      cpu: {
        consumer: cpuSeconds(options.consumerPid) ?? null,
        database: cpuSeconds(options.serverPid) ?? null,
      },
    };
    const previous = samples[samples.length - 1];
    samples.push(sample);
    if (previous) {
      const slice = sliceOf(previous, sample, []);
      log(
        `  ${stored.toLocaleString("en-US")} stored: ${
          Math.round(slice.perSecond).toLocaleString("en-US")
        } events/s, ${slice.pagesReadPerEvent.toFixed(2)} pages read/event, hit ratio ${
          (slice.hitRatio * 100).toFixed(2)
        } %`,
      );
    }
  };
  await take(await storedEventCount(db, options.group));
  let next = options.slice;
  while (!exited) {
    const stored = await storedEventCount(db, options.group);
    if (stored >= next || (stored >= options.total && !stopped)) {
      await take(stored);
      while (next <= stored) next += options.slice;
      if (stored >= options.total && !stopped) {
        // Stopped by what is stored, not by messages handled: redelivered ones count there.
        stopped = true;
        Deno.kill(options.consumerPid, "SIGTERM");
      }
    }
    await sleep(100);
  }
}

function sliceOf(a: Sample, b: Sample, batches: readonly BatchRecord[]) {
  const events = b.stored - a.stored;
  const seconds = (b.at - a.at) / 1000;
  const d = (name: Counter) => b.status[name] - a.status[name];
  const cores = (name: "consumer" | "database") => {
    const from = a.cpu[name];
    const to = b.cpu[name];
    return from === null || to === null || seconds <= 0 ? null : (to - from) / seconds;
  };
  const inSlice = batches.filter((x) => x.committedAt > a.at && x.committedAt <= b.at);
  const sliceEvents = inSlice.reduce((sum, x) => sum + x.n, 0);
  const perEvent = (n: number) => (events > 0 ? n / events : 0);
  return {
    eventsFrom: a.stored,
    eventsTo: b.stored,
    seconds,
    perSecond: perSecond(events, seconds),
    pagesReadPerEvent: perEvent(d("Innodb_buffer_pool_reads")),
    readRequestsPerEvent: perEvent(d("Innodb_buffer_pool_read_requests")),
    hitRatio: d("Innodb_buffer_pool_read_requests") > 0
      ? 1 - d("Innodb_buffer_pool_reads") / d("Innodb_buffer_pool_read_requests")
      : 1,
    readAheadPerEvent: perEvent(d("Innodb_buffer_pool_read_ahead")),
    pagesWrittenPerEvent: perEvent(d("Innodb_buffer_pool_pages_flushed")),
    redoBytesPerEvent: perEvent(d("Innodb_os_log_written")),
    fsyncsPerEvent: perEvent(d("Innodb_data_fsyncs")),
    dirtyPagesAtEnd: b.status.Innodb_buffer_pool_pages_dirty,
    cpuCores: { consumer: cores("consumer"), database: cores("database") },
    batches: inSlice.length,
    /** Milliseconds of database transaction per event, from the consumer's batch reports. */
    dbMsPerEvent: sliceEvents ? inSlice.reduce((sum, x) => sum + x.ms.db, 0) / sliceEvents : null,
  };
}

/** Writes N generated events as JSON Lines in constant memory; returns the exact counts. */
async function writeGenerated(
  path: string,
  events: number,
  seed: number,
  idKind: IdKind,
): Promise<Counts> {
  const customers = new Set<string>();
  const orders = new Set<string>();
  const ids = new Set<string>();
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  try {
    let chunk = "";
    for (const event of generateEvents({ events, seed, ids: idKind })) {
      customers.add(String(event.customer_customer_id));
      orders.add(String(event.order_id));
      ids.add(String(event.event_id));
      chunk += JSON.stringify(event) + "\n";
      if (chunk.length >= 1 << 20) {
        const bytes = encoder.encode(chunk);
        for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
        chunk = "";
      }
    }
    const bytes = encoder.encode(chunk);
    for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
  } finally {
    file.close();
  }
  return {
    customers: customers.size,
    orders: orders.size,
    events: ids.size,
    predictions: events,
    storedOffsets: events,
  };
}

/** The rate of the slice that ends at `events` stored (the first one that reaches it). */
export function rateAt(
  slices: readonly { eventsTo: number; perSecond: number }[],
  events: number,
): number | null {
  return slices.find((s) => s.eventsTo >= events)?.perSecond ?? null;
}

/** Runs the sustained phase on a server of its own, removed afterwards like everything else. */
export async function runSustained(options: SustainedOptions) {
  const started = new Date();
  const ids = options.ids ?? "random";
  const server = await startOwnServer(options.serverOptions);
  const dir = await Deno.makeTempDir({ prefix: "pipeline_sustained_" });
  const base = uniqueName("sustained");
  const target = { topic: base, group: `${base}_drain`, database: base };
  let db: Database | undefined;
  let admin: TopicAdmin | undefined;
  try {
    const { path, config } = await writeConfig(
      options.configPath,
      dir,
      target,
      options.overrides,
      server.url(base),
    );
    admin = await new KafkaCluster(config.kafka).connectAdmin();
    log(`generating ${options.events.toLocaleString("en-US")} events`);
    const file = join(dir, "events.jsonl");
    const expected = await writeGenerated(file, options.events, options.seed, ids);
    await admin.createTopic({
      topic: base,
      partitions: config.kafka.partitions,
      replicationFactor: config.kafka.replicationFactor,
      timeoutMs: 30_000,
    });
    log("producer: filling the topic");
    const producer = await measureProducer(config, file, options.events);
    await Deno.remove(file);
    db = await openBenchDatabase(config);
    const settings = await serverSettings(db);
    const schema = (await migrationStatus(db)).filter((m) => m.applied).at(-1)?.tag ?? null;
    log(
      `sustained drain of ${options.events.toLocaleString("en-US")} events, buffer pool ${
        settings.innodbBufferPoolSize / 1024 / 1024
      } MiB`,
    );
    const samples: Sample[] = [];
    const openDb = db;
    const drained = await runConsumerChild({
      configPath: path,
      // The monitor stops it once N events are stored (a redelivered message counts twice).
      maxEvents: options.events * 100,
      dir,
      v8Flags: options.consumerV8Flags,
      timeoutMs: 600_000 + options.events * 5,
      databasePid: server.pid,
      whileJoined: ({ pid, exited }) =>
        monitor({
          db: openDb,
          group: target.group,
          total: options.events,
          slice: options.sliceEvents,
          consumerPid: pid,
          serverPid: server.pid,
          exited,
          samples,
        }),
    });
    const { counts, countsOk } = await countsMatch(db, target, expected);
    const batches = drained.output.batches;
    const slices = samples.slice(1).map((s, i) => sliceOf(samples[i], s, batches));
    // From the first batch to the sample that saw all N stored (later batches are redeliveries).
    const seconds = ((samples.at(-1)?.at ?? drained.window.to) - drained.window.from) / 1000;
    log("footprint and buffer pool");
    // Figures of the end: one that cannot be read is reported as such, the run is kept.
    const orError = <T>(work: Promise<T>) =>
      work.catch((error) => ({ error: String(error?.message ?? error) }));
    const bufferPool = await orError(bufferPoolByIndex(db));
    const disk = await storageFootprint(db, counts.events);
    const perf = settings.performanceSchema
      ? await orError(performanceSchemaFigures(db, base))
      : null;
    const total = (from: number, to: number, name: Counter) =>
      samples[to].status[name] - samples[from].status[name];
    const last = samples.length - 1;
    return {
      kind: "sustained" as const,
      label: options.label,
      startedAt: started.toISOString(),
      machine: {
        cores: navigator.hardwareConcurrency,
        deno: Deno.version.deno,
        os: `${Deno.build.os} ${Deno.build.arch}`,
      },
      settings: {
        events: options.events,
        sliceEvents: options.sliceEvents,
        /** The run's own topic and database (removed afterwards). */
        topic: base,
        partitions: config.kafka.partitions,
        partitionsConsumedConcurrently: config.consumer.partitionsConsumedConcurrently,
        databasePoolSize: config.database.poolSize,
        keyType: config.database.keyType,
        ids,
        /** The last migration applied: the schema measured. */
        schema,
        consumerMaxFetchBytes: config.consumer.maxFetchBytes,
        consumerV8Flags: options.consumerV8Flags ?? null,
        overrides: options.overrides,
        serverOptions: options.serverOptions,
      },
      server: { ...settings, port: server.port },
      producer,
      drain: {
        events: drained.output.messages,
        ingested: drained.output.ingested,
        alreadyApplied: drained.output.alreadyApplied,
        duplicates: drained.output.duplicates,
        deadLettered: drained.output.deadLettered,
        warnings: drained.warnings,
        maxBatchMs: Math.max(0, ...batches.map((b) => b.committedAt - b.startedAt)),
        seconds,
        perSecond: perSecond(samples.at(-1)?.stored ?? 0, seconds),
        batches: batches.length,
        meanBatchSize: batches.length ? options.events / batches.length : 0,
        expected,
        counts,
        countsOk,
        peakRssBytes: drained.peakRssBytes,
        cpuCores: drained.cpu,
        pagesReadPerEvent: last > 0
          ? total(0, last, "Innodb_buffer_pool_reads") / Math.max(1, samples[last].stored)
          : null,
      },
      rateAt: {
        "200000": rateAt(slices, 200_000),
        "500000": rateAt(slices, 500_000),
        "1000000": rateAt(slices, 1_000_000),
      },
      slices,
      footprint: disk,
      bufferPool,
      performanceSchema: perf,
    };
  } finally {
    log("cleaning up");
    await db?.close().catch(() => {});
    if (admin) {
      await cleanupKafka(admin, [base, `${base}.dlq`], [target.group]).catch((error) =>
        log(`warning: Cannot clean up Kafka: ${error}`)
      );
      await admin.close();
    }
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The curve of events/s against events stored that a sustained result carries. */
export function curveOf(result: {
  label?: string;
  slices?: readonly { eventsTo: number; perSecond: number }[];
}, label?: string): Curve {
  if (!Array.isArray(result.slices)) {
    throw new Error("Cannot draw a curve: the JSON has no slices (is it a --sustained result?)");
  }
  return {
    label: label ?? result.label ?? "sustained",
    points: result.slices.map((s) => [s.eventsTo, s.perSecond] as const),
  };
}
