/**
 * The consumed offsets stored with the rows: reading them, forgetting them, and the fence a
 * batch's transaction takes on them before it writes anything.
 */
import { and, eq } from "drizzle-orm";
import { type Database, handleOf, type Tx } from "./_handle.ts";
import { pipelineOffsets } from "./_schema.ts";

/** Where a batch moves one partition, and where it was planned from. */
export interface BatchOffset {
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: bigint;
  /**
   * The stored offset the batch was planned against (null: none was stored). When given, the
   * batch is written only if the stored row still says so (or has gone), read and locked in
   * its own transaction; otherwise nothing is written and OffsetMoved is thrown. This fences
   * off a consumer that lost the partition but still finishes a batch.
   */
  readonly expected?: bigint | null;
}

/** The stored offset moved since the batch was planned: another consumer applied it. */
export class OffsetMoved extends Error {
  constructor(
    readonly partition: number,
    readonly expected: bigint | null,
    readonly found: bigint,
  ) {
    super(
      `the stored offset of partition ${partition} is ${found}, not ${expected ?? "absent"} ` +
        "as when the batch was planned: another consumer applied it",
    );
    this.name = "OffsetMoved";
  }
}

/**
 * Reads and locks the stored offset row of each fenced partition; throws OffsetMoved when one
 * no longer says what the batch was planned from. Returns the fenced entries whose row is
 * absent (to be inserted, not upserted).
 */
export async function lockOffsets(
  tx: Tx,
  group: string,
  offsets: readonly BatchOffset[],
): Promise<Set<BatchOffset>> {
  const absent = new Set<BatchOffset>();
  for (const o of offsets) {
    if (o.expected === undefined) continue;
    const [row] = await tx.select({ next: pipelineOffsets.next_offset }).from(pipelineOffsets)
      .where(and(
        eq(pipelineOffsets.consumer_group, group),
        eq(pipelineOffsets.topic, o.topic),
        eq(pipelineOffsets.partition_id, o.partition),
      )).for("update");
    if (!row) {
      absent.add(o);
      continue;
    }
    const found = BigInt(row.next);
    if (found !== o.expected) throw new OffsetMoved(o.partition, o.expected, found);
  }
  return absent;
}

/** The stored next offset per partition of `topic` for `consumerGroup`. */
export async function storedOffsets(
  db: Database,
  consumerGroup: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const rows = await handleOf(db).drizzle.select({
    partition: pipelineOffsets.partition_id,
    next: pipelineOffsets.next_offset,
  }).from(pipelineOffsets).where(
    and(eq(pipelineOffsets.consumer_group, consumerGroup), eq(pipelineOffsets.topic, topic)),
  );
  return new Map(rows.map((row) => [row.partition, BigInt(row.next)]));
}

/**
 * Forgets the offsets stored for `topic` by every consumer group, as Kafka forgets its
 * committed offsets when a topic is deleted; returns how many partitions were forgotten.
 */
export async function forgetStoredOffsets(db: Database, topic: string): Promise<number> {
  const [result] = await handleOf(db).drizzle.delete(pipelineOffsets).where(
    eq(pipelineOffsets.topic, topic),
  );
  return result.affectedRows;
}
