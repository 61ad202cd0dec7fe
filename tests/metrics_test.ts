import assert from "assert";
import { fileURLToPath } from "node:url";
import parsePrometheus from "parse-prometheus-text-format";
import {
  createPipelineMetrics,
  DEAD_LETTER_REASONS,
  deadLetterReason,
  escapeLabelValue,
  formatValue,
  ListenError,
  MetricError,
  METRICS_CONTENT_TYPE,
  type Readiness,
  Registry,
  startHttp,
} from "../lib/metrics/mod.ts";
import { parseConfig } from "../lib/config/mod.ts";
import { validateMessage } from "../lib/events/mod.ts";
import { guideEvent } from "./_fixtures.ts";
import { programRuns } from "./_helpers.ts";

/** Every line of a 0.0.4 exposition: HELP, TYPE or a sample with an optional label set. */
const LINE = new RegExp(
  "^(?:# HELP [a-zA-Z_:][a-zA-Z0-9_:]* (?:[^\\\\\\n]|\\\\[\\\\n])*" +
    "|# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram|summary|untyped)" +
    '|[a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"' +
    '(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*")*\\})? ' +
    "(?:[+-]?Inf|NaN|-?\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?))$",
);

/** Checks the grammar of every line and that no series appears twice. */
function checkExposition(text: string): void {
  assert.ok(text.endsWith("\n"), "the exposition ends with a line feed");
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    assert.match(line, LINE);
    if (line.startsWith("#")) continue;
    const series = line.slice(0, line.lastIndexOf(" "));
    assert.ok(!seen.has(series), `series ${series} appears twice`);
    seen.add(series);
  }
}

type Family = {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
};

function parse(text: string): Map<string, Family> {
  const families = parsePrometheus(text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

Deno.test("formatValue() writes +Inf, -Inf, NaN and plain decimals", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
  assert.equal(formatValue(42), "42");
  assert.equal(formatValue(1e21), "1e+21");
});

Deno.test("label values escape backslash, double quote and line feed, nothing else", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd\te'), 'a\\\\b\\"c\\nd\te');
});

Deno.test("render() writes HELP and TYPE once per family, then its samples", () => {
  const r = new Registry();
  const c = r.counter({
    name: "demo_things_total",
    help: 'Things "done"\\undone\nsecond line',
    labels: ["kind"],
  });
  c.inc(1, { kind: "a" });
  c.inc(2, { kind: "b" });
  c.inc(3, { kind: "a" });
  const g = r.gauge({ name: "demo_level", help: "A level." });
  g.set(-1.5);
  g.inc(4);
  g.dec(1);
  assert.equal(
    r.render(),
    [
      '# HELP demo_things_total Things "done"\\\\undone\\nsecond line',
      "# TYPE demo_things_total counter",
      'demo_things_total{kind="a"} 4',
      'demo_things_total{kind="b"} 2',
      "# HELP demo_level A level.",
      "# TYPE demo_level gauge",
      "demo_level 1.5",
      "",
    ].join("\n"),
  );
});

Deno.test("one label set is one series, whatever order its labels are given in", () => {
  const r = new Registry();
  const c = r.counter({ name: "demo_total", help: "h", labels: ["a", "b"] });
  c.inc(1, { a: "1", b: "2" });
  c.inc(1, { b: "2", a: "1" });
  c.inc(1, { a: 1, b: 2 });
  const text = r.render();
  checkExposition(text);
  assert.match(text, /^demo_total\{a="1",b="2"\} 3$/m);
  assert.equal(text.split("\n").filter((l) => l.startsWith("demo_total{")).length, 1);
});

Deno.test("histograms write cumulative buckets, +Inf, _sum and _count, le after the labels", () => {
  const r = new Registry();
  const h = r.histogram({
    name: "demo_seconds",
    help: "h",
    labels: ["stage"],
    buckets: [0.1, 1, 10],
  });
  for (const v of [0.05, 0.1, 0.5, 3, 99]) h.observe(v, { stage: "db" });
  h.observe(2, { stage: "model" });
  const text = r.render();
  checkExposition(text);
  assert.equal(
    text,
    [
      "# HELP demo_seconds h",
      "# TYPE demo_seconds histogram",
      'demo_seconds_bucket{stage="db",le="0.1"} 2',
      'demo_seconds_bucket{stage="db",le="1"} 3',
      'demo_seconds_bucket{stage="db",le="10"} 4',
      'demo_seconds_bucket{stage="db",le="+Inf"} 5',
      'demo_seconds_sum{stage="db"} 102.65',
      'demo_seconds_count{stage="db"} 5',
      'demo_seconds_bucket{stage="model",le="0.1"} 0',
      'demo_seconds_bucket{stage="model",le="1"} 0',
      'demo_seconds_bucket{stage="model",le="10"} 1',
      'demo_seconds_bucket{stage="model",le="+Inf"} 1',
      'demo_seconds_sum{stage="model"} 2',
      'demo_seconds_count{stage="model"} 1',
      "",
    ].join("\n"),
  );
  const u = new Registry();
  u.histogram({ name: "plain_seconds", help: "h", buckets: [1] }).observe(0.5);
  assert.match(u.render(), /^plain_seconds_bucket\{le="1"\} 1$/m);
});

Deno.test("an info metric is a gauge of 1 whose labels change as a whole", () => {
  const r = new Registry();
  const info = r.info({ name: "demo_info", help: "h", labels: ["version"] });
  info.set({ version: "1" });
  info.set({ version: "2" });
  assert.equal(
    r.render(),
    '# HELP demo_info h\n# TYPE demo_info gauge\ndemo_info{version="2"} 1\n',
  );
});

Deno.test("declaration mistakes are refused with the name and the rule", () => {
  const r = new Registry();
  const cases: [() => unknown, RegExp][] = [
    [() => r.gauge({ name: "9lives", help: "h" }), /"9lives" is invalid/],
    [() => r.counter({ name: "no_suffix", help: "h" }), /must end in _total/],
    [() => r.info({ name: "demo", help: "h", labels: ["v"] }), /must end in _info/],
    [() => r.gauge({ name: "g", help: "h", labels: ["__x"] }), /Label name "__x"/],
    [() => r.gauge({ name: "g", help: "h", labels: ["a", "a"] }), /"a" of g is repeated/],
    [() => r.histogram({ name: "h", help: "h", labels: ["le"], buckets: [1] }), /not le/],
    [() => r.histogram({ name: "h", help: "h", buckets: [2, 1] }), /strictly increasing/],
    [() => r.histogram({ name: "h", help: "h", buckets: [1, Infinity] }), /finite/],
  ];
  for (const [declare, message] of cases) {
    assert.throws(declare, (e: Error) => e instanceof MetricError && message.test(e.message));
  }
  r.histogram({ name: "lat_seconds", help: "h", buckets: [1] });
  assert.throws(
    () => r.gauge({ name: "lat_seconds_count", help: "h" }),
    /clashes with lat_seconds: both would write samples named lat_seconds_count/,
  );
  assert.throws(() => r.histogram({ name: "lat_seconds", help: "h", buckets: [1] }), /clashes/);
});

Deno.test("using wrong labels or values is refused, not written", () => {
  const r = new Registry();
  const c = r.counter({ name: "demo_total", help: "h", labels: ["a"] });
  const bad = c as unknown as { inc(by: number, labels?: Record<string, string>): void };
  assert.throws(() => bad.inc(1), /needs labels a/);
  assert.throws(() => bad.inc(1, { b: "x" }), /missing label "a"/);
  assert.throws(() => bad.inc(1, { a: "x", b: "y" }), /has no label\(s\) b/);
  assert.throws(() => c.inc(-1, { a: "x" }), /cannot grow by -1/);
  const h = r.histogram({ name: "h_seconds", help: "h", buckets: [1] });
  assert.throws(() => h.observe(NaN), /cannot observe NaN/);
  assert.equal(r.render().includes("demo_total{"), false);
});

Deno.test("an independent parser reads back names, help, labels and histograms", () => {
  const r = new Registry();
  const tricky = 'back\\slash "quoted"\nnew line, {braces}=';
  r.counter({ name: "demo_total", help: 'Help with \\ and\nnewline "q"', labels: ["v", "w"] })
    .inc(7, { v: tricky, w: "ends in \\" });
  const h = r.histogram({ name: "demo_seconds", help: "h", buckets: [0.5, 2] });
  h.observe(0.25);
  h.observe(1);
  r.gauge({ name: "demo_inf", help: "h" }).set(Infinity);
  const text = r.render();
  checkExposition(text);
  const families = parse(text);
  const counter = families.get("demo_total")!;
  assert.equal(counter.type, "COUNTER");
  assert.equal(counter.help, 'Help with \\ and\nnewline "q"');
  assert.deepEqual(counter.metrics, [{ value: "7", labels: { v: tricky, w: "ends in \\" } }]);
  const histogram = families.get("demo_seconds")!;
  assert.equal(histogram.type, "HISTOGRAM");
  assert.deepEqual(histogram.metrics, [{
    buckets: { "0.5": "1", "2": "2", "+Inf": "2" },
    count: "2",
    sum: "1.25",
  }]);
  assert.equal(families.get("demo_inf")!.metrics[0].value, "+Inf");
});

const config = parseConfig(
  await Deno.readTextFile(fileURLToPath(new URL("../pipeline.yaml", import.meta.url))),
  { file: fileURLToPath(new URL("../pipeline.yaml", import.meta.url)), env: () => undefined },
);

Deno.test("every reason the validator gives maps to its own kind, never to other", () => {
  const now = new Date("2026-03-01T12:00:00Z");
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const ok = { ...guideEvent };
  const cases: [Uint8Array, typeof config, string][] = [
    [new Uint8Array(0), config, "empty_message"],
    [text(ok), { ...config, consumer: { ...config.consumer, maxMessageBytes: 10 } }, "too_large"],
    [new Uint8Array([0x7b, 0xff, 0x7d]), config, "invalid_utf8"],
    [new TextEncoder().encode(`${'{"a":'.repeat(50)}1${"}".repeat(50)}`), config, "too_deep"],
    [new TextEncoder().encode("{"), config, "invalid_json"],
    [text([ok]), config, "not_object"],
    [new TextEncoder().encode('{"__proto__":{"x":1}}'), config, "forbidden_key"],
    [new TextEncoder().encode('{"order_n_items":12345678901234567890}'), config, "unsafe_integer"],
    [text({}), config, "missing_required"],
    [text({ ...ok, order_n_items: "3" }), config, "wrong_type"],
    [text({ ...ok, event_id: "x".repeat(65) }), config, "too_long"],
    [text({ ...ok, order_n_items: -1 }), config, "out_of_range"],
    [text({ ...ok, event_time: "yesterday" }), config, "invalid_datetime"],
  ];
  const kinds = new Set<string>();
  for (const [value, settings, kind] of cases) {
    const result = validateMessage(value, settings, now);
    assert.ok(!result.ok, `expected a rejection for ${kind}`);
    assert.equal(deadLetterReason(result.reason), kind, result.reason);
    kinds.add(kind);
  }
  // Every kind is reachable: the validator's, the two of records refused alone, and "other".
  const alone = ["database_rejected", "model_rejected", "other"];
  assert.deepEqual([...kinds, ...alone].sort(), [...DEAD_LETTER_REASONS].sort());
  assert.equal(
    deadLetterReason("database rejected the event: CONSTRAINT failed"),
    "database_rejected",
  );
  assert.equal(deadLetterReason("something new"), "other");
});

Deno.test("the consumer's metrics count a batch under bounded labels", () => {
  const m = createPipelineMetrics({ process: false });
  m.modelLoaded("logreg-1");
  m.partitionsAssigned([0, 1]);
  m.lagMeasured(new Map<number, number | bigint>([[0, 5], [1, 7n]]));
  m.retried("db_deadlock");
  m.retried("made up" as never);
  const committedAt = 1_800_000_000_000;
  const reasons = Array.from({ length: 50 }, (_, i) => ({ reason: `out of range: ${i} > max 1` }));
  m.batchApplied({
    partition: 1,
    messages: [
      { timestamp: String(committedAt - 1500) },
      { timestamp: String(committedAt + 2000) }, // a producer clock ahead of ours
      { timestamp: "not a number" },
      ...reasons.map(() => ({ timestamp: String(committedAt - 20) })),
    ],
    ingested: 2,
    duplicatesStored: 1,
    duplicatesInBatch: 3,
    alreadyApplied: 4,
    deadLetters: [...reasons, { reason: "invalid JSON: Unexpected token" }],
    ms: { validate: 1, model: 2, db: 30, kafka: 4 },
    startedAt: committedAt - 40,
    committedAt,
    finishedAt: committedAt + 5,
  });
  m.modelSwapped("logreg-2");
  m.partitionsAssigned([0]);
  const text = m.render();
  checkExposition(text);
  const families = parse(text);
  const value = (name: string, labels?: Record<string, string>) => {
    const family = families.get(name);
    assert.ok(family, `${name} is rendered`);
    const series = family.metrics.find((s) =>
      JSON.stringify(s.labels ?? {}) === JSON.stringify(labels ?? {})
    );
    assert.ok(series, `${name} ${JSON.stringify(labels)} is rendered`);
    return series;
  };
  assert.equal(value("pipeline_events_ingested_total").value, "2");
  assert.equal(value("pipeline_events_duplicate_total", { found_in: "table" }).value, "1");
  assert.equal(value("pipeline_events_duplicate_total", { found_in: "batch" }).value, "3");
  assert.equal(value("pipeline_events_already_applied_total").value, "4");
  assert.equal(value("pipeline_dead_letters_total", { reason: "out_of_range" }).value, "50");
  assert.equal(value("pipeline_dead_letters_total", { reason: "invalid_json" }).value, "1");
  assert.equal(value("pipeline_dead_letters_total", { reason: "wrong_type" }).value, "0");
  // 50 distinct reason texts, one series: the label set is closed.
  assert.equal(
    families.get("pipeline_dead_letters_total")!.metrics.length,
    DEAD_LETTER_REASONS.length,
  );
  assert.equal(value("pipeline_retries_total", { cause: "db_deadlock" }).value, "1");
  assert.equal(value("pipeline_retries_total", { cause: "other" }).value, "1");
  assert.equal(value("pipeline_batch_size_events").sum, "53");
  assert.equal(value("pipeline_batch_duration_seconds").sum, "0.045");
  // The parser folds labelled histograms into one (its issue #13): read these lines directly.
  assert.match(text, /^pipeline_stage_duration_seconds_sum\{stage="db"\} 0\.03$/m);
  assert.match(text, /^pipeline_stage_duration_seconds_bucket\{stage="db",le="0\.025"\} 0$/m);
  assert.match(text, /^pipeline_stage_duration_seconds_bucket\{stage="db",le="0\.05"\} 1$/m);
  assert.match(text, /^pipeline_stage_duration_seconds_count\{stage="kafka"\} 1$/m);
  const latency = value("pipeline_end_to_end_latency_seconds");
  assert.equal(latency.count, "52", "the message without a timestamp is left out");
  assert.equal(latency.buckets!["0.01"], "1", "a timestamp from the future counts as 0 s");
  assert.equal(latency.buckets!["0.025"], "51");
  assert.equal(latency.buckets!["1"], "51");
  assert.equal(latency.buckets!["2.5"], "52");
  assert.equal(Number(latency.sum).toFixed(3), "2.500");
  assert.deepEqual(families.get("pipeline_consumer_lag_messages")!.metrics, [
    { value: "5", labels: { partition: "0" } },
  ]);
  assert.equal(value("pipeline_assigned_partitions").value, "1");
  assert.deepEqual(families.get("pipeline_model_info")!.metrics, [
    { value: "1", labels: { version: "logreg-2" } },
  ]);
  assert.equal(value("pipeline_model_swaps_total").value, "1");
  assert.equal(families.has("process_resident_memory_bytes"), false);
});

Deno.test("process metrics report this process's memory, CPU and start time", () => {
  const before = Date.now() / 1000;
  const families = parse(createPipelineMetrics().render());
  const get = (name: string) => Number(families.get(name)?.metrics[0].value);
  assert.ok(get("process_resident_memory_bytes") > 10_000_000);
  assert.ok(get("deno_heap_size_used_bytes") > 0);
  assert.ok(get("deno_heap_size_total_bytes") >= get("deno_heap_size_used_bytes"));
  assert.ok(get("process_cpu_seconds_total") > 0);
  const start = get("process_start_time_seconds");
  assert.ok(start <= before && start > before - 3600, `start time ${start}`);
  assert.equal(families.get("process_cpu_seconds_total")?.type, "COUNTER");
});

const promtool = await programRuns("promtool");

Deno.test({
  name: "promtool check metrics accepts the consumer's metrics (when promtool is installed)",
  ignore: !promtool,
  async fn() {
    const m = createPipelineMetrics();
    m.modelLoaded('v1 "with" \\ odd\ncharacters');
    m.partitionsAssigned([0]);
    m.lagMeasured(new Map([[0, 3]]));
    m.batchApplied({
      partition: 0,
      messages: [{ timestamp: String(Date.now() - 100) }],
      ingested: 1,
      duplicatesStored: 0,
      duplicatesInBatch: 0,
      alreadyApplied: 0,
      deadLetters: [],
      ms: { validate: 0.1, model: 0.2, db: 3, kafka: 1 },
      startedAt: Date.now() - 5,
      committedAt: Date.now(),
    });
    const child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(m.render()));
    await writer.close();
    const result = await child.output();
    const said = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    assert.ok(result.success, `promtool: ${said}`);
    assert.equal(said.trim(), "");
  },
});

/** A readiness probe whose answer the test sets. */
function probe() {
  let answer: () => Promise<Readiness> = () => Promise.resolve({ ok: true, checks: {} });
  return {
    ready: () => answer(),
    set(next: () => Promise<Readiness>) {
      answer = next;
    },
  };
}

Deno.test("startHttp() serves /metrics, /healthz, /readyz and 404 on a free port", async () => {
  const metrics = createPipelineMetrics({ process: false });
  metrics.modelLoaded("m1");
  const readiness = probe();
  const errors: unknown[] = [];
  const http = startHttp({
    port: 0,
    metrics,
    ready: readiness.ready,
    readyTimeoutMs: 200,
    onError: (e) => errors.push(e),
  });
  try {
    assert.equal(http.hostname, "127.0.0.1");
    assert.ok(http.port > 0);
    assert.equal(http.url, `http://127.0.0.1:${http.port}`);

    let response = await fetch(`${http.url}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), METRICS_CONTENT_TYPE);
    const body = await response.text();
    checkExposition(body);
    assert.equal(body, metrics.render());
    assert.ok(parse(body).has("pipeline_model_info"));

    response = await fetch(`${http.url}/healthz`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok\n");

    readiness.set(() => Promise.resolve({ ok: true, checks: { kafka: "ok", database: "ok" } }));
    response = await fetch(`${http.url}/readyz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      status: "ready",
      checks: { kafka: "ok", database: "ok" },
    });

    readiness.set(() =>
      Promise.resolve({ ok: false, checks: { kafka: "not in the group yet", database: "ok" } })
    );
    response = await fetch(`${http.url}/readyz`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.deepEqual(await response.json(), {
      status: "not ready",
      failing: { kafka: "not in the group yet" },
      checks: { kafka: "not in the group yet", database: "ok" },
    });

    readiness.set(() => Promise.reject(new Error("database pool closed")));
    response = await fetch(`${http.url}/readyz`);
    assert.equal(response.status, 503);
    assert.deepEqual((await response.json()).failing, {
      readiness: "failed: database pool closed",
    });

    let release = () => {};
    readiness.set(() =>
      new Promise((resolve) => {
        release = () => resolve({ ok: true, checks: {} });
      })
    );
    response = await fetch(`${http.url}/readyz`);
    assert.equal(response.status, 503);
    assert.deepEqual((await response.json()).failing, { readiness: "no answer within 200 ms" });
    release();

    for (const path of ["/", "/metrics/", "/favicon.ico", "/readyz/x"]) {
      response = await fetch(`${http.url}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    response = await fetch(`${http.url}/metrics?format=anything`);
    assert.equal(response.status, 200);
    await response.body?.cancel();

    response = await fetch(`${http.url}/metrics`, { method: "POST", body: "x" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.body?.cancel();

    response = await fetch(`${http.url}/healthz`, { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
    assert.deepEqual(errors, []);
  } finally {
    await http.close();
  }
  await http.close(); // a second close is harmless
  await assert.rejects(fetch(`${http.url}/healthz`));
});

Deno.test("a failing render is a 500 for that scrape; the server goes on", async () => {
  let fail = true;
  const errors: unknown[] = [];
  const http = startHttp({
    port: 0,
    metrics: {
      render: () => {
        if (fail) throw new Error("collector broke");
        return "";
      },
    },
    ready: () => Promise.resolve({ ok: true, checks: {} }),
    onError: (e) => errors.push(e),
  });
  try {
    let response = await fetch(`${http.url}/metrics`);
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.equal((errors[0] as Error).message, "collector broke");
    fail = false;
    response = await fetch(`${http.url}/metrics`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  } finally {
    await http.close();
  }
});

Deno.test("a malformed request gets an error response, not a crash", async () => {
  const http = startHttp({
    port: 0,
    metrics: { render: () => "" },
    ready: () => Promise.resolve({ ok: true, checks: {} }),
  });
  try {
    for (const raw of ["GARBAGE\r\n\r\n", "GET /metrics HTTP/1.1\r\nHost: \x01\r\n\r\n"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: http.port });
      await conn.write(new TextEncoder().encode(raw));
      const buffer = new Uint8Array(1024);
      const n = await conn.read(buffer);
      conn.close();
      const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
      assert.match(head, /^HTTP\/1\.1 [45]\d\d /, JSON.stringify(raw));
    }
    const response = await fetch(`${http.url}/healthz`);
    assert.equal(await response.text(), "ok\n");
  } finally {
    await http.close();
  }
});

Deno.test("a port in use is refused with a ListenError saying what to do", async () => {
  const first = startHttp({
    port: 0,
    metrics: { render: () => "" },
    ready: () => Promise.resolve({ ok: true, checks: {} }),
  });
  try {
    assert.throws(
      () =>
        startHttp({
          port: first.port,
          metrics: { render: () => "" },
          ready: () => Promise.resolve({ ok: true, checks: {} }),
        }),
      (e: Error) =>
        e instanceof ListenError &&
        e.message === `Cannot serve metrics on 127.0.0.1:${first.port}: the port is in use ` +
            "by another program; choose another port (0 picks a free one)",
    );
    assert.throws(
      () =>
        startHttp({
          port: 70000,
          metrics: { render: () => "" },
          ready: () => Promise.resolve({ ok: true, checks: {} }),
        }),
      /Metrics port must be an integer from 0 to 65535, got 70000/,
    );
  } finally {
    await first.close();
  }
});
