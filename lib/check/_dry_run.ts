/**
 * `deno task check --dry-run FILE`: each line of a JSON-Lines file goes through what the
 * consumer does with a record (its own validation and in-batch deduplication, the stored
 * event_ids, read only, and the model), and nothing is written anywhere. The report says
 * what would become of every line.
 */
import type { PipelineConfig } from "../config/mod.ts";
import { checkRecords, planBatch } from "../consumer/mod.ts";
import {
  type Database,
  errorCode,
  errorNumber,
  existingEventIds,
  openDatabase,
} from "../db/mod.ts";
import { errorText } from "../errors/mod.ts";
import { decodeJsonObject, missingRequired, type ValidEvent } from "../events/mod.ts";
import type { KafkaRecord } from "../kafka/mod.ts";
import { histogram, openReturnModel } from "../model/mod.ts";
import { readLines } from "../producer/mod.ts";

/** Lines looked at together, as the consumer looks at a batch. */
const CHUNK = 5000;

export interface DryRunReport {
  readonly file: string;
  readonly lines: number;
  readonly bytes: number;
  /** Blank lines: the producer sends nothing for them. */
  readonly blank: number;
  readonly duplicates: "skip" | "update";
  /** Distinct event_ids not stored yet: rows that would be inserted. */
  readonly fresh: number;
  /** Records of an event_id that came earlier in the file (skip) or later (update). */
  readonly duplicatesInFile: number;
  /** Distinct event_ids already in table_events: kept (skip) or overwritten (update). */
  readonly alreadyStored: number;
  /** How the stored event_ids were looked up. */
  readonly database: string;
  readonly deadLettered: number;
  /** Per reason (its fixed part and field): how many, and the first line with its full text. */
  readonly reasons: ReadonlyMap<string, { count: number; line: number; reason: string }>;
  /** Dead-lettered lines that `deno task produce` would not even send. */
  readonly producerSkips: number;
  /** Per field: how many accepted records got its default, and which value. */
  readonly defaults: ReadonlyMap<string, { count: number; value: string }>;
  readonly modelVersion: string;
  /** Events that would be scored and written. */
  readonly scored: number;
  readonly histogram: readonly number[];
  readonly meanProbability: number;
}

/** Runs the file through the consumer's steps; reads the database, writes nothing. */
export async function dryRun(config: PipelineConfig, file: string): Promise<DryRunReport> {
  const model = await openReturnModel(config.model.path, config);
  let source: Deno.FsFile;
  try {
    source = await Deno.open(file);
  } catch (error) {
    await model.close();
    throw error;
  }
  const { db, database } = await openReadOnly(config);
  try {
    const policy = config.consumer.duplicates;
    const limits = {
      maxBytes: config.consumer.maxMessageBytes,
      maxDepth: config.consumer.maxDepth,
    };
    const now = new Date();
    const state = {
      lines: 0,
      bytes: 0,
      blank: 0,
      duplicatesInFile: 0,
      deadLettered: 0,
      producerSkips: 0,
    };
    const reasons = new Map<string, { count: number; line: number; reason: string }>();
    const defaults = new Map<string, { count: number; value: string }>();
    /** event_id -> stored before the file (looked up once per id). */
    const stored = new Map<string, boolean>();
    /** event_id -> probability of the version that would be written. */
    const scores = new Map<string, number>();

    let chunk: KafkaRecord[] = [];
    const flush = async () => {
      if (!chunk.length) return;
      const plan = planBatch(checkRecords(chunk, config, now), undefined, policy);
      const values = new Map(chunk.map((r) => [r.offset, r.value!]));
      chunk = [];
      for (const letter of plan.deadLetters) {
        state.deadLettered++;
        const key = `${letter.reason.split(": ")[0]}${letter.field ? ` (${letter.field})` : ""}`;
        const seen = reasons.get(key);
        if (seen) seen.count++;
        else {reasons.set(key, {
            count: 1,
            line: Number(letter.record.offset),
            reason: letter.reason,
          });}
        if (producerWouldSkip(letter.record.value, limits, config.events.required)) {
          state.producerSkips++;
        }
      }
      state.duplicatesInFile += plan.repeats.length;
      for (const e of [...plan.events, ...plan.repeats]) {
        countDefaults(values.get(e.offset)!, config, defaults, limits);
      }
      const ids = plan.events.map((e) => e.id).filter((id) => !stored.has(id));
      const found = db ? await existingEventIds(db, ids) : new Set<string>();
      for (const id of ids) stored.set(id, found.has(id));
      // Which version of each event_id the database would end up with, and so what is scored.
      const written: { id: string; event: ValidEvent }[] = [];
      for (const e of plan.events) {
        const earlier = scores.has(e.id);
        if (earlier) state.duplicatesInFile++;
        if (policy === "skip" && (earlier || stored.get(e.id))) continue;
        written.push({ id: e.id, event: e.features });
      }
      const p = await model.predict(written.map((w) => w.event));
      for (const [i, w] of written.entries()) scores.set(w.id, p[i]);
      // A stored event_id is skipped but still counted as seen, so a repeat is a duplicate.
      for (const e of plan.events) if (!scores.has(e.id)) scores.set(e.id, NaN);
    };

    for await (const line of readLines(source, { maxLineBytes: limits.maxBytes })) {
      state.lines++;
      state.bytes += line.sourceBytes;
      if (line.bytes && isBlank(line.bytes)) {
        state.blank++;
        continue;
      }
      chunk.push({
        offset: BigInt(line.number),
        key: null,
        // A line too long to keep: a stand-in just as long, which is refused for its size.
        value: line.bytes ?? new Uint8Array(line.length),
        headers: {},
        timestamp: now.getTime(),
      });
      if (chunk.length >= CHUNK) await flush();
    }
    await flush();
    const probabilities = [...scores.values()].filter((p) => !Number.isNaN(p));
    const storedCount = [...stored.values()].filter(Boolean).length;
    return {
      file,
      ...state,
      duplicates: policy,
      fresh: stored.size - storedCount,
      alreadyStored: storedCount,
      database,
      reasons,
      defaults,
      modelVersion: model.version,
      scored: probabilities.length,
      histogram: histogram(probabilities),
      meanProbability: probabilities.reduce((a, b) => a + b, 0) / Math.max(1, probabilities.length),
    };
  } finally {
    source.close();
    await model.close();
    await db?.close();
  }
}

/** The database for reading stored event_ids, if there is one; never created or migrated. */
async function openReadOnly(
  config: PipelineConfig,
): Promise<{ db?: Database; database: string }> {
  let db: Database;
  try {
    db = await openDatabase(config, {
      create: false,
      migrate: false,
      retry: { retryForMs: 0 },
      connectTimeoutMs: 5000,
    });
  } catch (error) {
    if (errorCode(error) === "ER_BAD_DB_ERROR") {
      return { database: "does not exist yet: nothing is stored" };
    }
    return { database: `not reachable (${errorText(error)}): stored events not counted` };
  }
  try {
    await existingEventIds(db, ["-"]);
  } catch (error) {
    await db.close();
    if (errorNumber(error) === 1146) return { database: "has no table_events: nothing is stored" };
    throw error;
  }
  return { db, database: `${db.target.display}, read only` };
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

/** `deno task produce` sends only JSON objects with every required key. */
function producerWouldSkip(
  value: Uint8Array | null,
  limits: { maxBytes: number; maxDepth: number },
  required: readonly string[],
): boolean {
  if (!value) return true;
  const decoded = decodeJsonObject(value, limits);
  return !decoded.ok || missingRequired(decoded.value, required).length > 0;
}

/** Counts the declared fields a record lacks (absent or null): validation gave them defaults. */
function countDefaults(
  value: Uint8Array,
  config: PipelineConfig,
  defaults: Map<string, { count: number; value: string }>,
  limits: { maxBytes: number; maxDepth: number },
): void {
  const decoded = decodeJsonObject(value, limits);
  if (!decoded.ok) return;
  for (const [name, field] of Object.entries(config.events.fields)) {
    const raw = Object.hasOwn(decoded.value, name) ? decoded.value[name] : undefined;
    if (raw !== undefined && raw !== null) continue;
    const entry = defaults.get(name) ?? { count: 0, value: JSON.stringify(field.default) };
    entry.count++;
    defaults.set(name, entry);
  }
}
