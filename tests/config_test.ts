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
