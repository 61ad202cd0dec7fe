/**
 * The consumer's planner and applier in-process, over ports written for the test: no
 * broker, no database. The end-to-end behaviour is covered by consumer_test.ts.
 */
import assert from "assert";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../lib/config/mod.ts";
import {
  applyBatch,
  type BatchWrite,
  Behind,
  checkRecords,
  planBatch,
  type Ports,
  trustedOffset,
} from "../lib/consumer/mod.ts";
import { type DeadLetter, type KafkaRecord, Revoked } from "../lib/kafka/mod.ts";
import { guideEvent } from "./_fixtures.ts";

const configPath = fileURLToPath(new URL("../pipeline.yaml", import.meta.url));
const config = parseConfig(await Deno.readTextFile(configPath), {
  file: configPath,
  env: () => undefined,
});
const now = new Date("2026-03-01T12:00:00.000Z");
const encoder = new TextEncoder();

/** Records at consecutive offsets from `from`; a string value is sent as is (bad JSON). */
function records(from: bigint, values: readonly (Record<string, unknown> | string)[]) {
  return values.map((value, i): KafkaRecord => ({
    offset: from + BigInt(i),
    key: null,
    value: encoder.encode(typeof value === "string" ? value : JSON.stringify(value)),
    headers: {},
    timestamp: now.getTime(),
  }));
}

const event = (id: string, extra: Record<string, unknown> = {}) => ({
  ...guideEvent,
  event_id: id,
  ...extra,
});

Deno.test("planner: records below the stored offset are already applied", () => {
  const checked = checkRecords(records(10n, [event("a"), event("b"), event("c")]), config, now);
  const plan = planBatch(checked, 12n, "skip");
  assert.deepEqual(plan.alreadyApplied.map((r) => r.offset), [10n, 11n]);
  assert.deepEqual(plan.events.map((e) => [e.id, e.offset]), [["c", 12n]]);
  assert.equal(plan.nextOffset, 13n);
  const none = planBatch(checked, 13n, "skip");
  assert.equal(none.alreadyApplied.length, 3);
  assert.equal(none.events.length + none.deadLetters.length, 0);
  const fresh = planBatch(checked, undefined, "skip");
  assert.equal(fresh.alreadyApplied.length, 0);
  assert.equal(fresh.events.length, 3);
});

Deno.test("planner: a stale stored offset is not trusted, a current one is", () => {
  const checked = checkRecords(records(0n, [event("a"), event("b")]), config, now);
  // 500 was stored for a topic that has been re-created: its records start at 0 again.
  assert.equal(trustedOffset(500n, 500n), undefined);
  assert.equal(planBatch(checked, trustedOffset(500n, 500n), "skip").events.length, 2);
  // Once a batch of the new topic overwrote it, the stored offset is trusted again.
  assert.equal(trustedOffset(1n, 500n), 1n);
  assert.equal(planBatch(checked, trustedOffset(1n, 500n), "skip").events.length, 1);
  assert.equal(trustedOffset(undefined, 500n), undefined);
});

Deno.test("planner: one event per event_id in a batch, first wins (skip) or last (update)", () => {
  const values = [
    event("a", { order_n_items: 1 }),
    event("b"),
    event("a", { order_n_items: 2 }),
    event("a", { order_n_items: 3 }),
  ];
  const checked = checkRecords(records(0n, values), config, now);
  const skip = planBatch(checked, undefined, "skip");
  assert.deepEqual(skip.events.map((e) => [e.id, e.event.order_n_items]), [["a", 1], ["b", 3]]);
  assert.deepEqual(skip.repeats.map((e) => e.offset), [2n, 3n]);
  const update = planBatch(checked, undefined, "update");
  assert.deepEqual(update.events.map((e) => [e.id, e.event.order_n_items]), [["a", 3], ["b", 3]]);
  assert.deepEqual(update.repeats.map((e) => e.offset), [0n, 2n]);
});

Deno.test("planner: rejected records become dead letters with their reason and field", () => {
  const checked = checkRecords(
    records(0n, [event("a"), "{not json", event("b", { order_n_items: "three" })]),
    config,
    now,
  );
  const plan = planBatch(checked, undefined, "skip");
  assert.deepEqual(plan.events.map((e) => e.id), ["a"]);
  assert.deepEqual(plan.deadLetters.map((l) => l.record.offset), [1n, 2n]);
  assert.match(plan.deadLetters[0].reason, /JSON/i);
  assert.equal(plan.deadLetters[1].field, "order_n_items");
  assert.equal(plan.nextOffset, 3n);
});

/** Ports that remember what happened, in order; `failWrites` first writes fail. */
function recordingPorts(options: { failWrites?: number; stored?: bigint; revokeAt?: number }) {
  const calls: string[] = [];
  const letters: DeadLetter[] = [];
  const writes: BatchWrite[] = [];
  let failures = options.failWrites ?? 0;
  let beats = 0;
  const ports: Ports = {
    deadLetters: {
      send: (sent) => {
        calls.push(`dlq:${sent.map((l) => l.record.offset).join(",")}`);
        letters.push(...sent);
        return Promise.resolve();
      },
    },
    scorer: {
      version: "test",
      predict: (events) => {
        calls.push(`model:${events.length}`);
        return Promise.resolve(new Float64Array(events.length).fill(0.25));
      },
    },
    store: {
      storedOffset: () => Promise.resolve(options.stored),
      write: (batch) => {
        calls.push(`write:${batch.nextOffset}`);
        if (failures-- > 0) return Promise.reject(new Error("connection lost"));
        writes.push(batch);
        return Promise.resolve({ inserted: batch.events.map((e) => e.id) });
      },
    },
    keepAlive: () => {
      beats++;
      if (options.revokeAt !== undefined && beats >= options.revokeAt) {
        return Promise.reject(new Revoked("the partition is no longer assigned"));
      }
      return Promise.resolve();
    },
    onRetry: (_error, attempt) => calls.push(`retry:${attempt}`),
  };
  return { ports, calls, letters, writes };
}

Deno.test("applier: dead letters are acknowledged before the offset that skips them", async () => {
  const checked = checkRecords(records(0n, [event("a"), "bad", event("b")]), config, now);
  const { ports, calls, writes } = recordingPorts({ failWrites: 1 });
  const applied = await applyBatch(checked, ports, { duplicates: "skip" });
  // The first write failed after the dead letter was sent: the retry does not send it again.
  assert.deepEqual(calls, ["dlq:1", "model:2", "write:3", "retry:1", "model:2", "write:3"]);
  assert.equal(writes.length, 1);
  assert.equal(writes[0].nextOffset, 3n);
  assert.deepEqual(applied.inserted, ["a", "b"]);
});

Deno.test("applier: an abandoned batch commits nothing", async () => {
  const checked = checkRecords(records(0n, [event("a"), event("b")]), config, now);
  // Revoked at the heartbeat after the model ran: before anything was written.
  const { ports, calls, writes } = recordingPorts({ revokeAt: 2 });
  await assert.rejects(applyBatch(checked, ports, { duplicates: "skip" }), Revoked);
  assert.equal(writes.length, 0);
  assert.ok(!calls.some((c) => c.startsWith("write")), calls.join(" "));
  // Revoked while waiting to retry a failed write: the retry never happens.
  const retried = recordingPorts({ failWrites: 5, revokeAt: 3 });
  await assert.rejects(applyBatch(checked, retried.ports, { duplicates: "skip" }), Revoked);
  assert.equal(retried.writes.length, 0);
});

Deno.test("applier: a batch applied before writes nothing and moves no offset", async () => {
  const checked = checkRecords(records(0n, [event("a"), event("b")]), config, now);
  const { ports, calls } = recordingPorts({ stored: 2n });
  const applied = await applyBatch(checked, ports, { duplicates: "skip" });
  assert.deepEqual(calls, []);
  assert.equal(applied.plan.alreadyApplied.length, 2);
});

Deno.test("applier: a database behind the batch writes nothing and says where it stands", async () => {
  const checked = checkRecords(records(10n, [event("a"), event("b")]), config, now);
  const { ports, calls } = recordingPorts({ stored: 4n });
  await assert.rejects(applyBatch(checked, ports, { duplicates: "skip" }), (error) => {
    assert.ok(error instanceof Behind);
    assert.deepEqual([error.stored, error.first], [4n, 10n]);
    return true;
  });
  assert.deepEqual(calls, [], "no dead letter, no model run, no write");
  // Once the records below the batch were looked for and are gone, the batch is stored.
  const accepted = await applyBatch(checked, ports, { duplicates: "skip", acceptBehind: 4n });
  assert.equal(accepted.plan.nextOffset, 12n);
  assert.deepEqual(calls, ["model:2", "write:12"]);
  // A batch split in halves (here: a write refused while it holds both) is not mistaken for
  // a gap: the second half starts where the first one left the stored offset.
  const poison = recordingPorts({});
  let stored: bigint | undefined = 10n;
  poison.ports.store.storedOffset = () => Promise.resolve(stored);
  poison.ports.store.write = (batch) => {
    if (batch.events.length > 1) {
      return Promise.reject(new Error("bad value"));
    }
    stored = batch.nextOffset;
    return Promise.resolve({ inserted: batch.events.map((e) => e.id) });
  };
  const split = await applyBatch(
    checkRecords(records(10n, [event("a"), event("b")]), config, now),
    poison.ports,
    { duplicates: "skip", classify: () => "permanent" },
  );
  assert.deepEqual(split.inserted, ["a", "b"]);
});

Deno.test("applier: a poison record is isolated by bisection, everything else is stored", async () => {
  const values = Array.from({ length: 1000 }, (_, i) => event(i === 500 ? "poison" : `e${i}`));
  const checked = checkRecords(records(0n, values), config, now);
  const { ports, letters, writes } = recordingPorts({});
  const stored: bigint[] = [];
  ports.store.storedOffset = () => Promise.resolve(stored.at(-1));
  const write = ports.store.write;
  ports.store.write = (batch) => {
    if (batch.events.some((e) => e.id === "poison")) {
      return Promise.reject(new Error("CONSTRAINT `chk` failed for `table_events`"));
    }
    stored.push(batch.nextOffset);
    return write(batch);
  };
  const applied = await applyBatch(checked, ports, {
    duplicates: "skip",
    classify: (error) => /CONSTRAINT/.test(String(error)) ? "permanent" : "transient",
  });
  const written = writes.flatMap((w) => w.events.map((e) => e.id));
  assert.equal(written.length, 999);
  assert.ok(!written.includes("poison"));
  assert.equal(new Set(written).size, 999);
  assert.deepEqual(letters.map((l) => l.record.offset), [500n]);
  assert.match(letters[0].reason, /^database rejected the event: .*CONSTRAINT `chk` failed/);
  assert.equal(stored.at(-1), 1000n, "the stored offset moves past the poison record");
  assert.equal(applied.plan.nextOffset, 1000n);
  assert.equal(applied.inserted.length, 999);
  assert.equal(applied.plan.deadLetters.length, 1);
  // About log2(1000) splits, not one transaction per record.
  assert.ok(writes.length < 40, `${writes.length} writes`);
});

Deno.test("applier: transient failures wait and retry, they are never dead-lettered", async () => {
  const checked = checkRecords(records(0n, [event("a"), event("b")]), config, now);
  const { ports, letters, writes } = recordingPorts({ failWrites: 3 });
  const applied = await applyBatch(checked, ports, {
    duplicates: "skip",
    classify: () => "transient",
  });
  assert.equal(letters.length, 0);
  assert.equal(writes.length, 1);
  assert.deepEqual(applied.inserted, ["a", "b"]);
});
