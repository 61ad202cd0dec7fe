import assert from "assert";
import {
  type ConsumerEvent,
  createLogger,
  eventLine,
  eventRecord,
  formatJson,
  formatText,
} from "../lib/log/mod.ts";

const time = new Date("2026-03-01T12:00:00.123Z");

Deno.test("eventLine() writes the guide's [OK], [SKIP] and [DLQ] lines exactly", () => {
  const cases: [ConsumerEvent, string][] = [
    [{ kind: "started" }, "[OK] Consumer started. Waiting for messages..."],
    [
      { kind: "ingested", eventId: "9f6e22b4-1", returnProba: 0.43649 },
      "[OK] event_id=9f6e22b4-1 ingested | return_proba=0.436",
    ],
    [
      { kind: "updated", eventId: "e2", returnProba: 0.2006 },
      "[OK] event_id=e2 updated (duplicate) | return_proba=0.201",
    ],
    [{ kind: "duplicate", eventId: "9739093a-2" }, "[SKIP] event_id=9739093a-2 duplicate"],
    [
      { kind: "duplicate_in_batch", eventId: "9739093a-2" },
      "[SKIP] event_id=9739093a-2 duplicate (within batch)",
    ],
    [
      { kind: "already_applied", partition: 1, fromOffset: "120", toOffset: "179" },
      "[SKIP] partition=1 offsets=120..179 already applied",
    ],
    [
      {
        kind: "dead_letter",
        partition: 1,
        offset: "26",
        field: "order_n_items",
        reason: 'wrong type: expected a JSON integer, got the string "3"',
      },
      "[DLQ] offset=26 partition=1 field=order_n_items reason=wrong type: expected a JSON " +
      'integer, got the string "3"',
    ],
    [
      { kind: "dead_letter", partition: 0, offset: "7", reason: "invalid JSON: Unexpected end" },
      "[DLQ] offset=7 partition=0 reason=invalid JSON: Unexpected end",
    ],
    [
      {
        kind: "summary",
        ingested: 10,
        duplicates: 2,
        deadLettered: 1,
        alreadyApplied: 0,
        rate: 1234.56,
        lag: 5,
      },
      "[SUMMARY] ingested=10 duplicates=2 dead_lettered=1 already_applied=0 " +
      "rate=1234.6 events/s lag=5",
    ],
    [
      {
        kind: "summary",
        final: true,
        ingested: 10,
        duplicates: 2,
        deadLettered: 1,
        alreadyApplied: 3,
        rate: 0,
        lag: undefined,
      },
      "[DONE] ingested=10 duplicates=2 dead_lettered=1 already_applied=3 rate=0.0 events/s lag=?",
    ],
  ];
  for (const [event, line] of cases) assert.equal(eventLine(event), line);
});

Deno.test("formatText() keeps today's plain diagnostics", () => {
  assert.equal(
    formatText({ time, level: "info", msg: 'Joined group "g" on "t": partition(s) 0,1' }),
    'Joined group "g" on "t": partition(s) 0,1',
  );
  assert.equal(
    formatText({ time, level: "warn", msg: "Cannot measure the lag: timeout" }),
    "warning: Cannot measure the lag: timeout",
  );
  assert.equal(formatText({ time, level: "error", msg: "boom" }), "error: boom");
  assert.equal(
    formatText({
      time,
      level: "warn",
      msg: "Cannot commit offset",
      fields: {
        partition: 2,
        offset: 17n,
        error: new Error("lost", { cause: new Error("ECONNRESET") }),
        topic: "orders",
        note: "two words",
        empty: "",
        skipped: undefined,
      },
    }),
    'warning: Cannot commit offset partition=2 offset=17 error="lost: ECONNRESET" topic=orders ' +
      'note="two words" empty=""',
  );
});

Deno.test("formatJson() writes one line: time, level, msg, then the fields", () => {
  const line = formatJson({
    time,
    level: "warn",
    msg: "two\nlines",
    fields: { partition: 2, offset: "17", ok: true },
  });
  assert.ok(!line.includes("\n"));
  assert.equal(
    line,
    '{"time":"2026-03-01T12:00:00.123Z","level":"warn","msg":"two\\nlines",' +
      '"partition":2,"offset":"17","ok":true}',
  );
});

Deno.test("formatJson() writes what JSON cannot hold as text and never throws", () => {
  const cyclic: Record<string, unknown> = { name: "a" };
  cyclic.self = cyclic;
  const shared = { n: 1 };
  const error = Object.assign(new Error("refused", { cause: new Error("port 3306") }), {
    code: "ECONNREFUSED",
  });
  const record = JSON.parse(formatJson({
    time,
    level: "error",
    msg: "m",
    fields: {
      big: 2n ** 64n,
      nan: NaN,
      inf: -Infinity,
      error,
      cyclic,
      twice: [shared, shared],
      map: new Map([["k", 1]]),
      set: new Set([1, 2]),
      when: new Date(0),
      msg: "a field named like a record key",
      gone: undefined,
    },
  }));
  assert.deepEqual(record, {
    time: "2026-03-01T12:00:00.123Z",
    level: "error",
    msg: "m",
    big: "18446744073709551616",
    nan: "NaN",
    inf: "-Infinity",
    error: { name: "Error", message: "refused: port 3306", code: "ECONNREFUSED" },
    cyclic: { name: "a", self: "[Circular]" },
    twice: [{ n: 1 }, { n: 1 }],
    map: { k: 1 },
    set: [1, 2],
    when: "1970-01-01T00:00:00.000Z",
    field_msg: "a field named like a record key",
  });
  const hostile = {
    toJSON() {
      throw new Error("no");
    },
  };
  assert.deepEqual(JSON.parse(formatJson({ time, level: "info", msg: "x", fields: { hostile } })), {
    time: "2026-03-01T12:00:00.123Z",
    level: "info",
    msg: "x",
    log_error: "fields not serializable: no",
  });
  assert.equal(
    JSON.parse(formatJson({ time: new Date(NaN), level: "info", msg: "x" })).time,
    "Invalid Date",
  );
});

Deno.test("eventRecord() keeps the text line as msg and the values as fields", () => {
  assert.deepEqual(
    eventRecord({ kind: "ingested", eventId: "e1", returnProba: 0.4321 }, time),
    {
      time,
      level: "info",
      msg: "[OK] event_id=e1 ingested | return_proba=0.432",
      fields: { event: "ingested", event_id: "e1", return_proba: 0.4321 },
    },
  );
  const letter = eventRecord(
    { kind: "dead_letter", partition: 3, offset: "9", field: "x", reason: "wrong type: y" },
    time,
  );
  assert.equal(letter.level, "warn");
  assert.deepEqual(letter.fields, {
    event: "dead_letter",
    partition: 3,
    offset: "9",
    field: "x",
    reason: "wrong type: y",
  });
});

function capture(format: "text" | "json", level?: "debug" | "info" | "warn" | "error") {
  const writes: { stream: string; text: string }[] = [];
  const logger = createLogger({
    format,
    level,
    write: (stream, text) => writes.push({ stream, text }),
    now: () => time,
  });
  return { logger, writes };
}

Deno.test("text logger: events on stdout in one write, diagnostics on stderr", () => {
  const { logger, writes } = capture("text");
  logger.events([
    { kind: "ingested", eventId: "a", returnProba: 0.5 },
    { kind: "duplicate", eventId: "b" },
  ]);
  logger.events([]);
  logger.info("Created dead-letter topic", { partitions: 3 });
  logger.warn("Cannot measure the lag: timeout");
  logger.debug("not shown at info");
  assert.deepEqual(writes, [
    {
      stream: "stdout",
      text: "[OK] event_id=a ingested | return_proba=0.500\n[SKIP] event_id=b duplicate\n",
    },
    { stream: "stderr", text: "Created dead-letter topic partitions=3\n" },
    { stream: "stderr", text: "warning: Cannot measure the lag: timeout\n" },
  ]);
});

Deno.test("json logger: one parseable line per record and per event", () => {
  const { logger, writes } = capture("json", "debug");
  logger.debug("fetching", { partition: 1 });
  logger.error("Cannot apply batch", { attempt: 2 });
  logger.events([
    { kind: "started" },
    { kind: "dead_letter", partition: 0, offset: "5", reason: "empty message" },
  ]);
  assert.deepEqual(writes.map((w) => w.stream), ["stderr", "stderr", "stdout"]);
  const lines = writes.flatMap((w) => w.text.slice(0, -1).split("\n")).map((l) => JSON.parse(l));
  assert.deepEqual(lines, [
    { time: time.toISOString(), level: "debug", msg: "fetching", partition: 1 },
    { time: time.toISOString(), level: "error", msg: "Cannot apply batch", attempt: 2 },
    {
      time: time.toISOString(),
      level: "info",
      msg: "[OK] Consumer started. Waiting for messages...",
      event: "started",
    },
    {
      time: time.toISOString(),
      level: "warn",
      msg: "[DLQ] offset=5 partition=0 reason=empty message",
      event: "dead_letter",
      partition: 0,
      offset: "5",
      reason: "empty message",
    },
  ]);
  for (const w of writes) assert.ok(w.text.endsWith("\n"));
});

Deno.test("level filtering drops lower records; events always print", () => {
  const { logger, writes } = capture("text", "error");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  logger.events([{ kind: "duplicate", eventId: "x" }]);
  assert.deepEqual(writes.map((w) => w.text), ["error: e\n", "[SKIP] event_id=x duplicate\n"]);
});

Deno.test("createLogger() refuses an unknown format or level, naming the choices", () => {
  assert.throws(
    () => createLogger({ format: "xml" as "text" }),
    /Log format must be "text" or "json", got "xml"/,
  );
  assert.throws(
    () => createLogger({ format: "text", level: "loud" as "info" }),
    /Log level must be one of debug, info, warn, error, got "loud"/,
  );
});
