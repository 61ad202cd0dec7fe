import assert from "assert";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfig, parseConfig } from "../lib/config/mod.ts";
import {
  brokerProperties,
  kafkaPaths,
  parseEndpoint,
  portAnswers,
  randomClusterId,
} from "../dev/services/mod.ts";
import { KafkaTools } from "../dev/testing/mod.ts";
import { repoConfigPath, repoRoot, runEntry, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

const script = "tasks/services.ts";

/** A free port whose successor (the controller's port) is free too. */
function freePortPair(): number {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (first.addr as Deno.NetAddr).port;
    first.close();
    if (port >= 65535) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error("Cannot find two free consecutive ports");
}

/** A TCP server that accepts and at once closes every connection: a port held by a stranger. */
function stranger(): { port: number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    try {
      for await (const conn of listener) conn.close();
    } catch {
      // the listener was closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: async () => {
      listener.close();
      await accepting;
    },
  };
}

Deno.test("services --help prints USAGE and OPTIONS and exits 0", async () => {
  const result = await runEntry(script, ["--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /USAGE:/);
  assert.match(result.stdout, /OPTIONS:/);
  assert.match(result.stdout, /--config PATH/);
});

Deno.test("services rejects a missing or unknown command with exit code 2", async () => {
  for (const args of [[], ["start"], ["status", "--timeout", "5"]]) {
    const result = await runEntry(script, args);
    assert.equal(result.code, 2, `args ${args.join(" ")}`);
    assert.match(result.stderr, /^error: /m);
    assert.match(result.stderr, /--help/);
  }
});

Deno.test("services status shows both running services and exits 0", async () => {
  await ensureServices();
  const config = await loadConfig(repoConfigPath);
  const result = await runEntry(script, ["status"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const broker = config.kafka.brokers[0];
  assert.match(
    result.stdout,
    new RegExp(`^kafka +up +${broker.replaceAll(".", "\\.")} +1 broker`, "m"),
  );
  assert.match(result.stdout, /^mariadb +up +mysql:\/\/.* server \d+\.\d+.*; login ok/m);
});

Deno.test("services status exits 1 for a port held by something else and masks the password", async () => {
  const other = stranger();
  try {
    const config = await writeTestConfig({
      "kafka.brokers": [`127.0.0.1:${other.port}`],
      "database.url": `mysql://root:s3cret@127.0.0.1:${other.port}/nothing`,
    });
    const result = await runEntry(script, ["status", "--config", config]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^kafka +DOWN .* answers, but not as Kafka/m);
    assert.match(
      result.stdout,
      /^mariadb +DOWN +mysql:\/\/root:\*\*\*\*@127\.0\.0\.1:\d+\/nothing .*not as MySQL/m,
    );
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret/);
  } finally {
    await other.close();
  }
});

Deno.test("services status and up say the database login failed, without the password", async () => {
  await ensureServices();
  // The real server, greeting as usual, but a password its root user does not have.
  const url = new URL((await loadConfig(repoConfigPath)).database.url);
  url.password = "n0t-the-Passw0rd";
  url.pathname = "/nothing_here";
  const config = await writeTestConfig({ "database.url": url.toString() });
  const status = await runEntry(script, ["status", "--config", config]);
  assert.equal(status.code, 1, status.stdout + status.stderr);
  assert.match(status.stdout, /^kafka +up /m);
  assert.match(
    status.stdout,
    /^mariadb +DOWN +mysql:\/\/root:\*\*\*\*@127\.0\.0\.1:\d+\/nothing_here +server .*; the login failed: .*Access denied/m,
  );
  const up = await runEntry(script, ["up", "--config", config]);
  assert.equal(up.code, 2, up.stderr);
  assert.match(
    up.stderr,
    /^error: Cannot use the database at mysql:\/\/root:\*\*\*\*@.*: the login failed: .*Access denied/m,
  );
  assert.match(up.stderr, /^hint: check the user and password in database\.url/m);
  assert.doesNotMatch(status.stdout + status.stderr + up.stdout + up.stderr, /n0t-the-Passw0rd/);
});

Deno.test("services up refuses a Kafka port held by something else; down leaves it alone", async () => {
  const other = stranger();
  try {
    const config = await writeTestConfig({ "kafka.brokers": [`127.0.0.1:${other.port}`] });
    const up = await runEntry(script, ["up", "--config", config]);
    assert.equal(up.code, 2, up.stderr);
    assert.match(
      up.stderr,
      /^error: Cannot use Kafka at 127\.0\.0\.1:\d+: it answers, but not as Kafka \(.+\)$/m,
    );
    const down = await runEntry(script, ["down", "--config", config]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(
      down.stderr,
      /no broker started by this project .* nothing to stop \(the one answering there is left alone\)/,
    );
    assert.ok(await portAnswers({ host: "127.0.0.1", port: other.port }));
  } finally {
    await other.close();
  }
});

Deno.test("services up starts a broker from the Maven jars on a free port, Kafka's tools see it, down stops it", async () => {
  await ensureServices();
  const port = freePortPair();
  const endpoint = { host: "127.0.0.1", port };
  const paths = kafkaPaths(endpoint);
  const config = await writeTestConfig({ "kafka.brokers": [`127.0.0.1:${port}`] });
  try {
    const up = await runEntry(script, ["up", "--config", config]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(
      up.stderr,
      new RegExp(`kafka: started a broker at 127\\.0\\.0\\.1:${port} \\(pid \\d+`),
    );

    // Kafka's own cluster tool, an independent client: one broker, node 1, also the controller.
    const tools = new KafkaTools(`127.0.0.1:${port}`);
    assert.deepEqual(await tools.endpoints(), [
      { id: 1, host: "127.0.0.1", port, type: "broker" },
    ]);
    assert.deepEqual(await tools.endpoints(`127.0.0.1:${port + 1}`), [
      { id: 1, host: "127.0.0.1", port: port + 1, type: "controller" },
    ]);

    const log = await Deno.readTextFile(paths.log);
    assert.match(log, /Kafka Server started/, "the broker's log must be written through log4j");
    const status = await runEntry(script, ["status", "--config", config]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /^kafka +up .* started by this project, pid \d+/m);

    const again = await runEntry(script, ["up", "--config", config]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /the broker this project started .* runs \(pid \d+\)/);

    const down = await runEntry(script, ["down", "--config", config]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, /kafka: stopped in/);
    assert.equal(await portAnswers(endpoint), false);
    await assert.rejects(Deno.stat(paths.pid), Deno.errors.NotFound);
  } finally {
    if (await portAnswers(endpoint)) await runEntry(script, ["down", "--config", config]);
    await Deno.remove(paths.instance, { recursive: true }).catch(() => {});
  }
});

/** Is the system's mariadbd running (as after `services up` in CI)? Only root can tell. */
function systemMariaDbRuns(): boolean {
  try {
    const status = new Deno.Command("start-stop-daemon", {
      args: ["--status", "--exec", "/usr/sbin/mariadbd"],
    }).outputSync();
    return Deno.uid() === 0 && status.code === 0;
  } catch {
    return false;
  }
}

Deno.test({
  name: "services up says so when the running mariadbd does not listen at database.url",
  ignore: !systemMariaDbRuns(),
  fn: async () => {
    await ensureServices();
    const port = freePortPair();
    const config = await writeTestConfig({
      "database.url": `mysql://root:s3cret@127.0.0.1:${port}/nothing`,
    });
    const result = await runEntry(script, ["up", "--config", config]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^error: Cannot reach the database at mysql://root:\\*{4}@127\\.0\\.0\\.1:${port}/nothing: /usr/sbin/mariadbd runs, but not at 127\\.0\\.0\\.1:${port}$`,
        "m",
      ),
    );
    assert.match(result.stderr, /^hint: check port and bind-address/m);
    assert.doesNotMatch(result.stderr, /s3cret/);
  },
});

Deno.test("brokerProperties() describes a single-node KRaft broker with its controller on port + 1", () => {
  const text = brokerProperties({ host: "127.0.0.1", port: 19092 }, "/data");
  const properties = Object.fromEntries(
    text.split("\n").filter((line) => line && !line.startsWith("#")).map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
  assert.equal(properties["process.roles"], "broker,controller");
  assert.equal(properties["listeners"], "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093");
  assert.equal(properties["controller.quorum.bootstrap.servers"], "127.0.0.1:19093");
  assert.equal(properties["auto.create.topics.enable"], "false");
  assert.equal(properties["offsets.topic.replication.factor"], "1");
  assert.equal(properties["group.initial.rebalance.delay.ms"], "0");
  assert.equal(properties["log.dirs"], "/data");
});

Deno.test("randomClusterId() gives 22 URL-safe base64 characters, never a leading dash", () => {
  const ids = new Set(Array.from({ length: 200 }, randomClusterId));
  assert.equal(ids.size, 200);
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
});

Deno.test("parseEndpoint() reads host:port, [ipv6]:port and a bare host", () => {
  assert.deepEqual(parseEndpoint("127.0.0.1:19092", 9092), { host: "127.0.0.1", port: 19092 });
  assert.deepEqual(parseEndpoint("[::1]:9093", 9092), { host: "::1", port: 9093 });
  assert.deepEqual(parseEndpoint("kafka", 9092), { host: "kafka", port: 9092 });
  assert.throws(() => parseEndpoint("host:99999", 9092), /Cannot parse address "host:99999"/);
});

Deno.test("compose.yaml publishes Kafka and MySQL where pipeline.yaml's defaults look for them", async () => {
  const compose = parse(await Deno.readTextFile(join(repoRoot, "compose.yaml")));
  // The defaults, whatever $KAFKA_BROKERS / $DATABASE_URL say in this shell.
  const defaults = parseConfig(await Deno.readTextFile(repoConfigPath), {
    file: repoConfigPath,
    env: () => undefined,
  });
  const broker = parseEndpoint(defaults.kafka.brokers[0], 9092);
  const database = new URL(defaults.database.url);

  const kafka = compose.services.kafka;
  assert.match(kafka.image, /^apache\/kafka:4\.1\.1$/);
  assert.ok(kafka.ports.includes(`${broker.host}:${broker.port}:9092`), String(kafka.ports));
  assert.equal(kafka.environment.KAFKA_PROCESS_ROLES, "broker,controller");
  assert.equal(
    kafka.environment.KAFKA_ADVERTISED_LISTENERS,
    `PLAINTEXT://${broker.host}:${broker.port}`,
  );
  assert.equal(kafka.environment.KAFKA_AUTO_CREATE_TOPICS_ENABLE, "false");
  assert.ok(kafka.healthcheck?.test, "kafka needs a healthcheck");

  const db = compose.services.mysql;
  assert.match(db.image, /^mysql:8\.4/);
  assert.ok(db.ports.includes(`${database.hostname}:${database.port}:3306`), String(db.ports));
  assert.equal(database.username, "root");
  assert.equal(database.password, "");
  assert.equal(db.environment.MYSQL_ALLOW_EMPTY_PASSWORD, "yes");
  assert.equal(db.environment.MYSQL_DATABASE, database.pathname.slice(1));
  assert.ok(db.healthcheck?.test, "mysql needs a healthcheck");
});

Deno.test("writeTestConfig() writes a loadable config with its own names and repository paths", async () => {
  const path = await writeTestConfig({ topic: "t_helpers", "consumer.duplicates": "update" });
  const config = await loadConfig(path);
  const repo = await loadConfig(repoConfigPath);
  assert.equal(config.kafka.topic, "t_helpers");
  assert.equal(config.kafka.deadLetterTopic, "t_helpers.dlq");
  assert.equal(config.kafka.consumerGroup, "t_helpers_group");
  assert.equal(new URL(config.database.url).pathname, "/t_helpers");
  assert.equal(new URL(config.database.url).host, new URL(repo.database.url).host);
  assert.equal(config.consumer.duplicates, "update");
  assert.equal(config.producer.file, repo.producer.file);
  assert.equal(config.model.path, repo.model.path);
  await Deno.remove(join(path, ".."), { recursive: true });
});
