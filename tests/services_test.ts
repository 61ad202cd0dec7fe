import assert from "assert";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfig, parseConfig } from "../lib/config/mod.ts";
import {
  brokerProperties,
  bufferPoolFor,
  kafkaLibs,
  kafkaPaths,
  parseEndpoint,
  portAnswers,
  randomClusterId,
} from "../dev/services/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { KafkaTools } from "../dev/testing/mod.ts";
import {
  dropDatabase,
  programRuns,
  repoConfigPath,
  repoRoot,
  runEntry,
  uniqueName,
  writeTestConfig,
} from "./_helpers.ts";
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
    listeners(kafka.environment.KAFKA_ADVERTISED_LISTENERS).get("PLAINTEXT"),
    `${broker.host}:${broker.port}`,
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

/** "NAME://host:port,..." as a map from listener name to "host:port". */
function listeners(value: string): Map<string, string> {
  return new Map(
    value.split(",").map((l) => {
      const [name, address] = l.split("://");
      return [name, address];
    }),
  );
}

/** compose's KAFKA_* variables as the apache/kafka image turns them into server.properties. */
function imageProperties(environment: Record<string, unknown>): Map<string, string> {
  const properties = new Map<string, string>();
  for (const [name, value] of Object.entries(environment)) {
    if (!name.startsWith("KAFKA_")) continue;
    const key = name.slice(6).toLowerCase().replaceAll("___", "-").replaceAll("__", "\0")
      .replaceAll("_", ".").replaceAll("\0", "_");
    properties.set(key, String(value));
  }
  return properties;
}

const compose = parse(await Deno.readTextFile(join(repoRoot, "compose.yaml")));
const dockerfile = await Deno.readTextFile(join(repoRoot, "Dockerfile"));

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

Deno.test("compose.yaml's consumer reaches the broker's internal listener and probes /readyz", async () => {
  const kafka = compose.services.kafka.environment;
  const bound = listeners(kafka.KAFKA_LISTENERS);
  const advertised = listeners(kafka.KAFKA_ADVERTISED_LISTENERS);
  const protocols = new Map(
    kafka.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP.split(",").map((p: string) => p.split(":")),
  );
  // Every advertised listener is bound on the same port and has a protocol.
  for (const [name, address] of advertised) {
    assert.equal(bound.get(name)?.split(":").pop(), address.split(":").pop(), name);
    assert.equal(protocols.get(name), "PLAINTEXT", name);
  }
  assert.equal(advertised.get("INTERNAL"), "kafka:19092");
  assert.equal(kafka.KAFKA_INTER_BROKER_LISTENER_NAME, "INTERNAL");

  const { consumer, topic, mysql } = compose.services;
  for (const service of [consumer, topic]) {
    // Only with --profile consumer: `docker compose up -d` still starts Kafka and MySQL alone.
    assert.deepEqual(service.profiles, ["consumer"]);
    assert.equal(service.build, ".");
    assert.equal(service.environment.KAFKA_BROKERS, advertised.get("INTERNAL"));
    const url = new URL(service.environment.DATABASE_URL);
    assert.deepEqual([url.hostname, url.port, url.pathname.slice(1)], [
      "mysql",
      "3306",
      mysql.environment.MYSQL_DATABASE,
    ]);
  }
  assert.deepEqual(topic.command, ["deno", "task", "admin", "create", "--if-not-exists"]);
  assert.deepEqual(consumer.command, ["deno", "task", "consume"]);
  assert.deepEqual(consumer.depends_on, {
    kafka: { condition: "service_healthy" },
    mysql: { condition: "service_healthy" },
    topic: { condition: "service_completed_successfully" },
  });
  assert.deepEqual(consumer.healthcheck.test, ["CMD", "deno", "task", "readyz"]);
  const tasks = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json"))).tasks;
  assert.match(tasks.readyz, /tasks\/readyz\.ts$/);

  // The container's config, read with the container's environment.
  const configPath = consumer.environment.PIPELINE_CONFIG.replace(/^\/app\//, "");
  const config = parseConfig(await Deno.readTextFile(join(repoRoot, configPath)), {
    file: join(repoRoot, configPath),
    env: (name) => consumer.environment[name],
  });
  assert.deepEqual(config.kafka.brokers, ["kafka:19092"]);
  assert.equal(config.database.url, consumer.environment.DATABASE_URL);
  assert.deepEqual(config.consumer.http, { host: "0.0.0.0", port: 9464 });
  assert.deepEqual(consumer.ports, [`127.0.0.1:9464:${config.consumer.http!.port}`]);
});

Deno.test("deploy/pipeline.yaml is pipeline.yaml but for brokers, database.url and consumer.http", async () => {
  const read = async (path: string) =>
    parseConfig(await Deno.readTextFile(join(repoRoot, path)), {
      file: join(repoRoot, path),
      env: () => undefined,
    });
  const strip = (c: Awaited<ReturnType<typeof read>>) => ({
    ...c,
    source: "",
    kafka: { ...c.kafka, brokers: [] },
    database: { ...c.database, url: "" },
    consumer: { ...c.consumer, http: undefined },
  });
  const container = await read("deploy/pipeline.yaml");
  assert.deepEqual(strip(container), strip(await read("pipeline.yaml")));
  assert.deepEqual(container.kafka.brokers, ["kafka:19092"]);
  assert.equal(container.database.url, "mysql://root@mysql:3306/order_pipeline");
});

Deno.test("the Dockerfile installs Deno from npm, deno install --frozen, runs deno task consume", async () => {
  const steps = instructions(dockerfile);
  const ci = await Deno.readTextFile(join(repoRoot, ".ci", "run"));
  const version = ci.match(/^DENO_VERSION=(\S+)$/m)?.[1];
  assert.ok(version);
  // glibc: onnxruntime-node's binaries do not run on musl (alpine).
  assert.match(steps[0].op + " " + steps[0].args, /^FROM node:\d+-bookworm-slim$/);
  const runs = steps.filter((s) => s.op === "RUN").map((s) => s.args);
  assert.ok(runs.includes(`npm install -g deno@${version} && deno --version`), String(runs));
  assert.ok(runs.includes("deno install --frozen"), String(runs));
  const env = steps.filter((s) => s.op === "ENV").map((s) => s.args).join(" ");
  assert.match(
    env,
    new RegExp(`PIPELINE_CONFIG=${compose.services.consumer.environment.PIPELINE_CONFIG}\\b`),
  );
  assert.equal(steps.find((s) => s.op === "USER")?.args, "node");
  assert.deepEqual(JSON.parse(steps.find((s) => s.op === "CMD")!.args), [
    "deno",
    "task",
    "consume",
  ]);
  assert.match(
    steps.find((s) => s.op === "HEALTHCHECK")!.args,
    /CMD \["deno", "task", "readyz"\]$/,
  );
  assert.equal(steps.find((s) => s.op === "EXPOSE")?.args, "9464");
  // Files copied before `COPY . .` exist; a host's node_modules never overwrites the image's.
  for (const step of steps.filter((s) => s.op === "COPY")) {
    for (const source of step.args.split(/\s+/).filter((a) => !a.startsWith("--")).slice(0, -1)) {
      await Deno.stat(join(repoRoot, source));
    }
  }
  const ignored = (await Deno.readTextFile(join(repoRoot, ".dockerignore"))).split("\n");
  for (const path of ["node_modules", ".cache", ".git"]) assert.ok(ignored.includes(path), path);
});

const unitPath = join(repoRoot, "deploy", "order-pipeline-consumer.service");

Deno.test("the systemd unit runs deno task consume and waits for /readyz", async () => {
  const unit = await Deno.readTextFile(unitPath);
  const values = (key: string) =>
    unit.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  assert.deepEqual(values("ExecStart"), ["deno task consume"]);
  assert.deepEqual(values("ExecStartPost"), ["deno task readyz --wait 60"]);
  assert.ok(values("Environment").includes("PIPELINE_CONFIG=/etc/order-pipeline/pipeline.yaml"));
  // The unit in the docs is this file.
  const docs = await Deno.readTextFile(join(repoRoot, "docs", "operations.md"));
  assert.ok(docs.includes("```ini\n" + unit + "```"), "docs/operations.md quotes the unit");
});

const systemdAnalyze = await programRuns("systemd-analyze");

Deno.test({
  name: "systemd-analyze verify accepts the systemd unit",
  ignore: !systemdAnalyze,
  fn: async () => {
    const output = await new Deno.Command("systemd-analyze", { args: ["verify", unitPath] })
      .output();
    const said = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    assert.ok(output.success, said);
    assert.equal(said.trim(), "");
  },
});

Deno.test("compose.yaml's Kafka settings on a real broker: host and internal listeners both serve", async () => {
  await ensureServices();
  // The image's properties, on free local ports; the compose network's "kafka" is 127.0.0.1.
  const [external, internal, controller] = [freePortPair(), freePortPair(), freePortPair()];
  const ports: Record<string, number> = { "9092": external, "19092": internal, "9093": controller };
  const dir = await Deno.makeTempDir({ prefix: "compose_kafka_" });
  const properties = imageProperties(compose.services.kafka.environment);
  for (const [key, value] of properties) {
    properties.set(
      key,
      value.replace(/(?<=:)(9092|19092|9093)\b/g, (port) => String(ports[port]))
        .replaceAll("//kafka:", "//127.0.0.1:").replaceAll("//:", "//127.0.0.1:")
        .replaceAll("@localhost:", "@127.0.0.1:"),
    );
  }
  properties.set("log.dirs", join(dir, "data"));
  const file = join(dir, "server.properties");
  await Deno.writeTextFile(file, [...properties].map(([k, v]) => `${k}=${v}\n`).join(""));
  const classPath = `${await kafkaLibs()}/*`;
  const format = await new Deno.Command("java", {
    args: [
      "-cp",
      classPath,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      randomClusterId(),
      "-c",
      file,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(format.success, new TextDecoder().decode(format.stderr));
  const broker = new Deno.Command("java", {
    args: ["-Xmx256m", "-cp", classPath, "kafka.Kafka", file],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const outside = new KafkaTools(`127.0.0.1:${external}`);
    const inside = new KafkaTools(`127.0.0.1:${internal}`);
    const settings = (await loadConfig(repoConfigPath)).kafka;
    const cluster = new KafkaCluster({ ...settings, brokers: [`127.0.0.1:${internal}`] });
    // Wait with the project's client (no JVM per attempt) until the broker answers metadata.
    const deadline = Date.now() + 60_000;
    let admin: Awaited<ReturnType<typeof cluster.connectAdmin>> | undefined;
    while (!admin) {
      admin = await cluster.connectAdmin(5_000).catch(async (error) => {
        if (Date.now() > deadline) throw error;
        await new Promise((done) => setTimeout(done, 300));
        return undefined;
      });
    }
    try {
      await admin.createTopic({
        topic: "through_internal",
        partitions: 1,
        replicationFactor: 1,
        timeoutMs: 20_000,
      });
    } finally {
      await admin.close();
    }
    // Each client is told the address of the listener it came in on.
    assert.deepEqual(await outside.endpoints(), [
      { id: 1, host: "127.0.0.1", port: external, type: "broker" },
    ]);
    assert.deepEqual(await inside.endpoints(), [
      { id: 1, host: "127.0.0.1", port: internal, type: "broker" },
    ]);
    // What a container sends through the internal listener, the host reads through its own.
    const producer = await cluster.connectProducer({ acks: "all", compression: "none" });
    try {
      await producer.send("through_internal", [{ key: "k", value: "from a container" }]);
    } finally {
      await producer.close();
    }
    assert.deepEqual((await outside.read("through_internal")).map((r) => r.value), [
      "from a container",
    ]);
  } finally {
    broker.kill("SIGTERM");
    await broker.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task readyz: 0 while a consumer on 0.0.0.0 is ready, 1 once it stopped, 2 without http", async () => {
  await ensureServices();
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  const name = uniqueName("readyz");
  const config = await writeTestConfig({
    topic: name,
    "consumer.http": { host: "0.0.0.0", port },
  });
  const tools = new KafkaTools();
  await tools.createTopic(name, 1);
  const consumer = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "consumer.ts", "--config", config, "--quiet"],
    cwd: repoRoot,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const ready = await runEntry("tasks/readyz.ts", ["--config", config, "--wait", "60"]);
    assert.equal(ready.code, 0, ready.stderr);
    assert.match(
      ready.stdout,
      new RegExp(`^ready: http://127\\.0\\.0\\.1:${port}/readyz: 200 .*"group":"ok"`, "m"),
    );
  } finally {
    consumer.kill("SIGTERM");
    const stopped = await consumer.output();
    assert.equal(stopped.code, 0, new TextDecoder().decode(stopped.stderr));
    await tools.deleteTopics([name, `${name}.dlq`]);
    await dropDatabase(name);
  }
  const gone = await runEntry("tasks/readyz.ts", ["--config", config]);
  assert.equal(gone.code, 1, gone.stderr);
  assert.match(
    gone.stderr,
    new RegExp(`^not ready: http://127\\.0\\.0\\.1:${port}/readyz: no answer`, "m"),
  );
  const off = await runEntry("tasks/readyz.ts", ["--config", await writeTestConfig()]);
  assert.equal(off.code, 2, off.stderr);
  assert.match(off.stderr, /^error: Cannot ask \/readyz: consumer\.http is not set/m);
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

Deno.test("services up gives a MariaDB it starts a quarter of the memory, 256 MiB to 4 GiB", () => {
  const gib = 1024 ** 3;
  assert.equal(bufferPoolFor(24 * gib), 4 * gib);
  assert.equal(bufferPoolFor(8 * gib), 2 * gib);
  assert.equal(bufferPoolFor(0.5 * gib), 256 * 1024 ** 2);
  assert.equal(bufferPoolFor(3 * gib + 12345) % (1024 * 1024), 0, "whole MiB");
});
