/**
 * The development Kafka broker: a single-node KRaft broker and controller run from the Maven
 * jars of services/kafka/pom.xml, started when nothing answers at kafka.brokers and stopped
 * only if this project started it (its pid file and command line say so).
 */
import { join, resolve } from "node:path";
import type { PipelineConfig } from "../../lib/config/mod.ts";
import { errorText, UserError } from "../../lib/errors/mod.ts";
import { KafkaCluster } from "../../lib/kafka/mod.ts";
import { debugLog, log, warn } from "../../lib/log/mod.ts";
import { randomClusterId } from "./_cluster_id.ts";
import {
  type Endpoint,
  formatEndpoint,
  isLocalHost,
  parseEndpoint,
  portAnswers,
  type ServiceStatus,
} from "./_net.ts";
import { exited, isAlive, run, seconds, showLogTail } from "./_process.ts";

const repoRoot = resolve(import.meta.dirname!, "..", "..");
const kafkaDir = join(repoRoot, "services", "kafka");

/** Where the jars, config, data, log and pid file of the broker for `endpoint` live. */
export function kafkaPaths(endpoint: Endpoint, cacheDir = join(repoRoot, ".cache", "kafka")) {
  // One instance folder per port: KRaft stores the controller's address in its data, so a
  // broker on another port (tests use free ports) needs its own data.
  const instance = join(cacheDir, `broker-${endpoint.port}`);
  return {
    pom: join(kafkaDir, "pom.xml"),
    log4j: join(kafkaDir, "log4j2.properties"),
    libs: join(cacheDir, "libs"),
    instance,
    properties: join(instance, "server.properties"),
    data: join(instance, "data"),
    log: join(instance, "broker.log"),
    pid: join(instance, "broker.pid"),
  };
}

type KafkaPaths = ReturnType<typeof kafkaPaths>;

/**
 * The folder of Kafka's jars, which hold the broker and Kafka's own command-line tools; they
 * are fetched with Maven first if missing, and Java 17+ is checked.
 */
export async function kafkaLibs(): Promise<string> {
  // The jars are shared by every port.
  const paths = kafkaPaths({ host: "127.0.0.1", port: 9092 });
  await checkJava();
  await fetchJars(paths);
  return paths.libs;
}

/** server.properties of a single-node KRaft broker+controller; the controller uses port + 1. */
export function brokerProperties(endpoint: Endpoint, dataDir: string): string {
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  const controller = `${host}:${endpoint.port + 1}`;
  return [
    "# Written by `deno task services up`; changes are overwritten at the next start.",
    ...singleNodeSettings(controller, dataDir),
    `listeners=PLAINTEXT://${host}:${endpoint.port},CONTROLLER://${controller}`,
    `advertised.listeners=PLAINTEXT://${host}:${endpoint.port}`,
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "",
  ].join("\n");
}

/** The arguments after java's class path that format a new broker's storage, once. */
export function formatStorage(properties: string): string[] {
  return [
    "kafka.tools.StorageTool",
    "format",
    "--standalone",
    "-t",
    randomClusterId(),
    "-c",
    properties,
  ];
}

/**
 * The lines every single-node KRaft broker+controller of this project shares, whatever its
 * listeners: the development broker's and the secured test broker's.
 */
export function singleNodeSettings(controller: string, dataDir: string): string[] {
  return [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.bootstrap.servers=${controller}`,
    "controller.listener.names=CONTROLLER",
    `log.dirs=${dataDir}`,
    "num.partitions=1",
    // The pipeline creates its topics itself (admin.ts): a typo must not create one.
    "auto.create.topics.enable=false",
    "offsets.topic.replication.factor=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    // Consumers in tests join one by one; waiting 3 s for more members only slows them.
    "group.initial.rebalance.delay.ms=0",
  ];
}

/** Stops the broker at kafka.brokers' first address if, and only if, this project started it. */
export async function stopBroker(settings: PipelineConfig["kafka"]): Promise<void> {
  const endpoint = parseEndpoint(settings.brokers[0], 9092);
  const address = formatEndpoint(endpoint);
  const paths = kafkaPaths(endpoint);
  const pid = await ourBrokerPid(paths);
  if (pid === undefined) {
    const answering = await portAnswers(endpoint);
    log(
      `kafka: no broker started by this project for ${address}; nothing to stop` +
        (answering ? " (the one answering there is left alone)" : ""),
    );
    return;
  }
  const started = performance.now();
  log(`kafka: stopping the broker at ${address} (pid ${pid})`);
  Deno.kill(pid, "SIGTERM");
  // A controlled shutdown takes a few seconds; after 60 s the broker is stuck.
  if (!await exited(pid, 60_000)) {
    warn(`the broker (pid ${pid}) did not stop within 60 s after SIGTERM; killing it`);
    Deno.kill(pid, "SIGKILL");
    await exited(pid, 10_000);
  }
  await Deno.remove(paths.pid).catch(() => {});
  log(`kafka: stopped in ${seconds(started)} s`);
}

export async function kafkaStatus(settings: PipelineConfig["kafka"]): Promise<ServiceStatus> {
  const endpoint = parseEndpoint(settings.brokers[0], 9092);
  const address = formatEndpoint(endpoint);
  const paths = kafkaPaths(endpoint);
  const pid = await ourBrokerPid(paths);
  const owner = pid === undefined
    ? "not started by this project"
    : `started by this project, pid ${pid}, log ${paths.log}`;
  if (!await portAnswers(endpoint)) {
    return { name: "kafka", up: false, address, detail: `nothing answers (${owner})` };
  }
  try {
    const brokers = await kafkaBrokerCount(settings, endpoint, 5000);
    return { name: "kafka", up: true, address, detail: `${brokers} broker(s); ${owner}` };
  } catch (error) {
    const detail = `answers, but not as Kafka: ${causeText(error)}`;
    return { name: "kafka", up: false, address, detail };
  }
}

/** Asks the broker for the cluster's metadata: proof that Kafka, not just a port, answers. */
async function kafkaBrokerCount(
  settings: PipelineConfig["kafka"],
  endpoint: Endpoint,
  timeoutMs: number,
): Promise<number> {
  const single = {
    ...settings,
    brokers: [formatEndpoint(endpoint)],
    connectionTimeoutMs: Math.min(timeoutMs, settings.connectionTimeoutMs),
    requestTimeoutMs: timeoutMs,
  };
  const cluster = new KafkaCluster(single, { retries: 0, onLog: debugLog() });
  const admin = await cluster.connectAdmin(timeoutMs);
  try {
    return await admin.brokerCount();
  } finally {
    await admin.close();
  }
}

export async function ensureKafka(
  settings: PipelineConfig["kafka"],
  timeoutMs: number,
): Promise<void> {
  const endpoint = parseEndpoint(settings.brokers[0], 9092);
  const address = formatEndpoint(endpoint);
  const paths = kafkaPaths(endpoint);
  let pid = await ourBrokerPid(paths);
  if (pid === undefined && await portAnswers(endpoint)) {
    try {
      const brokers = await kafkaBrokerCount(settings, endpoint, 5000);
      log(`kafka: ${address} answers (${brokers} broker(s)); using it`);
      return;
    } catch (error) {
      const reason = causeText(error);
      throw new UserError(
        `Cannot use Kafka at ${address}: it answers, but not as Kafka (${reason})`,
        {
          hint: "another program holds that port: stop it, or set kafka.brokers to a free port",
          cause: error,
        },
      );
    }
  }
  if (pid === undefined) {
    if (!isLocalHost(endpoint.host)) {
      throw new UserError(
        `Cannot reach Kafka at ${address}: nothing answers, and only a local broker can be started`,
        {
          hint: "start the broker there, or set kafka.brokers to 127.0.0.1:9092 (or another port)",
        },
      );
    }
    // Test processes running side by side may all find no broker: one starts it, the others
    // wait for the lock, then find its pid file.
    await Deno.mkdir(paths.instance, { recursive: true });
    using lock = await Deno.open(join(paths.instance, "start.lock"), {
      create: true,
      write: true,
    });
    await lock.lock(true);
    pid = await ourBrokerPid(paths) ?? await startBroker(endpoint, paths);
  } else {
    log(`kafka: the broker this project started for ${address} runs (pid ${pid})`);
  }
  await waitForBroker(settings, endpoint, paths, pid, timeoutMs);
}

/** Fetches the jars if needed, writes the config, formats the storage once, starts the JVM. */
async function startBroker(endpoint: Endpoint, paths: KafkaPaths): Promise<number> {
  const started = performance.now();
  const controller = { host: endpoint.host, port: endpoint.port + 1 };
  if (await portAnswers(controller)) {
    throw new UserError(
      `Cannot start Kafka at ${formatEndpoint(endpoint)}: its controller port ` +
        `${controller.port} is already taken`,
      { hint: "choose another port in kafka.brokers (the broker needs port and port + 1)" },
    );
  }
  await checkJava();
  await fetchJars(paths);
  await Deno.mkdir(paths.instance, { recursive: true });
  await Deno.writeTextFile(paths.properties, brokerProperties(endpoint, paths.data));
  const classPath = `${paths.libs}/*`;
  const logConfig = `-Dlog4j2.configurationFile=${paths.log4j}`;
  try {
    await Deno.stat(join(paths.data, "meta.properties"));
  } catch {
    log(`kafka: formatting the storage in ${paths.data}`);
    await run("java", [
      logConfig,
      "-cp",
      classPath,
      ...formatStorage(paths.properties),
    ], { what: "format the Kafka storage" });
  }
  await Deno.writeTextFile(paths.log, `--- broker started ${new Date().toISOString()}\n`);
  // The shell backgrounds the JVM with its output in the log and prints its pid. The shell
  // runs detached (its own session and process group), so the broker outlives this process
  // and a Ctrl-C in the terminal does not reach it.
  const launcher = new Deno.Command("sh", {
    args: [
      "-c",
      'log="$1"; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!',
      "sh",
      paths.log,
      "java",
      "-Xmx512m",
      "-Djava.awt.headless=true",
      logConfig,
      "-cp",
      classPath,
      "kafka.Kafka",
      paths.properties,
    ],
    cwd: paths.instance,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  });
  const output = await launcher.output();
  const pid = Number(new TextDecoder().decode(output.stdout).trim());
  if (!output.success || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(
      `Cannot start Kafka: the launcher failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  await Deno.writeTextFile(paths.pid, `${pid}\n`);
  log(
    `kafka: started a broker at ${formatEndpoint(endpoint)} (pid ${pid}, log ${paths.log}) ` +
      `after ${seconds(started)} s of preparation`,
  );
  return pid;
}

async function waitForBroker(
  settings: PipelineConfig["kafka"],
  endpoint: Endpoint,
  paths: KafkaPaths,
  pid: number,
  timeoutMs: number,
): Promise<void> {
  const address = formatEndpoint(endpoint);
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!await isAlive(pid)) {
      await Deno.remove(paths.pid).catch(() => {});
      await showLogTail(paths.log);
      throw new UserError(`Cannot start Kafka at ${address}: the broker exited while starting`, {
        hint: `read ${paths.log} (above: its last lines)`,
      });
    }
    if (await portAnswers(endpoint, 500)) {
      try {
        await kafkaBrokerCount(settings, endpoint, 2000);
        log(`kafka: ${address} answers metadata requests after ${seconds(started)} s`);
        return;
      } catch (error) {
        lastError = error;
      }
    }
    await new Promise((done) => setTimeout(done, 250));
  }
  await showLogTail(paths.log);
  const reason = lastError === undefined ? "" : `: ${causeText(lastError)}`;
  throw new UserError(
    `Cannot start Kafka at ${address}: no answer within ${timeoutMs / 1000} s${reason}`,
    {
      hint: `read ${paths.log}; the broker still runs (pid ${pid}): ` +
        "`deno task services down` stops it",
    },
  );
}

async function checkJava(): Promise<void> {
  let text: string;
  try {
    const output = await new Deno.Command("java", { args: ["-version"], stdin: "null" }).output();
    text = new TextDecoder().decode(output.stderr);
  } catch (error) {
    throw new UserError("Cannot start Kafka: java is not installed", {
      hint: "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
      cause: error,
    });
  }
  const major = Number(/version "(?:1\.)?(\d+)/.exec(text)?.[1]);
  if (!(major >= 17)) {
    throw new UserError(
      `Cannot start Kafka: it needs Java 17 or later, found "${text.split("\n")[0]}"`,
      { hint: "install a Java 17+ runtime and put it first on PATH" },
    );
  }
}

/** Copies the broker's jars out of Maven's cache; skipped while the pom is unchanged. */
async function fetchJars(paths: KafkaPaths): Promise<void> {
  const pom = await Deno.readFile(paths.pom);
  const stamp = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", pom)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const stampFile = join(paths.libs, ".pom-sha256");
  if ((await Deno.readTextFile(stampFile).catch(() => "")).trim() === stamp) return;
  const started = performance.now();
  log(`kafka: fetching the broker's jars with Maven into ${paths.libs}`);
  await Deno.remove(paths.libs, { recursive: true }).catch(() => {});
  await run("mvn", [
    "-q",
    "-B",
    "-f",
    paths.pom,
    "dependency:copy-dependencies",
    `-DoutputDirectory=${paths.libs}`,
  ], {
    what: "fetch the Kafka jars with Maven",
    hint: "Maven needs Maven Central (or a ~/.m2 that holds the jars): run the command " +
      `\`mvn -B -f ${paths.pom} dependency:copy-dependencies\` to see why`,
  });
  await Deno.writeTextFile(stampFile, `${stamp}\n`);
  log(`kafka: jars ready in ${seconds(started)} s`);
}

/** The pid in the pid file if that process is alive and is our broker; a stale file is removed. */
async function ourBrokerPid(paths: KafkaPaths): Promise<number | undefined> {
  const text = await Deno.readTextFile(paths.pid).catch(() => undefined);
  if (text === undefined) return undefined;
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0 && await isAlive(pid)) {
    // A recycled pid must never be mistaken for the broker: check its command line.
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    const args = cmdline.split("\0");
    if (args.includes("kafka.Kafka") && args.includes(paths.properties)) return pid;
  }
  await Deno.remove(paths.pid).catch(() => {});
  return undefined;
}

/** The root reason of a failed Kafka check, without connectAdmin's advice to run this command. */
function causeText(error: unknown): string {
  return errorText((error as Error)?.cause ?? error);
}
