/** The database as the applier's store port, for one partition of one consumer group. */
import { type Database, ingestBatch, storedOffsets } from "../db/mod.ts";
import type { StorePort } from "./_applier.ts";
import { trustedOffset } from "./_planner.ts";

/**
 * Reads the partition's stored offset for planning and writes batches fenced by it: a write
 * goes through only if the stored row still says what the plan was made from, so that a
 * consumer that lost the partition mid-batch writes nothing over the new owner's work.
 */
export function partitionStore(db: Database, options: {
  readonly topic: string;
  readonly partition: number;
  readonly group: string;
  readonly duplicates: "skip" | "update";
  /** A stored offset found beyond the partition's end at start: not to be trusted. */
  readonly stale?: bigint;
}): StorePort {
  const { topic, partition, group, duplicates } = options;
  let planned: bigint | null = null;
  return {
    storedOffset: async () => {
      const next = (await storedOffsets(db, group, topic)).get(partition);
      planned = next ?? null;
      return trustedOffset(next, options.stale);
    },
    write: (w) =>
      ingestBatch(db, {
        events: w.events.map((e) => e.event),
        extraFields: w.events.map((e) => e.extraFields),
        probabilities: w.probabilities,
        modelVersion: w.modelVersion,
        offsets: [{ topic, partition, nextOffset: w.nextOffset, expected: planned }],
        sources: w.events.map((e) => ({ topic, partition, offset: e.offset })),
        consumerGroup: group,
        duplicates,
      }),
  };
}
