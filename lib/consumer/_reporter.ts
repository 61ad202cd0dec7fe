/** Counting applied batches and the guide's per-event, summary and final lines. */
import type { Applied } from "./_applier.ts";

/** Counters of one run. */
export interface ConsumeStats {
  ingested: number;
  duplicates: number;
  deadLettered: number;
  /** Redelivered messages whose effects were already in the database. */
  alreadyApplied: number;
  /** Every message handled, whatever its outcome. */
  messages: number;
  elapsedMs: number;
}

export function emptyStats(): ConsumeStats {
  return {
    ingested: 0,
    duplicates: 0,
    deadLettered: 0,
    alreadyApplied: 0,
    messages: 0,
    elapsedMs: 0,
  };
}

/** Adds an applied batch of `messages` records to the counters. */
export function count(stats: ConsumeStats, applied: Applied, messages: number): void {
  const { plan, inserted } = applied;
  stats.ingested += inserted.length;
  stats.duplicates += plan.events.length - inserted.length + plan.repeats.length;
  stats.deadLettered += plan.deadLetters.length;
  stats.alreadyApplied += plan.alreadyApplied.length;
  stats.messages += messages;
}

/** The [OK] / [SKIP] / [DLQ] lines of an applied batch, in the guide's words. */
export function batchLines(
  partition: number,
  applied: Applied,
  duplicates: "skip" | "update",
): string[] {
  const { plan, probabilities } = applied;
  const inserted = new Set(applied.inserted);
  const lines: string[] = [];
  const skipped = plan.alreadyApplied;
  if (skipped.length) {
    lines.push(
      `[SKIP] partition=${partition} offsets=${skipped[0].offset}..` +
        `${skipped[skipped.length - 1].offset} already applied`,
    );
  }
  for (const [i, e] of plan.events.entries()) {
    const proba = probabilities[i].toFixed(3);
    if (inserted.has(e.id)) lines.push(`[OK] event_id=${e.id} ingested | return_proba=${proba}`);
    else if (duplicates === "update") {
      lines.push(`[OK] event_id=${e.id} updated (duplicate) | return_proba=${proba}`);
    } else lines.push(`[SKIP] event_id=${e.id} duplicate`);
  }
  for (const e of plan.repeats) lines.push(`[SKIP] event_id=${e.id} duplicate (within batch)`);
  for (const l of plan.deadLetters) {
    lines.push(
      `[DLQ] offset=${l.record.offset} partition=${partition}` +
        `${l.field ? ` field=${l.field}` : ""} reason=${l.reason}`,
    );
  }
  return lines;
}

/** `[SUMMARY] ingested=... lag=...` (or `[DONE]` at the end). */
export function summaryLine(
  stats: ConsumeStats,
  rate: number,
  lag: number | undefined,
  tag = "[SUMMARY]",
): string {
  const s = stats;
  return `${tag} ingested=${s.ingested} duplicates=${s.duplicates} dead_lettered=${s.deadLettered}` +
    ` already_applied=${s.alreadyApplied} rate=${rate.toFixed(1)} events/s lag=${lag ?? "?"}`;
}
