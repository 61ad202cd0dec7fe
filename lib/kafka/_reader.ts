/**
 * Reading what a topic holds now, from its first record to its last, once: in a consumer
 * group of its own (kafkajs reads only in groups) that is deleted afterwards.
 */
import type { TopicAdmin } from "./_admin.ts";
import type { KafkaCluster } from "./_client.ts";
import { type Batch, runGroupConsumer } from "./_consumer.ts";

/** Options of readTopic(). */
export interface ReadOptions {
  /** Gives up when the records are not all read by then; default 60 s. */
  readonly timeoutMs?: number;
  /** Compressed bytes fetched per partition; default 1 MiB. */
  readonly maxBytesPerPartition?: number;
}

/**
 * Hands every record below each partition's high watermark (as it is when called) to
 * `handle`, in offset order per partition; returns how many there were.
 */
export async function readTopic(
  cluster: KafkaCluster,
  admin: TopicAdmin,
  topic: string,
  handle: (batch: Batch) => Promise<void> | void,
  options: ReadOptions = {},
): Promise<number> {
  const marks = await admin.watermarks(topic);
  const ends = new Map(marks.filter((m) => m.high > m.low).map((m) => [m.partition, m.high]));
  if (!ends.size) return 0;
  const total = marks.reduce((n, m) => n + Number(m.high - m.low), 0);
  const group = `${topic}.reader-${Date.now().toString(36)}-${
    crypto.getRandomValues(new Uint32Array(1))[0].toString(36)
  }`;
  const done = Promise.withResolvers<void>();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(
    () => done.reject(new Error(`Cannot read topic "${topic}": not done after ${timeoutMs} ms`)),
    timeoutMs,
  );
  let read = 0;
  const member = await runGroupConsumer(cluster, {
    groupId: group,
    topic,
    fromBeginning: true,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
    partitionsConsumedConcurrently: 1,
    sessionTimeoutMs: 10_000,
    onAssigned: () => {},
    onCrash: (error, restarting) => {
      if (!restarting) done.reject(error);
    },
    handle: async (batch) => {
      const end = ends.get(batch.partition);
      if (end === undefined) return;
      const records = batch.records.filter((r) => r.offset < end);
      if (records.length) {
        await handle({ ...batch, records });
        read += records.length;
      }
      const last = batch.records[batch.records.length - 1];
      if (last.offset + 1n >= end) ends.delete(batch.partition);
      if (!ends.size) done.resolve();
    },
  });
  try {
    await done.promise;
  } finally {
    clearTimeout(timer);
    await member.stop();
    await admin.deleteGroup(group).catch(() => {});
  }
  // Records removed by retention while reading are not an error: fewer than the watermarks said.
  return Math.min(read, total);
}
