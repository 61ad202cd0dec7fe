/**
 * `deno task rescore`: scores stored events again with a model (default: model.path) and
 * upserts table_predictions with its version. Events are read in event_id order, in batches;
 * each batch's predictions and the run's position are written in one transaction, so a run
 * killed at any point resumes after the last batch committed, with exact counts. The events
 * are rebuilt from their columns and extra_fields and validated as the consumer validated
 * them, then scored by the same predict(): the same model gives the consumer's probabilities.
 */
import { createHash } from "node:crypto";
import type { PipelineConfig } from "../config/mod.ts";
import {
  countStoredEvents,
  type Database,
  errorCode,
  findRescoreRun,
  finishRescoreRun,
  openDatabase,
  readStoredEvents,
  startRescoreRun,
  type StoredEvent,
  writeRescoredBatch,
} from "../db/mod.ts";
import { displayPath, ExitCode, UserError } from "../errors/mod.ts";
import type { ValidEvent } from "../events/mod.ts";
import { histogram, histogramLines, openReturnModel, type ReturnModel } from "../model/mod.ts";
import { rebuildEvent } from "./_rebuild.ts";

export { rebuildEvent } from "./_rebuild.ts";

export interface RescoreOptions {
  /** The model file (default: model.path); the mapping is pipeline.yaml's model section. */
  readonly modelPath?: string;
  /** Only events with event_time >= since. */
  readonly since?: Date;
  /** Only events with event_time < until. */
  readonly until?: Date;
  /** Read and score, write nothing; report how the scores would change. */
  readonly dryRun?: boolean;
  /** Events per batch and transaction (default 1000). */
  readonly batchSize?: number;
}

/** What the caller shows while the run goes. */
export interface RescoreIo {
  readonly info: (line: string) => void;
  readonly warn: (line: string) => void;
  /**
   * Told after each batch: events done and changed so far (an interrupted run's included),
   * of `total`; `start` is what was done when this process began.
   */
  readonly progress?: (
    state: { done: number; total: number; changed: number; start: number },
  ) => void;
}

/** How the scores would move (dry run). */
export interface ScoreShift {
  /** Stored probabilities of the events read (those that had one), 10 bins. */
  readonly before: number[];
  /** New probabilities, 10 bins. */
  readonly after: number[];
  readonly meanBefore: number;
  readonly meanAfter: number;
  readonly meanAbsoluteChange: number;
  readonly movedOver: { readonly "0.01": number; readonly "0.1": number };
  /** Stored model versions of the events read. */
  readonly versionsBefore: readonly (readonly [string, number])[];
  /** Events that had no prediction. */
  readonly withoutPrediction: number;
}

export interface RescoreResult {
  readonly modelVersion: string;
  readonly modelPath: string;
  readonly dryRun: boolean;
  /** Events in the time window when the run started. */
  readonly total: number;
  /** Events scored and (unless dry) written, resumed ones included. */
  readonly scored: number;
  /** Of those, how many got another probability than the one stored. */
  readonly changed: number;
  /** Events that no longer pass validation (pipeline.yaml changed since): left as they are. */
  readonly unscorable: number;
  /** Reasons of the unscorable events seen by this process. */
  readonly reasons: ReadonlyMap<string, number>;
  /** Set when an interrupted run was resumed. */
  readonly resumed?: { readonly after: string; readonly scored: number };
  readonly batches: number;
  readonly elapsedMs: number;
  readonly shift?: ScoreShift;
}

/** Rescores the stored events of pipeline.yaml's database; see the module comment. */
export async function rescore(
  config: PipelineConfig,
  options: RescoreOptions,
  io: RescoreIo,
): Promise<RescoreResult> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const batchSize = options.batchSize ?? 1000;
  const modelPath = options.modelPath ?? config.model.path;
  await using resources = new AsyncDisposableStack();
  const model = await openReturnModel(modelPath, config);
  resources.defer(() => model.close());
  for (const warning of model.warnings) io.warn(warning);
  const db = await open(config, dryRun);
  resources.defer(() => db.close());

  const range = { since: options.since, until: options.until };
  const total = await countStoredEvents(db, range);
  const runId = runIdOf(model, config, range);
  let after: string | undefined;
  let done = { scored: 0, changed: 0, unscorable: 0 };
  let resumed: RescoreResult["resumed"];
  if (!dryRun) {
    const run = await findRescoreRun(db, runId);
    if (run && !run.finishedAt && run.lastEventId !== null) {
      after = run.lastEventId;
      done = { scored: run.scored, changed: run.changed, unscorable: run.unscorable };
      resumed = { after, scored: run.scored };
      io.info(
        `Resuming the interrupted run of ${run.startedAt.toISOString()} after event_id ${after} ` +
          `(${run.scored} event(s) rescored before)`,
      );
    } else {
      await startRescoreRun(db, { runId, modelVersion: model.version, ...range });
    }
  }

  const start = done.scored + done.unscorable;
  const reasons = new Map<string, number>();
  const shift = dryRun ? new ShiftBuilder() : undefined;
  let batches = 0;
  const now = new Date();
  for (;;) {
    const rows = await readStoredEvents(db, { ...range, after, limit: batchSize });
    if (!rows.length) break;
    const scorable: { stored: StoredEvent; event: ValidEvent }[] = [];
    let unscorable = 0;
    for (const stored of rows) {
      const rebuilt = rebuildEvent(stored, config.events, now);
      if (rebuilt.ok) scorable.push({ stored, event: rebuilt.event });
      else {
        unscorable++;
        const reason = `${rebuilt.reason.split(": ")[0]}${
          rebuilt.field ? ` (${rebuilt.field})` : ""
        }`;
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    }
    const p = await model.predict(scorable.map((s) => s.event));
    let changed = 0;
    for (const [i, { stored }] of scorable.entries()) {
      if (stored.probability !== p[i]) changed++;
    }
    after = rows[rows.length - 1].eventId;
    if (shift) shift.add(scorable.map((s) => s.stored), p);
    else {
      await writeRescoredBatch(db, {
        runId,
        modelVersion: model.version,
        predictions: scorable.map(({ stored }, i) => ({
          eventId: stored.eventId,
          orderId: stored.orderId,
          customerId: stored.customerId,
          probability: p[i],
        })),
        lastEventId: after,
        changed,
        unscorable,
      });
    }
    batches++;
    done = {
      scored: done.scored + scorable.length,
      changed: done.changed + changed,
      unscorable: done.unscorable + unscorable,
    };
    io.progress?.({
      done: done.scored + done.unscorable,
      total,
      changed: done.changed,
      start,
    });
    if (rows.length < batchSize) break;
  }
  if (!dryRun) await finishRescoreRun(db, runId);
  return {
    modelVersion: model.version,
    modelPath,
    dryRun,
    total,
    ...done,
    reasons,
    resumed,
    batches,
    elapsedMs: performance.now() - started,
    shift: shift?.build(),
  };
}

async function open(config: PipelineConfig, dryRun: boolean): Promise<Database> {
  try {
    // A dry run changes nothing, not even the schema.
    return await openDatabase(config, { create: false, migrate: !dryRun });
  } catch (error) {
    if (errorCode(error) === "ER_BAD_DB_ERROR") {
      throw new UserError(`Cannot rescore: the database of database.url does not exist`, {
        hint: "nothing was ever stored there: check database.url (or $DATABASE_URL)",
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * A run is one model version with one mapping over one time window: the same command resumes
 * it until it finishes; any other starts a run of its own.
 */
function runIdOf(
  model: ReturnModel,
  config: PipelineConfig,
  range: { since?: Date; until?: Date },
): string {
  const key = JSON.stringify([
    model.version,
    config.model.inputs,
    config.model.output,
    range.since?.toISOString() ?? null,
    range.until?.toISOString() ?? null,
  ]);
  return createHash("sha256").update(key).digest("hex").slice(0, 32);
}

class ShiftBuilder {
  readonly #before: number[] = [];
  readonly #after: number[] = [];
  #sumBefore = 0;
  #sumAfter = 0;
  #sumAbs = 0;
  #paired = 0;
  #over = { "0.01": 0, "0.1": 0 };
  #without = 0;
  readonly #versions = new Map<string, number>();

  add(stored: readonly StoredEvent[], p: Float64Array): void {
    for (const [i, s] of stored.entries()) {
      this.#after.push(p[i]);
      this.#sumAfter += p[i];
      if (s.probability === null) {
        this.#without++;
        continue;
      }
      this.#before.push(s.probability);
      this.#sumBefore += s.probability;
      const change = Math.abs(p[i] - s.probability);
      this.#sumAbs += change;
      this.#paired++;
      if (change > 0.01) this.#over["0.01"]++;
      if (change > 0.1) this.#over["0.1"]++;
      const v = s.modelVersion ?? "";
      this.#versions.set(v, (this.#versions.get(v) ?? 0) + 1);
    }
  }

  build(): ScoreShift {
    return {
      before: histogram(this.#before),
      after: histogram(this.#after),
      meanBefore: this.#sumBefore / Math.max(1, this.#before.length),
      meanAfter: this.#sumAfter / Math.max(1, this.#after.length),
      meanAbsoluteChange: this.#sumAbs / Math.max(1, this.#paired),
      movedOver: this.#over,
      versionsBefore: [...this.#versions.entries()].sort((a, b) => b[1] - a[1]),
      withoutPrediction: this.#without,
    };
  }
}

/** The report's lines: exact counts, and with --dry-run how the distribution would move. */
export function rescoreLines(result: RescoreResult): string[] {
  const n = (x: number) => x.toLocaleString("en-US");
  const seconds = (result.elapsedMs / 1000).toFixed(1);
  const lines: string[] = [];
  const model = `${result.modelVersion} (${displayPath(result.modelPath)})`;
  if (result.dryRun) {
    lines.push(
      `dry run: ${n(result.scored)} of ${
        n(result.total)
      } event(s) would be rescored with ${model}: ` +
        `${n(result.changed)} would change, ${
          n(result.unscorable)
        } unscorable; nothing was written`,
    );
  } else {
    lines.push(
      `rescored ${n(result.scored)} of ${n(result.total)} event(s) with ${model}: ` +
        `${n(result.changed)} changed, ${n(result.scored - result.changed)} unchanged, ` +
        `${n(result.unscorable)} unscorable; ${result.batches} batch(es) in ${seconds} s`,
    );
  }
  if (result.resumed) {
    lines.push(
      `  resumed after event_id ${result.resumed.after}: ${
        n(result.resumed.scored)
      } event(s) were rescored before the interruption`,
    );
  }
  for (const [reason, count] of result.reasons) {
    lines.push(`  unscorable: ${reason}: ${n(count)} (their stored prediction is kept)`);
  }
  const shift = result.shift;
  if (shift) {
    const f = (x: number) => x.toFixed(4);
    lines.push(
      `stored versions: ${
        shift.versionsBefore.map(([v, c]) => `${v} (${n(c)})`).join(", ") || "none"
      }` +
        (shift.withoutPrediction ? `; ${n(shift.withoutPrediction)} event(s) without one` : ""),
    );
    lines.push(
      `mean probability ${f(shift.meanBefore)} -> ${f(shift.meanAfter)}; mean |change| ` +
        `${f(shift.meanAbsoluteChange)}; ${n(shift.movedOver["0.01"])} event(s) move by more ` +
        `than 0.01, ${n(shift.movedOver["0.1"])} by more than 0.1`,
    );
    lines.push("distribution of the probabilities (# stored now, = after rescoring):");
    lines.push(
      ...histogramLines([
        { label: "now", counts: shift.before },
        { label: "after", counts: shift.after },
      ], { width: 30 }),
    );
  }
  return lines;
}

/** Exit code of a run: 1 when some events could not be scored (a partial result). */
export function rescoreExitCode(result: RescoreResult): number {
  return result.unscorable ? ExitCode.failure : ExitCode.ok;
}
