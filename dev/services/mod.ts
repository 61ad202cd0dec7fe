/**
 * The services the pipeline needs on a development machine or in CI: a Kafka broker (started
 * from the Maven jars of services/kafka/pom.xml when nothing answers) and MariaDB (started
 * with the system's mariadbd when nothing answers). Anything already answering is reused and
 * never stopped: `down` stops only a broker this project started.
 */
import { join, resolve } from "node:path";
import { concatBytes } from "../../lib/bytes/mod.ts";
import { maskUrl, type PipelineConfig } from "../../lib/config/mod.ts";
import { reportError } from "../../lib/cli/mod.ts";
import { errorText, UserError } from "../../lib/errors/mod.ts";
import { KafkaCluster } from "../../lib/kafka/mod.ts";
import { checkLogin } from "../../lib/db/mod.ts";
import { debugLog, log, warn } from "../../lib/log/mod.ts";
import { randomClusterId } from "./_cluster_id.ts";

export { randomClusterId };
export { makeTlsMaterial, startSecureKafka, startSecureMariaDb } from "./_secure.ts";
export type {
  Credentials,
  SecureKafka,
  SecureKafkaOptions,
  SecureMariaDb,
  SecureMariaDbOptions,
  TlsMaterial,
} from "./_secure.ts";

const repoRoot = resolve(import.meta.dirname!, "..", "..");
const kafkaDir = join(repoRoot, "services", "kafka");
const mariadbd = "/usr/sbin/mariadbd";

/** A host and TCP port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Parses "host:port", "[::1]:port" or "host" (then `defaultPort`). */
export function parseEndpoint(address: string, defaultPort: number): Endpoint {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  const port = Number(match?.[2] ?? defaultPort);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`Cannot parse address "${address}": expected host:port`);
  }
  return { host: match[1], port };
}

/** "host:port", with brackets around IPv6 hosts. */
function formatEndpoint({ host, port }: Endpoint): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Only a service on this machine can be started by this project. */
function isLocalHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Does something accept TCP connections there (within `timeoutMs`)? */
export async function portAnswers(endpoint: Endpoint, timeoutMs = 1000): Promise<boolean> {
  const connecting = Deno.connect({ hostname: endpoint.host, port: endpoint.port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((done) => timer = setTimeout(done, timeoutMs, "timeout"));
  try {
    const result = await Promise.race([connecting, timeout]);
    if (result === "timeout") {
      // A late connection must still be closed.
      connecting.then((conn) => conn.close(), () => {});
      return false;
    }
    result.close();
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

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
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.bootstrap.servers=${controller}`,
    `listeners=PLAINTEXT://${host}:${endpoint.port},CONTROLLER://${controller}`,
    `advertised.listeners=PLAINTEXT://${host}:${endpoint.port}`,
    "controller.listener.names=CONTROLLER",
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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
    "",
  ].join("\n");
}

/** Options of servicesUp(). */
export interface UpOptions {
  /** How long each service may take to answer after being started. */
  readonly timeoutMs?: number;
}

/** Makes sure Kafka and MariaDB answer, starting what is missing and can be started here. */
export async function servicesUp(config: PipelineConfig, options: UpOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  // Both may take seconds to start: start them side by side.
  const results = await Promise.allSettled([
    ensureKafka(config.kafka, timeoutMs),
    ensureMariaDb(config.database, timeoutMs),
  ]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  // Both can fail: say what is wrong with the first here, the caller reports the other.
  for (const error of failed.slice(0, -1)) reportError(error);
  if (failed.length) throw failed.at(-1);
}

/** Stops the broker for the configured address if, and only if, this project started it. */
export async function servicesDown(config: PipelineConfig): Promise<void> {
  const endpoint = parseEndpoint(config.kafka.brokers[0], 9092);
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

/** One line of `services status`. */
export interface ServiceStatus {
  readonly name: "kafka" | "mariadb";
  readonly up: boolean;
  /** Where it was looked for; a database URL has its password masked. */
  readonly address: string;
  readonly detail: string;
}

/** What answers at the configured addresses. */
export async function servicesStatus(config: PipelineConfig): Promise<ServiceStatus[]> {
  return await Promise.all([kafkaStatus(config.kafka), mariaDbStatus(config.database)]);
}

async function kafkaStatus(settings: PipelineConfig["kafka"]): Promise<ServiceStatus> {
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

/** The `database` section of pipeline.yaml. */
type DatabaseSettings = PipelineConfig["database"];

async function mariaDbStatus(database: DatabaseSettings): Promise<ServiceStatus> {
  const { url } = database;
  const address = maskUrl(url);
  const greeting = await mysqlGreeting(databaseEndpoint(url), 2000);
  if (!("version" in greeting)) {
    return { name: "mariadb", up: false, address, detail: greeting.problem };
  }
  // A greeting proves a server, not that database.url's user may use it.
  const server = `server ${greeting.version}`;
  const login = await checkLogin(database);
  if (!login.ok) {
    return { name: "mariadb", up: false, address, detail: `${server}; ${login.problem}` };
  }
  const state = login.databaseExists
    ? "login ok"
    : "login ok; the database does not exist yet (the first command that opens it creates it)";
  return { name: "mariadb", up: true, address, detail: `${server}; ${state}` };
}

/** Throws a UserError when database.url's user cannot log in to a server that answers. */
async function requireLogin(database: DatabaseSettings): Promise<void> {
  const { url } = database;
  const login = await checkLogin(database);
  if (!login.ok) {
    throw new UserError(`Cannot use the database at ${maskUrl(url)}: ${login.problem}`, {
      hint: "check the user and password in database.url (or $DATABASE_URL)",
    });
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

async function ensureKafka(settings: PipelineConfig["kafka"], timeoutMs: number): Promise<void> {
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
      "kafka.tools.StorageTool",
      "format",
      "--standalone",
      "-t",
      randomClusterId(),
      "-c",
      paths.properties,
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

/** Runs a command to completion and returns its stdout; on failure, shows its last lines. */
async function run(
  command: string,
  args: string[],
  options: { what: string; hint?: string },
): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdin: "null" }).output();
  } catch (error) {
    throw new UserError(`Cannot ${options.what}: ${command} is not installed`, {
      hint: options.hint,
      cause: error,
    });
  }
  if (output.success) return new TextDecoder().decode(output.stdout);
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").trim().split("\n").slice(-15);
  for (const line of lines) log(`  ${line}`);
  throw new UserError(`Cannot ${options.what}: ${command} exited with code ${output.code}`, {
    hint: options.hint,
  });
}

async function showLogTail(file: string): Promise<void> {
  const text = await Deno.readTextFile(file).catch(() => "");
  for (const line of text.trimEnd().split("\n").slice(-20)) log(`  ${line}`);
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

async function isAlive(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => undefined);
  if (stat === undefined) return false;
  if (!/^\d+ \(.*\) Z /s.test(stat)) return true;
  // "Z" is a process that exited and waits to be collected, or one whose main thread ended
  // while other threads still run (the JVM during shutdown): only the latter has threads left.
  let threads = 0;
  try {
    for await (const _ of Deno.readDir(`/proc/${pid}/task`)) threads++;
  } catch {
    return false;
  }
  return threads > 1;
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!await isAlive(pid)) return true;
    await new Promise((done) => setTimeout(done, 200));
  }
  return false;
}

function databaseEndpoint(url: string): Endpoint {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 3306) };
}

type Greeting = { version: string } | { problem: string };

/**
 * Reads the server's first packet: a MySQL/MariaDB server greets every new connection with
 * its version (or an error packet), which proves it accepts connections without logging in.
 */
async function mysqlGreeting(endpoint: Endpoint, timeoutMs: number): Promise<Greeting> {
  let conn: Deno.TcpConn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Greeting>((done) =>
    timer = setTimeout(() => {
      done({ problem: `no greeting within ${timeoutMs} ms` });
      try {
        conn?.close();
      } catch {
        // already closed
      }
    }, timeoutMs)
  );
  const greet = async (): Promise<Greeting> => {
    try {
      conn = await Deno.connect({ hostname: endpoint.host, port: endpoint.port });
    } catch (error) {
      return { problem: `nothing answers (${(error as Error).message.split(" (")[0]})` };
    }
    try {
      const packet = await readPacket(conn);
      if (packet[0] === 0xff) {
        // Error packet: 2-byte code, then an optional "#" + 5-char SQL state, then the text.
        const body = packet.subarray(3);
        const text = new TextDecoder().decode(body[0] === 0x23 ? body.subarray(6) : body);
        return { problem: `the server refuses connections: ${text}` };
      }
      if (packet[0] !== 10) return { problem: "answers, but not as MySQL/MariaDB" };
      const end = packet.indexOf(0, 1);
      const version = new TextDecoder().decode(packet.subarray(1, end < 0 ? undefined : end));
      // MariaDB prefixes "5.5.5-" for the sake of old replication clients.
      return { version: version.replace(/^5\.5\.5-(?=.*MariaDB)/, "") };
    } catch (error) {
      return { problem: `answers, but not as MySQL/MariaDB (${(error as Error).message})` };
    } finally {
      try {
        conn.close();
      } catch {
        // closed by the timeout
      }
    }
  };
  try {
    return await Promise.race([greet(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readPacket(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    const all = concatBytes(chunks);
    if (all.length >= 4) {
      const length = all[0] | all[1] << 8 | all[2] << 16;
      if (all.length >= 4 + length) return all.subarray(4, 4 + length);
    }
    const n = await conn.read(buffer);
    if (n === null) throw new Error("connection closed");
    chunks.push(buffer.slice(0, n));
  }
}

async function ensureMariaDb(database: DatabaseSettings, timeoutMs: number): Promise<void> {
  const { url } = database;
  const endpoint = databaseEndpoint(url);
  const address = formatEndpoint(endpoint);
  const first = await mysqlGreeting(endpoint, 3000);
  if ("version" in first) {
    await requireLogin(database);
    log(`mariadb: ${address} answers (server ${first.version}); using it`);
    return;
  }
  const canStart = isLocalHost(endpoint.host) &&
    await Deno.stat(mariadbd).then(() => true, () => false);
  if (!canStart || !first.problem.startsWith("nothing answers")) {
    throw new UserError(`Cannot reach the database at ${maskUrl(url)}: ${first.problem}`, {
      hint: isLocalHost(endpoint.host)
        ? "start MySQL/MariaDB (Debian: apt-get install mariadb-server), or `docker compose up -d`"
        : "start it there, or fix database.url in pipeline.yaml (or $DATABASE_URL)",
    });
  }
  const started = performance.now();
  log(`mariadb: nothing answers at ${address}; starting ${mariadbd}`);
  const socketDir = await Deno.stat("/run/mysqld").then(() => true, () => false);
  if (!socketDir && Deno.uid() === 0) {
    // /run is emptied at boot; mariadbd needs its socket folder and cannot create it as mysql.
    await run("install", ["-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"], {
      what: "create /run/mysqld",
    });
  }
  // The server's default 128 MiB buffer pool makes every insert a disk read once the indexes
  // outgrow it (docs/database.md#tuning): a quarter of the machine's memory, 256 MiB to 4 GiB.
  const pool = bufferPoolFor(Deno.systemMemoryInfo().total);
  log(`mariadb: buffer pool ${formatMiB(pool)} (a quarter of this machine's memory)`);
  const daemon = ["--exec", mariadbd, "--", `--innodb-buffer-pool-size=${pool}`];
  const hint = "starting the system's MariaDB needs root: sudo service mariadb start";
  const said = await run("start-stop-daemon", ["--start", "--oknodo", "--background", ...daemon], {
    what: "start MariaDB",
    hint,
  });
  if (/already running/.test(said)) {
    throw new UserError(
      `Cannot reach the database at ${maskUrl(url)}: ${mariadbd} runs, but not at ${address}`,
      { hint: "check port and bind-address in /etc/mysql/, or database.url in pipeline.yaml" },
    );
  }
  const deadline = Date.now() + timeoutMs;
  let last: Greeting = first;
  while (Date.now() < deadline) {
    last = await mysqlGreeting(endpoint, 2000);
    if ("version" in last) {
      log(`mariadb: ${address} answers (server ${last.version}) after ${seconds(started)} s`);
      await requireLogin(database);
      return;
    }
    // start-stop-daemon --status: 0 running, 3 not running.
    const status = await new Deno.Command("start-stop-daemon", {
      args: ["--status", ...daemon],
      stdin: "null",
    }).output();
    if (status.code === 3) {
      throw new UserError(`Cannot start MariaDB at ${address}: ${mariadbd} exited at once`, {
        hint: `run ${mariadbd} in a terminal to see why`,
      });
    }
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new UserError(
    `Cannot start MariaDB at ${address}: ${"problem" in last ? last.problem : ""} after ` +
      `${timeoutMs / 1000} s`,
    { hint: `run ${mariadbd} in a terminal to see why it does not start` },
  );
}

/** The root reason of a failed Kafka check, without connectAdmin's advice to run this command. */
function causeText(error: unknown): string {
  return errorText((error as Error)?.cause ?? error);
}

/** InnoDB's buffer pool for a machine with `total` bytes of memory, in whole MiB. */
export function bufferPoolFor(total: number): number {
  const mib = 1024 * 1024;
  const quarter = Math.floor(total / 4 / mib) * mib;
  return Math.min(4096 * mib, Math.max(256 * mib, quarter));
}

function formatMiB(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}
