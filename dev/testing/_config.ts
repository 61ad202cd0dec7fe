/** The benchmark's own pipeline.yaml files: unique topic, consumer group and database. */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { loadConfig, type PipelineConfig } from "../../lib/config/mod.ts";

/** A name no other run uses, valid as a Kafka topic, a consumer group and a database name. */
export function uniqueName(prefix: string): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `${prefix}_${Date.now().toString(36)}_${random}`;
}

/** Where one phase reads and writes. */
export interface Target {
  readonly topic: string;
  readonly group: string;
  readonly database: string;
}

/**
 * Writes a copy of `basePath` with the target's topic, group and database (on the same
 * server, or on `serverUrl`'s), relative paths made absolute, per-event logging off, plus
 * dotted-path overrides such as `{ "consumer.partitions_consumed_concurrently": 3 }`.
 * Returns its path and config.
 */
export async function writeConfig(
  basePath: string,
  dir: string,
  target: Target,
  overrides: Readonly<Record<string, unknown>> = {},
  serverUrl?: string,
): Promise<{ path: string; config: PipelineConfig }> {
  const base = await loadConfig(basePath);
  const url = new URL(serverUrl ?? base.database.url);
  url.pathname = `/${target.database}`;
  const doc = parseDocument(await Deno.readTextFile(basePath));
  doc.setIn(["kafka", "topic"], target.topic);
  doc.setIn(["kafka", "dead_letter_topic"], `${target.topic}.dlq`);
  doc.setIn(["kafka", "consumer_group"], target.group);
  doc.setIn(["database", "url"], url.toString());
  doc.setIn(["consumer", "log_events"], false);
  doc.setIn(["consumer", "summary_interval_ms"], 0);
  const baseDir = dirname(resolve(basePath));
  for (const key of [["producer", "file"], ["model", "path"]]) {
    const value = doc.getIn(key);
    if (typeof value === "string" && !isAbsolute(value)) doc.setIn(key, join(baseDir, value));
  }
  for (const [path, value] of Object.entries(overrides)) doc.setIn(path.split("."), value);
  const path = join(dir, `${target.topic}.yaml`);
  await Deno.writeTextFile(path, doc.toString());
  return { path, config: await loadConfig(path) };
}
