/**
 * Secured servers for tests, each in a temporary folder of its own: TLS material made with
 * openssl, a Kafka broker with a SASL_SSL listener, and a MariaDB that accepts TLS only.
 * Nothing here touches the shared development services; stop() removes everything it made.
 */
import { join, resolve } from "node:path";
import { formatStorage, singleNodeSettings } from "./_kafka.ts";

const repoRoot = resolve(import.meta.dirname!, "../..");
/** The broker's log4j2 config of `deno task services up`: INFO lines on stdout. */
const log4jConfig = join(repoRoot, "services", "kafka", "log4j2.properties");

/** PEM files: a CA, a server certificate it signed, a client certificate, an unrelated CA. */
export interface TlsMaterial {
  readonly dir: string;
  readonly caFile: string;
  /** Certificate for `localhost` and 127.0.0.1 (subjectAltName), signed by caFile. */
  readonly serverCertFile: string;
  /** PKCS#8, unencrypted. */
  readonly serverKeyFile: string;
  /** Client certificate (CN=pipeline-client, clientAuth), signed by caFile. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A CA that signed nothing here: trusting only it must fail. */
  readonly otherCaFile: string;
}

/** Writes the TLS material into `dir` (created if missing); certificates last two days. */
export async function makeTlsMaterial(dir: string): Promise<TlsMaterial> {
  await Deno.mkdir(dir, { recursive: true });
  const at = (name: string) => join(dir, name);
  // P-256 keys: generated in milliseconds, and both Kafka's PEM key store and MariaDB read them.
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const selfSignedCa = (name: string, subject: string) =>
    openssl([
      "req",
      "-x509",
      ...newKey,
      "-keyout",
      at(`${name}.key`),
      "-out",
      at(`${name}.pem`),
      "-days",
      "2",
      "-subj",
      subject,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  const signed = async (name: string, subject: string, extensions: string) => {
    await openssl([
      "req",
      ...newKey,
      "-keyout",
      at(`${name}.key`),
      "-out",
      at(`${name}.csr`),
      "-subj",
      subject,
    ]);
    await Deno.writeTextFile(at(`${name}.ext`), extensions);
    await openssl([
      "x509",
      "-req",
      "-in",
      at(`${name}.csr`),
      "-CA",
      at("ca.pem"),
      "-CAkey",
      at("ca.key"),
      "-CAcreateserial",
      "-out",
      at(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      at(`${name}.ext`),
    ]);
  };
  await selfSignedCa("ca", "/CN=order-pipeline test CA");
  await selfSignedCa("other-ca", "/CN=unrelated test CA");
  await signed(
    "server",
    "/CN=localhost",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  await signed("client", "/CN=pipeline-client", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caFile: at("ca.pem"),
    serverCertFile: at("server.pem"),
    serverKeyFile: at("server.key"),
    clientCertFile: at("client.pem"),
    clientKeyFile: at("client.key"),
    otherCaFile: at("other-ca.pem"),
  };
}

async function openssl(args: string[]): Promise<void> {
  const output = await new Deno.Command("openssl", { args, stdin: "null" }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot make TLS material: openssl ${args[0]} failed: ${text}`);
  }
}

/** A user name and password. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Options of startSecureKafka(). */
export interface SecureKafkaOptions {
  /** The folder of Kafka 4.1.1's jars (`deno task services up` fetches them). */
  readonly libs: string;
  /** TLS material to use; by default new material in the broker's folder. */
  readonly tls?: TlsMaterial;
  /** Whether clients must present a certificate signed by the CA (default "none"). */
  readonly clientAuth?: "none" | "requested" | "required";
  readonly timeoutMs?: number;
}

/** A running broker with one SASL_SSL listener. */
export interface SecureKafka {
  /** "127.0.0.1:port" of the SASL_SSL listener. */
  readonly brokers: string;
  readonly tls: TlsMaterial;
  /** Accepted with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. */
  readonly user: Credentials;
  readonly logFile: string;
  /** Kills the broker and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts a single-node KRaft broker+controller on free ports of 127.0.0.1: SASL_SSL for
 * clients, PLAINTEXT for the controller and for the broker's own connections (both bound to
 * 127.0.0.1). Takes about 5 s on two cores.
 */
export async function startSecureKafka(options: SecureKafkaOptions): Promise<SecureKafka> {
  const classPath = await kafkaClassPath(options.libs);
  const dir = await Deno.makeTempDir({ prefix: "secure_kafka_" });
  try {
    const tls = options.tls ?? await makeTlsMaterial(join(dir, "tls"));
    // Kafka's PEM key store is one file: the private key, then the certificate chain.
    const keystore = join(dir, "keystore.pem");
    await Deno.writeTextFile(
      keystore,
      (await Deno.readTextFile(tls.serverKeyFile)) + (await Deno.readTextFile(tls.serverCertFile)),
    );
    const user = { username: "pipeline", password: randomSecret() };
    const [client, controller, internal] = freePorts(3);
    const properties = join(dir, "server.properties");
    const logFile = join(dir, "broker.log");
    await Deno.writeTextFile(
      properties,
      secureBrokerProperties({
        ports: { client, controller, internal },
        dataDir: join(dir, "data"),
        keystore,
        truststore: tls.caFile,
        clientAuth: options.clientAuth ?? "none",
        plainUsers: [user],
      }),
    );
    // C1 only and the serial collector: the JVMs start in half the time, plenty for tests.
    const jvm = [
      "-XX:TieredStopAtLevel=1",
      "-XX:+UseSerialGC",
      "-Xmx512m",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${log4jConfig}`,
      "-cp",
      classPath,
    ];
    const scram = ["SCRAM-SHA-256", "SCRAM-SHA-512"].flatMap((mechanism) => [
      "--add-scram",
      `${mechanism}=[name=${user.username},password=${user.password}]`,
    ]);
    const format = await new Deno.Command("java", {
      args: [
        ...jvm,
        ...formatStorage(properties),
        ...scram,
      ],
      stdin: "null",
    }).output();
    if (!format.success) {
      const text = new TextDecoder().decode(format.stdout) +
        new TextDecoder().decode(format.stderr);
      throw new Error(`Cannot format the secured broker's storage:\n${tail(text, 20)}`);
    }
    const broker = spawnLogged("java", [...jvm, "kafka.Kafka", properties], logFile, dir);
    const stop = stopper(broker, dir);
    try {
      await waitUntilReady({
        what: "the secured Kafka broker",
        child: broker,
        logFile,
        ready: /Kafka Server started/,
        port: client,
        timeoutMs: options.timeoutMs ?? 60_000,
      });
    } catch (error) {
      await stop();
      throw error;
    }
    return {
      brokers: `127.0.0.1:${client}`,
      tls,
      user,
      logFile,
      stop,
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** server.properties of the secured broker. */
function secureBrokerProperties(options: {
  ports: { client: number; controller: number; internal: number };
  dataDir: string;
  keystore: string;
  truststore: string;
  clientAuth: "none" | "requested" | "required";
  plainUsers: readonly Credentials[];
}): string {
  const { client, controller, internal } = options.ports;
  const jaasValue = (text: string) => JSON.stringify(text);
  const plainUsers = options.plainUsers
    .map((u) => `user_${u.username}=${jaasValue(u.password)}`).join(" ");
  const scramModule = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
  return [
    ...singleNodeSettings(`127.0.0.1:${controller}`, options.dataDir),
    `listeners=SASL_SSL://127.0.0.1:${client},CONTROLLER://127.0.0.1:${controller},` +
    `INTERNAL://127.0.0.1:${internal}`,
    `advertised.listeners=SASL_SSL://127.0.0.1:${client},INTERNAL://127.0.0.1:${internal}`,
    "inter.broker.listener.name=INTERNAL",
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL",
    "ssl.keystore.type=PEM",
    `ssl.keystore.location=${options.keystore}`,
    "ssl.truststore.type=PEM",
    `ssl.truststore.location=${options.truststore}`,
    // The broker-wide ssl.client.auth applies to SSL listeners only, not to SASL_SSL.
    `listener.name.sasl_ssl.ssl.client.auth=${options.clientAuth}`,
    "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "listener.name.sasl_ssl.plain.sasl.jaas.config=" +
    `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${scramModule}`,
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scramModule}`,
    "",
  ].join("\n");
}

async function kafkaClassPath(libs: string): Promise<string> {
  const jar = join(libs, "kafka_2.13-4.1.1.jar");
  try {
    await Deno.stat(jar);
  } catch {
    throw new Error(
      `Cannot start a secured Kafka broker: ${jar} is missing ` +
        "(`deno task services up` fetches the jars into .cache/kafka/libs)",
    );
  }
  return `${libs}/*`;
}

/** Options of startSecureMariaDb(). */
export interface SecureMariaDbOptions {
  /** TLS material to use; by default new material in the server's folder. */
  readonly tls?: TlsMaterial;
  readonly timeoutMs?: number;
}

/** A running MariaDB that refuses connections without TLS (require_secure_transport). */
export interface SecureMariaDb {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly tls: TlsMaterial;
  /** May create databases and tables (ALL on *.*), from any host, with a password. */
  readonly user: Credentials;
  /** Like `user`, but must also present a client certificate signed by the CA (REQUIRE X509). */
  readonly x509User: Credentials;
  readonly logFile: string;
  /** Kills the server and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts a MariaDB of its own from the system's binaries (`--no-defaults`: /etc sets
 * user=mysql) on a free port of 127.0.0.1, TLS required. Takes about 3 s.
 */
export async function startSecureMariaDb(
  options: SecureMariaDbOptions = {},
): Promise<SecureMariaDb> {
  const dir = await Deno.makeTempDir({ prefix: "secure_mariadb_" });
  try {
    const tls = options.tls ?? await makeTlsMaterial(join(dir, "tls"));
    const dataDir = join(dir, "data");
    const logFile = join(dir, "error.log");
    const innodb = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=64M"];
    const install = await new Deno.Command("mariadb-install-db", {
      args: [
        "--no-defaults",
        "--user=root",
        `--datadir=${dataDir}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        ...innodb,
      ],
      stdin: "null",
    }).output();
    if (!install.success) {
      const text = new TextDecoder().decode(install.stdout) +
        new TextDecoder().decode(install.stderr);
      throw new Error(`Cannot create the secured MariaDB's data:\n${tail(text, 20)}`);
    }
    const user = { username: "pipeline", password: randomSecret() };
    const x509User = { username: "pipeline_x509", password: randomSecret() };
    const initFile = join(dir, "init.sql");
    const sqlString = (text: string) => `'${text.replace(/[\\']/g, "\\$&")}'`;
    await Deno.writeTextFile(
      initFile,
      [user, x509User].map((u, i) =>
        `CREATE USER ${sqlString(u.username)}@'%' IDENTIFIED BY ${sqlString(u.password)}` +
        `${i ? " REQUIRE X509" : ""};\nGRANT ALL ON *.* TO ${sqlString(u.username)}@'%';\n`
      ).join(""),
    );
    const [port] = freePorts(1);
    const server = new Deno.Command("mariadbd", {
      args: [
        "--no-defaults",
        "--user=root",
        `--datadir=${dataDir}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--socket=${join(dir, "mariadb.sock")}`,
        `--pid-file=${join(dir, "mariadb.pid")}`,
        `--log-error=${logFile}`,
        // Else 127.0.0.1 is "localhost", and the anonymous ''@localhost wins over 'user'@'%'.
        "--skip-name-resolve",
        `--ssl-cert=${tls.serverCertFile}`,
        `--ssl-key=${tls.serverKeyFile}`,
        `--ssl-ca=${tls.caFile}`,
        "--require-secure-transport=ON",
        `--init-file=${initFile}`,
        ...innodb,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const stop = stopper(server, dir);
    try {
      await waitUntilReady({
        what: "the secured MariaDB",
        child: server,
        logFile,
        ready: /ready for connections/,
        port,
        timeoutMs: options.timeoutMs ?? 30_000,
      });
    } catch (error) {
      await stop();
      throw error;
    }
    return {
      host: "127.0.0.1",
      port,
      tls,
      user,
      x509User,
      logFile,
      stop,
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Letters and digits only: no quoting trouble in JAAS, SQL, URLs or SCRAM's format option. */
function randomSecret(): string {
  const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(20)), (b) => alphabet[b % 57]).join("");
}

/** Ports the system hands out as free right now (closed again, so a small race remains). */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Runs a command with stdout and stderr appended to `logFile` (the pid is the command's). */
function spawnLogged(command: string, args: string[], logFile: string, cwd: string) {
  return new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", logFile, command, ...args],
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

const running = new Set<Deno.ChildProcess>();
// A test that dies before stop() must not leave a server behind.
globalThis.addEventListener("unload", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** stop() of a server: kill it (nothing in it is worth a clean shutdown), remove its folder. */
function stopper(child: Deno.ChildProcess, dir: string): () => Promise<void> {
  running.add(child);
  let stopping: Promise<void> | undefined;
  return () =>
    stopping ??= (async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited already
      }
      await child.status;
      running.delete(child);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
}

/**
 * Waits for the ready line in the log and the port to accept. On failure the log is copied out
 * of the folder that stop() removes, and its error lines and last lines are in the message.
 */
async function waitUntilReady(options: {
  what: string;
  child: Deno.ChildProcess;
  logFile: string;
  ready: RegExp;
  port: number;
  timeoutMs: number;
}): Promise<void> {
  const { what, child, logFile, timeoutMs } = options;
  let exit: Deno.CommandStatus | undefined;
  child.status.then((status) => exit = status);
  const deadline = Date.now() + timeoutMs;
  const readLog = () => Deno.readTextFile(logFile).catch(() => "");
  let reason = `not ready within ${timeoutMs} ms`;
  while (Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 100));
    if (exit) {
      reason = `it exited with code ${exit.code}`;
      break;
    }
    if (options.ready.test(await readLog()) && await accepts(options.port)) return;
  }
  const text = await readLog();
  const kept = await Deno.makeTempFile({ prefix: "secure_server_", suffix: ".log" });
  await Deno.writeTextFile(kept, text);
  const errors = text.split("\n").filter((line) => /\b(ERROR|FATAL)\b/.test(line)).slice(0, 10);
  throw new Error(
    `Cannot start ${what}: ${reason}; its log is kept in ${kept}` +
      (errors.length ? `; its errors:\n${tail(errors.join("\n"), 10)}` : "") +
      `\nits last lines:\n${tail(text, 15)}`,
  );
}

async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).map((line) => `  ${line}`).join("\n");
}
