import assert from "assert";
import { join } from "node:path";
import { ConfigError, loadConfig, parseConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { repoConfigPath, repoRoot, runEntry } from "./_helpers.ts";

const fixtures = join(repoRoot, "tests", "testdata", "config");
const base = await Deno.readTextFile(repoConfigPath);
const file = join(repoRoot, "tests", "testdata", "config", "inline.yaml");

/** parseConfig() on the repository's pipeline.yaml with one text replaced. */
function parseChanged(
  from: string,
  to: string,
  env: Record<string, string> = {},
): PipelineConfig {
  assert.ok(base.includes(from), `pipeline.yaml no longer contains ${from}`);
  return parseConfig(base.replace(from, to), { file, env: (name) => env[name] });
}

/** The ConfigError parseChanged() throws. */
function problemsOf(from: string, to: string, env: Record<string, string> = {}): ConfigError {
  try {
    parseChanged(from, to, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail(`no ConfigError for ${to}`);
}

/** Line (1-based) where `text` starts in the changed file. */
function lineOf(text: string, needle: string): number {
  return text.slice(0, text.indexOf(needle)).split("\n").length;
}

Deno.test("parseConfig() reads the repository's pipeline.yaml into a frozen config", () => {
  const config = parseConfig(base, { file, env: () => undefined });
  assert.deepEqual(config.kafka.brokers, ["127.0.0.1:9092"]);
  assert.equal(config.kafka.topic, "order-events");
  assert.equal(config.kafka.deadLetterTopic, "order-events.dlq");
  assert.equal(config.kafka.partitions, 3);
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.kafka));
  assert.ok(Object.isFrozen(config.kafka.brokers));
  assert.throws(() => {
    (config.kafka as { topic: string }).topic = "other";
  }, TypeError);
  assert.equal(config.kafka.topic, "order-events");
});

Deno.test("parseConfig() splits comma-separated brokers from one variable", () => {
  const config = parseConfig(base, {
    file,
    env: (name) => name === "KAFKA_BROKERS" ? "a.example:9092, b.example:9093," : undefined,
  });
  assert.deepEqual(config.kafka.brokers, ["a.example:9092", "b.example:9093"]);
});

Deno.test("parseConfig() uses ${VAR:-default} when the variable is unset or empty", () => {
  const from = "  partitions: 3\n";
  assert.equal(parseChanged(from, "  partitions: ${PARTS:-5}\n").kafka.partitions, 5);
  assert.equal(
    parseChanged(from, "  partitions: ${PARTS:-5}\n", { PARTS: "" }).kafka.partitions,
    5,
  );
  assert.equal(
    parseChanged(from, "  partitions: ${PARTS:-5}\n", { PARTS: "7" }).kafka.partitions,
    7,
  );
  const fromEnv = parseConfig(base, {
    file,
    env: (name) => name === "KAFKA_TOPIC" ? "from-env" : undefined,
  });
  assert.equal(fromEnv.kafka.topic, "from-env");
  assert.equal(fromEnv.kafka.deadLetterTopic, "from-env.dlq");
});

Deno.test("parseConfig() rejects an unknown key with file:line:col and its dotted path", () => {
  const to = "  client_id: order-pipeline\n  topik: misspelled\n";
  const error = problemsOf("  client_id: order-pipeline\n", to);
  assert.equal(error.problems.length, 1);
  const [problem] = error.problems;
  assert.equal(problem.path, "kafka.topik");
  assert.equal(problem.line, lineOf(base.replace("  client_id: order-pipeline\n", to), "  topik"));
  assert.equal(problem.col, 3);
  assert.match(error.message, /inline\.yaml:\d+:3: kafka\.topik: unknown key \(expected one of:/);
});

Deno.test("parseConfig() rejects a value of the wrong type", () => {
  const error = problemsOf("  partitions: 3\n", "  partitions: three\n");
  assert.equal(error.problems.length, 1);
  assert.equal(error.problems[0].path, "kafka.partitions");
  assert.equal(error.problems[0].col, 15);
  assert.match(error.message, /:\d+:15: kafka\.partitions: expected an integer .*got "three"/);
});

Deno.test("parseConfig() rejects a key without a value", () => {
  const error = problemsOf("  consumer_group: order-pipeline\n", "  consumer_group:\n");
  assert.equal(error.problems[0].path, "kafka.consumer_group");
  assert.match(error.message, /:\d+:\d+: kafka\.consumer_group: missing value, expected a string/);
});

Deno.test("parseConfig() rejects a database URL that is not mysql://", () => {
  const from = "  url: ${DATABASE_URL:-mysql://root@127.0.0.1:3306/order_pipeline}\n";
  const error = problemsOf(from, "  url: postgres://root:secret@db/orders\n");
  assert.equal(error.problems[0].path, "database.url");
  assert.match(error.message, /:\d+:8: database\.url: expected a URL \(mysql:\/\/, mariadb:\/\/\)/);
  assert.doesNotMatch(error.message, /secret/, "passwords are masked");
  const noName = problemsOf(from, "  url: mysql://root@127.0.0.1:3306\n");
  assert.match(noName.message, /database\.url: URL has no database name/);
});

Deno.test("parseConfig() names an unset environment variable", () => {
  const error = problemsOf("  batch_size: 500\n", "  batch_size: ${PIPELINE_UNSET_X}\n");
  assert.equal(error.problems[0].path, "producer.batch_size");
  assert.match(
    error.message,
    /:\d+:15: producer\.batch_size: environment variable PIPELINE_UNSET_X is not set/,
  );
});

Deno.test("parseConfig() reports bad YAML once, at its line and column, under its key", () => {
  const error = problemsOf("  partitions: 3\n", "  partitions: [3\n");
  assert.equal(error.problems.length, 1);
  const [problem] = error.problems;
  assert.equal(problem.path, "kafka.partitions");
  // The parser notices the unclosed "[" where the next key starts.
  const line = lineOf(base, "  partitions: 3");
  assert.ok(problem.line === line || problem.line === line + 1, `line ${problem.line}`);
  assert.match(problem.message, /^invalid YAML: /);
});

Deno.test("parseConfig() reports every problem at once, in file order", () => {
  let text = base;
  for (
    const [from, to] of [
      ["  partitions: 3\n", "  partitions: three\n"],
      ["  acks: all\n", "  acks: some\n"],
      ["  max_depth: 8\n", "  max_depth: -1\n"],
      ["  client_id: order-pipeline\n", "  client_id: order-pipeline\n  topik: x\n"],
    ]
  ) text = text.replace(from, to);
  try {
    parseConfig(text, { file, env: () => undefined });
    assert.fail("no ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems.map((p) => p.path), [
      "kafka.topik",
      "kafka.partitions",
      "producer.acks",
      "consumer.max_depth",
    ]);
    assert.ok(error.problems.every((p) => p.line && p.col));
    assert.match(error.message, /4 problem\(s\)/);
  }
});

Deno.test("loadConfig() names a missing file and how to pass another", async () => {
  await assert.rejects(
    () => loadConfig(join(fixtures, "does_not_exist.yaml")),
    (error: unknown) =>
      error instanceof ConfigError && /file not found \(pass --config PATH\)/.test(error.message),
  );
});

const badFixtures: [string, RegExp][] = [
  ["unknown_key.yaml", /unknown_key\.yaml:9:3: kafka\.topik: unknown key/],
  ["wrong_type.yaml", /wrong_type\.yaml:10:15: kafka\.partitions: expected an integer/],
  ["missing_value.yaml", /missing_value\.yaml:12:\d+: kafka\.consumer_group: missing value/],
  ["bad_url.yaml", /bad_url\.yaml:18:8: database\.url: expected a URL/],
  ["unset_variable.yaml", /unset_variable\.yaml:23:15: producer\.batch_size: environment var/],
  ["bad_yaml.yaml", /bad_yaml\.yaml:11:3: kafka\.partitions: invalid YAML/],
  ["many_problems.yaml", /5 problem\(s\)(\n {2}.*many_problems\.yaml:\d+:\d+: [a-z_.]+: .*){5}/],
];

for (const [name, expected] of badFixtures) {
  Deno.test(`admin list --config ${name} exits 2 with an error line and no stack`, async () => {
    const result = await runEntry("admin.ts", [
      "list",
      "--config",
      `tests/testdata/config/${name}`,
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: Cannot load config "tests\/testdata\/config\//);
    assert.match(result.stderr, expected);
    assert.ok(!result.stderr.includes("    at "), result.stderr);
    assert.equal(result.stdout, "");
  });
}

/** Line and column (1-based) where `needle` first appears at or after `anchor` in `text`. */
function positionOf(text: string, anchor: string, needle: string): { line: number; col: number } {
  const at = text.indexOf(needle, text.indexOf(anchor));
  assert.ok(at >= 0 && text.indexOf(anchor) >= 0, `no ${needle} after ${anchor}`);
  const before = text.slice(0, at).split("\n");
  return { line: before.length, col: before.at(-1)!.length + 1 };
}

/** The one problem parseConfig() reports for an edit, with where it points in the edited file. */
function oneProblem(from: string, to: string, anchor: string, needle: string) {
  const error = problemsOf(from, to);
  assert.equal(error.problems.length, 1, error.message);
  const [problem] = error.problems;
  const { line, col } = positionOf(base.replace(from, to), anchor, needle);
  assert.equal(problem.line, line, error.message);
  assert.equal(problem.col, col, error.message);
  return { problem, message: error.message, line, col };
}

const orderId = "    order_id: { type: string, max_length: 64 }\n";
const nItems = "    order_n_items: { type: integer, default: 0, min: 0, max: 10000 }\n";

Deno.test("parseConfig() rejects a string field longer than its column, at its max_length", () => {
  const to = "    order_id: { type: string, max_length: 100 }\n";
  const { problem, message, line, col } = oneProblem(orderId, to, "    order_id:", "100");
  assert.equal(problem.path, "events.fields.order_id.max_length");
  assert.equal(problem.message, "must be at most 64 (its column's size)");
  assert.ok(
    message.includes(
      `inline.yaml:${line}:${col}: events.fields.order_id.max_length: must be at most 64 (its column's size)`,
    ),
    message,
  );
  // Without max_length any length would be accepted: the field itself is pointed at.
  const unbounded = oneProblem(orderId, "    order_id: { type: string }\n", "    order_id:", "{");
  assert.equal(unbounded.problem.path, "events.fields.order_id");
  assert.equal(unbounded.problem.message, "needs max_length: at most 64 (its column's size)");
});

Deno.test("parseConfig() rejects a column field of a type its column cannot hold", () => {
  const to = '    order_n_items: { type: string, default: "0" }\n';
  const error = problemsOf(nItems, to);
  const text = base.replace(nItems, to);
  const type = positionOf(text, "    order_n_items:", "string");
  const feature = positionOf(text, "        - { field: order_n_items", "number");
  assert.deepEqual(error.problems, [
    {
      path: "events.fields.order_n_items.type",
      ...type,
      message: "a string field cannot be stored in its INT column (declare it integer)",
    },
    // The model mapping reads the field as a number too.
    {
      path: "model.inputs[0].features[3].encode",
      ...feature,
      message: 'field "order_n_items" is a string, not numeric',
    },
  ]);
  assert.ok(
    error.message.includes(
      `inline.yaml:${type.line}:${type.col}: events.fields.order_n_items.type: a string field cannot be stored in its INT column (declare it integer)`,
    ),
    error.message,
  );
  const time = oneProblem(
    "    event_time: { type: datetime, default: now }\n",
    "    event_time: { type: string, default: now }\n",
    "    event_time:",
    "string",
  );
  assert.equal(
    time.problem.message,
    "a string field cannot be stored in its DATETIME(3) column (declare it datetime)",
  );
});

Deno.test("parseConfig() rejects numeric bounds beyond the column's range", () => {
  const to = "    order_n_items: { type: integer, default: 0, min: 0, max: 3000000000 }\n";
  const { problem } = oneProblem(nItems, to, "    order_n_items:", "3000000000");
  assert.equal(problem.path, "events.fields.order_n_items.max");
  assert.equal(problem.message, "must be at most 2147483647 (its column's range)");
  const money = "    order_discount: { type: number, default: 0.0, min: 0, max: 10000000 }\n";
  const unbounded = oneProblem(
    money,
    "    order_discount: { type: number, default: 0.0, max: 10000000 }\n",
    "    order_discount:",
    "{",
  );
  assert.equal(unbounded.problem.path, "events.fields.order_discount");
  assert.equal(
    unbounded.problem.message,
    "needs min: at least -9999999999.99 (its column's range)",
  );
});

Deno.test("parseConfig() requires the fields whose columns have no default", () => {
  const required = "  required: [event_id, order_id, customer_customer_id]\n";
  let text = base.replace(required, "  required: [event_id, customer_customer_id]\n");
  text = text.replace(orderId, "").replace(
    "        - { field: order_basket_value",
    "        - { field: order_discount",
  );
  try {
    parseConfig(text, { file, env: () => undefined });
    assert.fail("no ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems.map((p) => [p.path, p.line, p.message]), [[
      "events.fields",
      lineOf(text, "    event_id:"),
      '"order_id" is not declared: its column has no default (declare it as a string field)',
    ]]);
  }
});

Deno.test("parseConfig() rejects a model feature naming an undeclared field", () => {
  const from = "        - { field: order_discount, encode: number }\n";
  const to = "        - { field: order_discont, encode: number }\n";
  const { problem, message, line } = oneProblem(from, to, to, "order_discont");
  assert.equal(problem.path, "model.inputs[0].features[2].field");
  assert.equal(problem.message, '"order_discont" is not declared under events.fields');
  assert.ok(
    message.includes(
      `inline.yaml:${line}:20: model.inputs[0].features[2].field: "order_discont" is not declared under events.fields`,
    ),
    message,
  );
});

Deno.test("parseConfig() rejects fractional values for an int64 input and repeated inputs", () => {
  const inputs = base.slice(base.indexOf("  inputs:\n"));
  const to = [
    "  inputs:",
    "    - name: n",
    "      type: int64",
    "      features:",
    "        - { field: order_basket_value, encode: number }",
    "        - { field: order_n_items, encode: { scale: { mean: 0, std: 2 } } }",
    "        - { field: order_n_items, encode: number, missing: 0.5 }",
    "    - name: n",
    "      type: float32",
    "      features:",
    "        - { field: order_device, encode: { one_hot: [app, web, app] } }",
    "",
  ].join("\n");
  const text = base.replace(inputs, to);
  try {
    parseConfig(text, { file, env: () => undefined });
    assert.fail("no ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    const at = (needle: string, anchor = "  inputs:\n") => {
      const { line, col } = positionOf(text, anchor, needle);
      return `${line}:${col}`;
    };
    assert.deepEqual(error.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`), [
      `${
        at("number")
      } model.inputs[0].features[0].encode: field "order_basket_value" is a number; an int64 input takes integer or boolean fields`,
      `${
        at("{ scale")
      } model.inputs[0].features[1].encode: an int64 input cannot take scaled (fractional) values`,
      `${at("0.5")} model.inputs[0].features[2].missing: expected an integer for an int64 input`,
      `${
        at("n\n", "    - name: n\n      type: float32")
      } model.inputs[1].name: model input "n" is listed more than once under model.inputs`,
      `${at("app]")} model.inputs[1].features[0].encode.one_hot[2]: "app" is listed twice`,
    ]);
  }
});

Deno.test("parseConfig() rejects a topic name the broker would refuse, at its line", () => {
  const line = base.split("\n").find((l) => l.trimStart().startsWith("dead_letter_topic:"))!;
  const error = problemsOf(line, line.replace(/:.*$/, ': "orders dlq"'));
  assert.equal(error.problems.length, 1);
  assert.equal(error.problems[0].path, "kafka.dead_letter_topic");
  assert.match(
    error.message,
    /:\d+:\d+: kafka\.dead_letter_topic: "orders dlq" is not a valid Kafka topic name/,
  );
});
