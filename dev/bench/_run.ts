/**
 * One benchmark run: generates N events, fills its own topic, then measures every figure
 * side by side against the running services, checks the counts and cleans up after itself.
 */
import { join } from "node:path";
import { generateEvents } from "../generator/mod.ts";
import { KafkaCluster } from "../../lib/kafka/mod.ts";
import { loadModel, type ReturnModel } from "../../lib/model/mod.ts";
import { type Database, dropDatabase, serverSettings } from "../../lib/db/mod.ts";
import { log } from "../../lib/log/mod.ts";
import { errorText } from "../../lib/errors/mod.ts";
import { type Target, uniqueName, writeConfig } from "../testing/mod.ts";
import { type OwnServer, startOwnServer } from "./_server.ts";
import {
  cleanupKafka,
  countRows,
  type Counts,
  countsMatch,
  measureDatabaseOnly,
  measureKafkaOnly,
  measureModel,
  measureNaive,
  measureProducer,
  openBenchDatabase,
  percentile,
  perSecond,
  producePaced,
  runConsumerChild,
  stageShares,
  validateLines,
  waitForFlush,
} from "./_phases.ts";

/** What to run. */
export interface BenchOptions {
  readonly configPath: string;
  readonly events: number;
  readonly naiveEvents: number;
  /** Seconds of production per live level; 0 skips the live phase. */
  readonly liveSeconds: number;
  /** Fractions of the drain rate for the live phase. */
  readonly liveLevels: readonly number[];
  /** Rows per INSERT statement (and per transaction) of the database ceiling. */
  readonly ceilingRows: number;
  /** pipeline.yaml values for every phase, by dotted path (tuning). */
  readonly overrides: Readonly<Record<string, unknown>>;
  readonly seed: number;
  /** V8 flags of the consumer child (e.g. --max-old-space-size=160). */
  readonly consumerV8Flags?: string;
  /**
   * Options of a MariaDB of the benchmark's own to run against (its defaults plus these);
   * undefined: the server of the config's database.url.
   */
  readonly ownServerOptions?: readonly string[];
}

/** Everything a run measured; written as JSON and printed as a table. */
export type BenchResult = Awaited<ReturnType<typeof runBenchmark>>;

/** Runs every phase and returns its figures; resources are removed even when a phase fails. */
export async function runBenchmark(options: BenchOptions) {
  const server = options.ownServerOptions
    ? await startOwnServer(options.ownServerOptions)
    : undefined;
  try {
    return await benchmarkOn(options, server);
  } finally {
    await server?.stop();
  }
}

async function benchmarkOn(options: BenchOptions, server: OwnServer | undefined) {
  const started = new Date();
  const dir = await Deno.makeTempDir({ prefix: "pipeline_bench_" });
  const base = uniqueName("bench");
  const write = (target: Target) =>
    writeConfig(options.configPath, dir, target, options.overrides, server?.url(target.database));
  const drainTarget: Target = { topic: base, group: `${base}_drain`, database: base };
  const drain = await write(drainTarget);
  const config = drain.config;
  const topics = [base, `${base}.dlq`];
  const groups = [drainTarget.group, `${base}_kafka`, `${base}_naive`];
  const databases = [base, `${base}_ceiling`, `${base}_live`];
  const admin = await new KafkaCluster(config.kafka).connectAdmin();
  const opened: Database[] = [];
  let model: ReturnModel | undefined;
  // Every benchmark topic has the configured layout.
  const createBenchTopic = (topic: string) =>
    admin.createTopic({
      topic,
      partitions: config.kafka.partitions,
      replicationFactor: config.kafka.replicationFactor,
      timeoutMs: 30_000,
    });
  const open = async (database: string) => {
    const { config: c } = await write({
      ...drainTarget,
      topic: `${base}_${database}`,
      database,
    });
    const db = await openBenchDatabase(c);
    opened.push(db);
    return db;
  };
  try {
    // Data: N distinct events, no duplicates or bad lines, so that every count is exact.
    log(`generating ${options.events} events`);
    const generated = [...generateEvents({ events: options.events, seed: options.seed })];
    const lines = generated.map((e) => JSON.stringify(e));
    const expected: Counts = {
      customers: new Set(generated.map((e) => e.customer_customer_id)).size,
      orders: new Set(generated.map((e) => e.order_id)).size,
      events: new Set(generated.map((e) => e.event_id)).size,
      predictions: options.events,
      storedOffsets: options.events,
    };
    generated.length = 0;
    const file = join(dir, "events.jsonl");
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    await createBenchTopic(base);

    log("producer: filling the topic");
    const producer = await measureProducer(config, file, options.events);

    log("consumer drain");
    const mainDb = await open(base);
    const drainSettled = await waitForFlush(mainDb);
    const drained = await runConsumerChild({
      configPath: drain.path,
      maxEvents: options.events,
      dir,
      v8Flags: options.consumerV8Flags,
      timeoutMs: 600_000 + options.events * 5,
      databasePid: server?.pid,
    });
    const drainSeconds = (drained.window.to - drained.window.from) / 1000;
    const { counts, countsOk } = await countsMatch(mainDb, drainTarget, expected);
    const batches = drained.output.batches;
    const meanBatch = batches.length ? options.events / batches.length : 0;
    const concurrency = config.consumer.partitionsConsumedConcurrently;
    const drainFigures = {
      events: drained.output.messages,
      ingested: drained.output.ingested,
      seconds: drainSeconds,
      perSecond: perSecond(drained.output.messages, drainSeconds),
      batches: batches.length,
      meanBatchSize: meanBatch,
      expected,
      counts,
      countsOk,
      dirtyPagesAtStart: drainSettled.dirtyPages,
      peakRssBytes: drained.peakRssBytes,
      memory: drained.output.memory,
      cpuCores: drained.cpu,
      stages: stageShares(drained, concurrency),
    };

    // The naive design writes into the drain's database right after the drain, so that both
    // meet tables of the same size (new event ids from their own topic: no duplicates).
    log("naive baseline (into the drain's database)");
    const naiveCount = Math.min(options.naiveEvents, options.events);
    const naiveTarget: Target = { topic: `${base}_naive`, group: `${base}_naive`, database: base };
    topics.push(naiveTarget.topic);
    const naiveConfig = await write(naiveTarget);
    await createBenchTopic(naiveTarget.topic);
    const naiveFile = join(dir, "naive.jsonl");
    const naiveLines = [...generateEvents({ events: naiveCount, seed: options.seed + 100 })]
      .map((e) => JSON.stringify(e));
    await Deno.writeTextFile(naiveFile, naiveLines.join("\n") + "\n");
    await measureProducer(naiveConfig.config, naiveFile, naiveCount);
    const settled = await waitForFlush(mainDb);
    model = await loadModel(config);
    const naive = await measureNaive(
      naiveConfig.config,
      mainDb,
      model,
      naiveTarget.group,
      naiveCount,
    );
    const afterNaive = await countRows(mainDb, naiveTarget.group, naiveTarget.topic);
    const naiveFigures = {
      ...naive,
      tableEventsBefore: counts.events,
      dirtyPagesAtStart: settled.dirtyPages,
      settleSeconds: settled.seconds,
      countsOk: afterNaive.events === counts.events + naiveCount &&
        afterNaive.predictions === counts.predictions + naiveCount &&
        afterNaive.storedOffsets === naiveCount,
    };
    if (!naiveFigures.countsOk) log(`error: naive counts differ: ${JSON.stringify(afterNaive)}`);

    log("ceilings: model only, Kafka only, database only");
    const data = validateLines(config, lines);
    const modelFigures = await measureModel(
      model,
      data.features,
      Math.max(1, Math.round(meanBatch)),
    );
    const kafkaOnly = await measureKafkaOnly(config, `${base}_kafka`, options.events);
    const ceilingDb = await open(`${base}_ceiling`);
    const databaseOnly = await measureDatabaseOnly(
      ceilingDb,
      { ...data, probabilities: modelFigures.probabilities },
      "bench",
      options.ceilingRows,
    );
    const ceilingCounts = await countRows(ceilingDb, "none", "none");
    const ceilings = {
      database: {
        perSecond: databaseOnly.perSecond,
        rowsPerStatement: databaseOnly.rowsPerStatement,
      },
      kafka: { perSecond: kafkaOnly.perSecond },
      model: { perSecond: modelFigures.perSecond, batchSize: modelFigures.batchSize },
    };
    const smallest = (Object.entries(ceilings) as [keyof typeof ceilings, { perSecond: number }][])
      .reduce((a, b) => (b[1].perSecond < a[1].perSecond ? b : a));
    if (ceilingCounts.events !== options.events) {
      throw new Error(`Cannot trust the database ceiling: ${ceilingCounts.events} events stored`);
    }

    log("live latency");
    const live = [];
    const drainRate = drainFigures.perSecond;
    if (options.liveSeconds > 0 && drainRate > 0) {
      let liveTotal = 0;
      let liveDb: Database | undefined;
      for (const [index, fraction] of options.liveLevels.entries()) {
        const target: Target = {
          topic: `${base}_live${index}`,
          group: `${base}_live${index}`,
          database: `${base}_live`,
        };
        topics.push(target.topic, `${target.topic}.dlq`);
        groups.push(target.group);
        const liveConfig = await write(target);
        await createBenchTopic(target.topic);
        const rate = drainRate * fraction;
        const count = Math.max(1, Math.round(rate * options.liveSeconds));
        const messages = [
          ...generateEvents({ events: count, seed: options.seed + 1 + index }),
        ].map((e) => ({ key: String(e.event_id), value: JSON.stringify(e) }));
        log(
          `  ${Math.round(fraction * 100)}% of drain: ${
            Math.round(rate)
          } events/s, ${count} events`,
        );
        let paced: Awaited<ReturnType<typeof producePaced>> | undefined;
        const run = await runConsumerChild({
          configPath: liveConfig.path,
          maxEvents: count,
          dir,
          latency: true,
          v8Flags: options.consumerV8Flags,
          databasePid: server?.pid,
          timeoutMs: options.liveSeconds * 4000 + 120_000,
          whileJoined: async () => {
            paced = await producePaced(liveConfig.config, messages, rate);
          },
        });
        liveTotal += count;
        liveDb ??= await open(`${base}_live`);
        const liveCounts = await countRows(liveDb, target.group, target.topic);
        const latencies = run.output.latenciesMs.sort((a, b) => a - b);
        live.push({
          fractionOfDrain: fraction,
          targetPerSecond: rate,
          producedPerSecond: paced?.perSecond ?? 0,
          producerMaxBehindMs: paced?.maxBehindMs ?? null,
          events: count,
          latencyMs: {
            p50: percentile(latencies, 50),
            p95: percentile(latencies, 95),
            p99: percentile(latencies, 99),
            max: latencies[latencies.length - 1] ?? Number.NaN,
          },
          countsOk: liveCounts.events === liveTotal && liveCounts.storedOffsets === count,
          peakRssBytes: run.peakRssBytes,
          cpuCores: run.cpu,
        });
      }
    }

    const smallestCeiling = { name: smallest[0], perSecond: smallest[1].perSecond };
    const half = live.find((l) => l.fractionOfDrain === 0.5);
    return {
      startedAt: started.toISOString(),
      machine: {
        cores: navigator.hardwareConcurrency,
        deno: Deno.version.deno,
        os: `${Deno.build.os} ${Deno.build.arch}`,
      },
      settings: {
        events: options.events,
        partitions: config.kafka.partitions,
        partitionsConsumedConcurrently: concurrency,
        databasePoolSize: config.database.poolSize,
        keyType: config.database.keyType,
        producerAcks: config.producer.acks,
        producerCompression: config.producer.compression,
        producerBatchSize: config.producer.batchSize,
        overrides: options.overrides,
        consumerV8Flags: options.consumerV8Flags ?? null,
        consumerMaxFetchBytes: config.consumer.maxFetchBytes,
        /** Options of the benchmark's own MariaDB (null: the config's server). */
        ownServerOptions: options.ownServerOptions ?? null,
        innodbBufferPoolSize: (await serverSettings(mainDb)).innodbBufferPoolSize,
      },
      producer,
      drain: drainFigures,
      ceilings,
      smallestCeiling,
      drainOverSmallestCeiling: drainRate / smallestCeiling.perSecond,
      naive: { ...naiveFigures, speedup: drainRate / naive.perSecond },
      live,
      /** What the run created (and removed again). */
      resources: { topics, groups, databases },
      targets: {
        drainAtLeast70PercentOfCeiling: drainRate >= 0.7 * smallestCeiling.perSecond,
        atLeast20xNaive: drainRate >= 20 * naive.perSecond,
        p99Under1sAtHalfDrain: half ? half.latencyMs.p99 < 1000 : null,
        peakRssUnder300MB: drainFigures.peakRssBytes !== null
          ? drainFigures.peakRssBytes < 300 * 1024 * 1024
          : null,
      },
    };
  } finally {
    log("cleaning up");
    await model?.close().catch(() => {});
    for (const db of opened) await db.close().catch(() => {});
    for (const name of databases) {
      const url = new URL(config.database.url);
      url.pathname = `/${name}`;
      await dropDatabase(url.toString()).catch((error) =>
        log(`warning: Cannot drop database ${name}: ${errorText(error)}`)
      );
    }
    await cleanupKafka(admin, topics, groups).catch((error) =>
      log(`warning: Cannot clean up Kafka: ${error}`)
    );
    await admin.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
