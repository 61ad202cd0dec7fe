/**
 * Shared by the tests of the model's life (swap, shadow, rescore, check): a topic and
 * databases of their own, models to swap in, processes to watch, raw reads of the database.
 */
import assert from "assert";
import { join } from "node:path";
// independent check: the tests read the database with mysql2 itself, not through lib/db.
import mysql from "mysql2/promise";
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { validateMessage } from "../lib/events/mod.ts";
import { buildModel } from "../lib/model/onnx/mod.ts";
import { openReturnModel } from "../lib/model/mod.ts";
import { trainModel } from "../training/mod.ts";
import {
  dropDatabase,
  repoConfigPath,
  repoRoot,
  runEntry,
  type TestConfigOptions,
  uniqueName,
  writeTestConfig,
} from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

/** Rows of a query on one database. */
export type Sql = <T = Record<string, unknown>>(query: string, params?: unknown[]) => Promise<T[]>;

export interface Pipeline {
  readonly topic: string;
  /** A folder of the test's own (removed afterwards). */
  readonly dir: string;
  /** Writes a config for this topic; each call may name another database (dropped after). */
  config(options?: Omit<TestConfigOptions, "topic">): Promise<string>;
  /** Raw SQL on a database of this pipeline (default: the one named like the topic). */
  sql(database?: string): Sql;
}

/** A topic of its own (3 partitions unless `partitions`), its databases; all removed after. */
export async function withPipeline(
  test: (pipeline: Pipeline) => Promise<void>,
  options: { partitions?: number; createTopic?: boolean } = {},
): Promise<void> {
  await ensureServices();
  const topic = uniqueName("model");
  const dir = await Deno.makeTempDir({ prefix: "model_test_" });
  const base = await loadConfig(repoConfigPath);
  const admin = await new KafkaCluster(base.kafka).connectAdmin();
  const databases = new Set<string>([topic]);
  const connections = new Map<string, mysql.Connection>();
  try {
    if (options.createTopic ?? true) {
      await admin.createTopic({
        topic,
        partitions: options.partitions ?? 3,
        replicationFactor: 1,
        timeoutMs: 10_000,
      });
    }
    await test({
      topic,
      dir,
      config: (o = {}) => {
        databases.add(o.database ?? topic);
        return writeTestConfig({ topic, ...o });
      },
      sql: (database = topic) => async <T>(query: string, params: unknown[] = []) => {
        let connection = connections.get(database);
        if (!connection) {
          const url = new URL(base.database.url);
          url.pathname = `/${database}`;
          connection = await mysql.createConnection({ uri: url.toString(), timezone: "Z" });
          connections.set(database, connection);
        }
        const [rows] = await connection.query(query, params);
        return rows as T[];
      },
    });
  } finally {
    for (const connection of connections.values()) await connection.end().catch(() => {});
    for (const name of [topic, `${topic}.dlq`]) await admin.deleteTopic(name, 10_000);
    await admin.close();
    for (const name of databases) await dropDatabase(name);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends a JSON-Lines file with the project's producer. */
export async function produce(configPath: string, file: string): Promise<void> {
  const result = await runEntry("producer.ts", ["--config", configPath, "--file", file]);
  assert.equal(result.code, 0, result.stderr);
}

/** A running entry point whose output is collected as it comes. */
export interface Running {
  readonly child: Deno.ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Waits for the process to end; returns its exit code. */
  done(): Promise<number>;
}

export function spawnEntry(script: string, args: string[]): Running {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: repoRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const text = { stdout: "", stderr: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text[key] += chunk;
  };
  const reading = Promise.all([collect(child.stdout, "stdout"), collect(child.stderr, "stderr")]);
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    done: async () => {
      const status = await child.status;
      await reading;
      return status.code;
    },
  };
}

/** Polls until `check` returns something other than undefined, null or false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Row count of a table, -1 while the database or table does not exist yet. */
export async function rowCount(sql: Sql, table: string): Promise<number> {
  return await sql<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).then(
    ([row]) => Number(row.n),
    () => -1,
  );
}

/**
 * A second model that fits the committed mapping: logistic regression trained on its own
 * generated events, with a card of version `version` (so its version ends "+card:<version>").
 */
export async function trainCandidate(
  config: PipelineConfig,
  out: string,
  options: { seed?: number; version?: string } = {},
): Promise<string> {
  await trainModel({
    config,
    events: 4000,
    seed: options.seed ?? 7,
    out,
    algorithm: "logistic",
    l2: 1e-4,
    trees: 0,
    depth: 0,
    learningRate: 0,
    testFraction: 0.2,
    version: options.version ?? "2",
  });
  return out;
}

/**
 * A model that fits the committed mapping (input `features` [N, 27], output `probabilities`)
 * but whose every output is above 1, so that each predict() call fails.
 */
export async function writeFailingModel(path: string): Promise<void> {
  await Deno.writeFile(
    path,
    buildModel({
      graphName: "beyond_one",
      opsets: { "": 17 },
      inputs: [{ name: "features", type: { tensor: "float32", dims: ["N", 27] } }],
      outputs: [{ name: "probabilities", type: { tensor: "float32", dims: ["N", 27] } }],
      initializers: [{ name: "two", type: "float32", dims: [1], values: [2] }],
      nodes: [{ op: "Add", inputs: ["features", "two"], outputs: ["probabilities"] }],
    }),
  );
}

/** The version and the probabilities a model file gives the valid lines of a file. */
export async function scoreFile(
  config: PipelineConfig,
  modelPath: string,
  file: string,
): Promise<{ version: string; byId: Map<string, number> }> {
  const now = new Date();
  const events = (await Deno.readTextFile(file)).split("\n").filter(Boolean).flatMap((line) => {
    const result = validateMessage(new TextEncoder().encode(line), config, now);
    return result.ok ? [result.features] : [];
  });
  const model = await openReturnModel(modelPath, config);
  try {
    const p = await model.predict(events);
    return {
      version: model.version,
      byId: new Map(events.map((e, i) => [String(e.event_id), p[i]])),
    };
  } finally {
    await model.close();
  }
}

/** Copies the committed model and its card into `folder` (created): a file to swap under. */
export async function copyDefaultModel(folder: string, name = "live"): Promise<string> {
  await Deno.mkdir(folder, { recursive: true });
  const path = join(folder, `${name}.onnx`);
  await Deno.copyFile(join(repoRoot, "models", "return_model.onnx"), path);
  await Deno.copyFile(
    join(repoRoot, "models", "return_model.card.json"),
    join(folder, `${name}.card.json`),
  );
  return path;
}

/** Replaces `target` the safe way: write beside it, then rename over it. */
export async function publish(source: Uint8Array | string, target: string): Promise<void> {
  const bytes = typeof source === "string" ? await Deno.readFile(source) : source;
  const temporary = `${target}.tmp`;
  await Deno.writeFile(temporary, bytes);
  await Deno.rename(temporary, target);
}

/** The committed model mapping as pipeline.yaml writes it (`output`, `inputs`). */
export async function mappingSection() {
  const config = await loadConfig(repoConfigPath);
  return {
    output: { name: config.model.output.name, returned_class: config.model.output.returnedClass },
    inputs: config.model.inputs.map((input) => ({
      name: input.name,
      type: input.type,
      features: input.features.map((f) => ({
        field: f.field,
        encode: typeof f.encode === "object" && "oneHot" in f.encode
          ? { one_hot: f.encode.oneHot }
          : f.encode,
      })),
    })),
  };
}
