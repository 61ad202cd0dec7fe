/** One pipeline of a test's own: topic, dead-letter topic, group and database; removed after. */
import assert from "assert";
import { join } from "node:path";
// independent check: the rows are read with the driver, not through the code under test.
import mysql from "mysql2/promise";
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { dropDatabase, repoRoot, runEntry, uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";
import { guideEvent } from "./_fixtures.ts";

export interface Pipeline {
  readonly configPath: string;
  readonly config: PipelineConfig;
  readonly topic: string;
  sql<T = Record<string, unknown>>(query: string): Promise<T[]>;
  /** Messages in the dead-letter topic, as `deno task admin describe` counts them. */
  deadLetters(): Promise<number>;
  admin(...args: string[]): Promise<string>;
}

export async function withPipeline(
  overrides: Record<`${string}.${string}`, unknown>,
  test: (p: Pipeline) => Promise<void>,
) {
  await ensureServices();
  const topic = uniqueName("reliable");
  const configPath = await writeTestConfig({
    topic,
    "kafka.partitions": 1,
    "consumer.log_events": true,
    ...overrides,
  });
  const config = await loadConfig(configPath);
  let connection: mysql.Connection | undefined;
  const admin = async (...args: string[]) => {
    const result = await runEntry("admin.ts", [...args, "--config", configPath]);
    assert.equal(result.code, 0, `admin ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  try {
    await admin("create");
    await test({
      configPath,
      config,
      topic,
      admin,
      sql: async <T>(query: string) => {
        if (!connection) {
          const url = new URL((await loadConfig(join(repoRoot, "pipeline.yaml"))).database.url);
          url.pathname = `/${topic}`;
          connection = await mysql.createConnection({ uri: url.toString(), timezone: "Z" });
        }
        const [rows] = await connection.query(query);
        return rows as T[];
      },
      deadLetters: async () => {
        const text = await admin("describe");
        const match = /dead-letter topic: \S+ \(\d+ partition\(s\), (\d+) message\(s\)\)/.exec(
          text,
        );
        return match ? Number(match[1]) : 0;
      },
    });
  } finally {
    await connection?.end();
    for (const name of [topic, config.kafka.deadLetterTopic]) {
      await runEntry("admin.ts", ["delete", "--name", name, "--config", configPath]);
    }
    await dropDatabase(topic);
  }
}

/** Good events e0..e<n-1>, with `change(i)` merged into event i. */
export function events(n: number, change: (i: number) => Record<string, unknown> = () => ({})) {
  return Array.from({ length: n }, (_, i) => ({
    ...guideEvent,
    event_id: `e${i}`,
    order_id: `o${i}`,
    customer_customer_id: `c${i % 50}`,
    ...change(i),
  }));
}

/** An event the producer passes on and the consumer rejects. */
export function wrongType(id: string) {
  return { ...guideEvent, event_id: id, order_n_items: "many" };
}

export async function produce(p: Pipeline, lines: readonly unknown[], configPath = p.configPath) {
  const file = join(p.configPath, "..", `${uniqueName("events")}.jsonl`);
  await Deno.writeTextFile(
    file,
    lines.map((l) => typeof l === "string" ? l : JSON.stringify(l)).join("\n") + "\n",
  );
  const result = await runEntry("producer.ts", ["--config", configPath, "--file", file]);
  assert.equal(result.code, 0, result.stderr);
}

export async function consumeUntilIdle(p: Pipeline, ...args: string[]) {
  const result = await runEntry("consumer.ts", [
    "--config",
    p.configPath,
    "--until-idle",
    "2000",
    ...args,
  ]);
  assert.equal(result.code, 0, result.stderr);
  return result;
}

export function done(stdout: string): Record<string, number> {
  const line = stdout.split("\n").find((l) => l.startsWith("[DONE]"));
  assert.ok(line, `no [DONE] line in:\n${stdout.slice(-2000)}`);
  return Object.fromEntries(
    [...line.matchAll(/(\w+)=([\d.]+)/g)].map(([, k, v]) => [k, Number(v)]),
  );
}

export async function count(p: Pipeline, table: string): Promise<number> {
  const [row] = await p.sql<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row.n);
}

export async function storedOffset(p: Pipeline): Promise<number> {
  const rows = await p.sql<{ next_offset: string }>("SELECT next_offset FROM pipeline_offsets");
  return rows.reduce((sum, r) => sum + Number(r.next_offset), 0);
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
