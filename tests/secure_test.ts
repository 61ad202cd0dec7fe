/**
 * Secured clusters: kafka.tls / kafka.sasl / database.tls read from pipeline.yaml, and the entry
 * points against a real SASL_SSL broker and a real TLS-only MariaDB started for this file.
 * Set KAFKA_LIBS to use Kafka 4.1's jars from elsewhere than `deno task services up` keeps them.
 */
import assert from "assert";
import { join } from "node:path";
// An independent check of the rows the consumer wrote over TLS, with the driver itself.
import mysql from "mysql2/promise";
import { ConfigError, loadConfig, parseConfig, readTlsFiles } from "../lib/config/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { parseDatabaseUrl } from "../lib/db/mod.ts";
import { KafkaTools } from "../dev/testing/mod.ts";
import {
  kafkaLibs,
  makeTlsMaterial,
  type SecureKafka,
  type SecureMariaDb,
  startSecureKafka,
  startSecureMariaDb,
  type TlsMaterial,
} from "../dev/services/mod.ts";
import {
  type EntryResult,
  repoConfigPath,
  repoRoot,
  runEntry,
  uniqueName,
  writeTestConfig,
} from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

const base = await Deno.readTextFile(repoConfigPath);
const configFile = join(repoRoot, "tests", "testdata", "config", "secure.yaml");

function parseWith(kafka: string, database = "", env: Record<string, string> = {}) {
  const text = base
    .replace("  request_timeout_ms: 10000\n", `  request_timeout_ms: 10000\n${kafka}`)
    .replace("  pool_size: 4\n", `  pool_size: 4\n${database}`);
  return parseConfig(text, { file: configFile, env: (name) => env[name] });
}

function problemsWith(kafka: string, database = "", env: Record<string, string> = {}): string {
  try {
    parseWith(kafka, database, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  assert.fail("no ConfigError");
}

Deno.test("kafka.tls, kafka.sasl and database.tls: absent means plaintext, true the system's CAs", () => {
  const plain = parseWith("");
  assert.equal(plain.kafka.tls, undefined);
  assert.equal(plain.kafka.sasl, undefined);
  assert.equal(plain.database.tls, undefined);
  const on = parseWith("  tls: true\n", "  tls: ${DB_TLS:-true}\n");
  assert.deepEqual(on.kafka.tls, { rejectUnauthorized: true });
  assert.deepEqual(on.database.tls, { rejectUnauthorized: true });
  assert.equal(
    parseWith("  tls: false\n", "  tls: ${DB_TLS}\n", { DB_TLS: "false" }).database.tls,
    undefined,
  );
});

Deno.test("kafka.tls files are resolved next to pipeline.yaml; the SASL password is read as written", () => {
  const config = parseWith(
    "  tls: { ca_file: certs/ca.pem, cert_file: /etc/c.pem, key_file: c.key, server_name: k.example }\n" +
      "  sasl:\n    mechanism: scram-sha-512\n    username: app\n    password: ${KAFKA_PASSWORD}\n",
    "  tls: { ca_file: ca.pem, reject_unauthorized: false }\n",
    { KAFKA_PASSWORD: "007" },
  );
  const dir = join(repoRoot, "tests", "testdata", "config");
  assert.deepEqual(config.kafka.tls, {
    caFile: join(dir, "certs", "ca.pem"),
    certFile: "/etc/c.pem",
    keyFile: join(dir, "c.key"),
    serverName: "k.example",
    rejectUnauthorized: true,
  });
  // "007" read as YAML would be the number 7.
  assert.deepEqual(config.kafka.sasl, {
    mechanism: "scram-sha-512",
    username: "app",
    password: "007",
  });
  assert.deepEqual(config.database.tls, { caFile: join(dir, "ca.pem"), rejectUnauthorized: false });
  const literal = parseWith("  sasl: { mechanism: plain, username: app, password: 0123 }\n");
  assert.equal(literal.kafka.sasl?.password, "0123");
});

Deno.test("bad kafka.tls / kafka.sasl / database.tls (or TLS in the URL) are errors that never show the password", () => {
  const message = problemsWith(
    "  sasl: { mechanism: scram-sha-1, username: app, password: [hunter2] }\n",
    "  tls: yes please\n",
  );
  assert.match(
    message,
    /kafka\.sasl\.mechanism: expected one of "plain", "scram-sha-256", "scram-sha-512"/,
  );
  assert.match(message, /kafka\.sasl\.password: expected a string/);
  assert.match(message, /database\.tls: expected true, false or a mapping/);
  assert.ok(!message.includes("hunter2"), message);
  assert.match(
    problemsWith("  tls: { ca_file: ca.pem, cert_file: client.pem }\n"),
    /secure\.yaml:\d+:\d+: kafka\.tls\.cert_file: cert_file needs key_file too/,
  );
  assert.match(
    problemsWith("  sasl: { mechanism: plain, username: app }\n"),
    /kafka\.sasl\.password: missing key/,
  );
  assert.match(problemsWith("  tls: { ca: x }\n"), /kafka\.tls\.ca: unknown key/);
  // TLS in the URL, as other tools take it, points at the key that sets it here.
  assert.throws(
    () => parseDatabaseUrl("mysql://app:hunter2@db.example/shop?ssl-mode=REQUIRED"),
    (error: UserError) =>
      /query parameters are not supported/.test(error.message) &&
      !error.message.includes("hunter2") && /database\.tls/.test(error.hint ?? ""),
  );
});

Deno.test("readTlsFiles() names a missing file, a file that is not PEM and an encrypted key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tls_files_" });
  try {
    const missing = readTlsFiles(
      { caFile: join(dir, "nope.pem"), rejectUnauthorized: true },
      "kafka",
    );
    assert.ok("problem" in missing);
    assert.match(
      missing.problem,
      /^Cannot read kafka\.tls\.ca_file ".*nope\.pem": file not found$/,
    );
    await Deno.writeTextFile(join(dir, "ca.pem"), "not a certificate\n");
    const notPem = readTlsFiles(
      { caFile: join(dir, "ca.pem"), rejectUnauthorized: true },
      "database",
    );
    assert.ok("problem" in notPem);
    assert.match(notPem.problem, /database\.tls\.ca_file .* holds no PEM certificate/);
    const tls = await makeTlsMaterial(join(dir, "tls"));
    await Deno.writeTextFile(
      join(dir, "enc.key"),
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    const encrypted = readTlsFiles(
      { certFile: tls.clientCertFile, keyFile: join(dir, "enc.key"), rejectUnauthorized: true },
      "kafka",
    );
    assert.ok("problem" in encrypted);
    assert.match(encrypted.problem, /kafka\.tls\.key_file .* no unencrypted PEM private key/);
    const good = readTlsFiles({
      caFile: tls.caFile,
      certFile: tls.clientCertFile,
      keyFile: tls.clientKeyFile,
      rejectUnauthorized: true,
    }, "kafka");
    assert.ok(!("problem" in good));
    assert.match(good.ca!, /BEGIN CERTIFICATE/);
    assert.match(good.key!, /BEGIN PRIVATE KEY/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** What one entry point run printed, how it exited and how long it took. */
interface Run extends EntryResult {
  readonly seconds: number;
  readonly label: string;
}

Deno.test({
  name:
    "secured Kafka (SASL_SSL) and MariaDB (TLS only): right settings work, wrong ones fail fast",
  fn: async (t) => {
    // The machine's plaintext broker and MariaDB: "TLS against a plaintext port" needs them.
    await ensureServices();
    const dir = await Deno.makeTempDir({ prefix: "secure_test_" });
    const tls = await makeTlsMaterial(join(dir, "tls"));
    const libs = Deno.env.get("KAFKA_LIBS") ?? await kafkaLibs();
    const started = await Promise.allSettled([
      startSecureKafka({ libs, tls, clientAuth: "requested" }),
      startSecureMariaDb({ tls }),
    ]);
    const [kafka, db] = started.map((s) => s.status === "fulfilled" ? s.value : undefined) as [
      SecureKafka | undefined,
      SecureMariaDb | undefined,
    ];
    try {
      for (const result of started) if (result.status === "rejected") throw result.reason;
      await secureCases(t, kafka!, db!, tls, dir);
    } finally {
      await Promise.all([kafka?.stop(), db?.stop()]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function secureCases(
  t: Deno.TestContext,
  kafka: SecureKafka,
  db: SecureMariaDb,
  tls: TlsMaterial,
  dir: string,
) {
  const topic = uniqueName("secure");
  const env = {
    SECURE_KAFKA_PASSWORD: kafka.user.password,
    SECURE_DB_PASSWORD: db.user.password,
    SECURE_X509_PASSWORD: db.x509User.password,
  };
  const secrets = [...Object.values(env), "wrong-Pa55word"];
  const dbUrl = (user: string, variable: string) =>
    `mysql://${user}:\${${variable}}@127.0.0.1:${db.port}/${topic}`;
  /** A config for the secured servers; `overrides` replace (or with undefined drop) keys. */
  const config = (overrides: Record<string, unknown> = {}) => {
    const settings: Record<string, unknown> = {
      "kafka.brokers": [kafka.brokers],
      "kafka.tls": { ca_file: tls.caFile },
      "kafka.sasl": {
        mechanism: "scram-sha-512",
        username: kafka.user.username,
        password: "${SECURE_KAFKA_PASSWORD}",
      },
      "database.url": dbUrl(db.user.username, "SECURE_DB_PASSWORD"),
      "database.tls": { ca_file: tls.caFile },
      ...overrides,
    };
    for (const [key, value] of Object.entries(settings)) {
      if (value === undefined) delete settings[key];
    }
    return writeTestConfig({ topic, ...settings });
  };
  const sasl = (mechanism: string, password = "${SECURE_KAFKA_PASSWORD}") => ({
    mechanism,
    username: kafka.user.username,
    password,
  });
  const runs: Run[] = [];
  const run = async (label: string, script: string, args: string[], extraEnv = {}) => {
    const startedAt = performance.now();
    const result = await runEntry(script, args, { env: { ...env, ...extraEnv } });
    const done = { ...result, label, seconds: (performance.now() - startedAt) / 1000 };
    runs.push(done);
    return done;
  };

  const events = join(dir, "events.jsonl");
  const lines = (await Deno.readTextFile(join(repoRoot, "data", "sample_events.jsonl")))
    .split("\n").slice(0, 40);
  const eventIds = new Set(lines.map((line) => JSON.parse(line).event_id as string));
  // The consumer dead-letters this one (a string where an integer belongs): the dead-letter
  // producer must reach the secured broker too.
  const badId = "secure-dead-letter-0001";
  const bad = JSON.stringify({ ...JSON.parse(lines[0]), event_id: badId, order_n_items: "two" });
  await Deno.writeTextFile(events, [...lines, bad].join("\n") + "\n");

  await t.step(
    "each SASL mechanism over TLS: admin, producer, consumer and dead letters, TLS database",
    async () => {
      const create = await run("admin create", "admin.ts", [
        "create",
        "--with-dlq",
        "--config",
        await config({ "kafka.sasl": sasl("plain") }),
      ]);
      assert.equal(create.code, 0, create.stderr);
      assert.match(create.stderr, new RegExp(`created topic "${topic}"`));
      for (const mechanism of ["plain", "scram-sha-256", "scram-sha-512"]) {
        const list = await run(`admin list ${mechanism}`, "admin.ts", [
          "list",
          "--config",
          await config({ "kafka.sasl": sasl(mechanism) }),
        ]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, new RegExp(`^${topic} +3 +1$`, "m"));
      }
      const produce = await run("produce", "producer.ts", [
        "--file",
        events,
        "--config",
        await config({ "kafka.sasl": sasl("scram-sha-256") }),
      ]);
      assert.equal(produce.code, 0, produce.stderr);
      assert.match(produce.stderr, /sent 41 messages/);
      // A client certificate too: the broker checks one it is shown, and this user needs one.
      const withCertificate = await config({
        "kafka.tls": {
          ca_file: tls.caFile,
          cert_file: tls.clientCertFile,
          key_file: tls.clientKeyFile,
        },
        "database.url": dbUrl(db.x509User.username, "SECURE_X509_PASSWORD"),
        "database.tls": {
          ca_file: tls.caFile,
          cert_file: tls.clientCertFile,
          key_file: tls.clientKeyFile,
        },
      });
      const consume = await run("consume", "consumer.ts", [
        "--max-events",
        "41",
        "--quiet",
        "--config",
        withCertificate,
      ]);
      assert.equal(consume.code, 0, consume.stderr);
      assert.match(consume.stdout, new RegExp(`ingested=${eventIds.size} `));
      assert.match(consume.stdout, / dead_lettered=1 /);
      // Kafka's own console consumer, over SASL_SSL too, finds the letter in the topic.
      const clientConfig = join(dir, "client.properties");
      await Deno.writeTextFile(
        clientConfig,
        [
          "security.protocol=SASL_SSL",
          "sasl.mechanism=SCRAM-SHA-512",
          "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required " +
          `username="${kafka.user.username}" password="${kafka.user.password}";`,
          "ssl.truststore.type=PEM",
          `ssl.truststore.location=${tls.caFile}`,
          "",
        ].join("\n"),
      );
      const letters = await new KafkaTools(kafka.brokers).run(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        [
          "--bootstrap-server",
          kafka.brokers,
          "--consumer.config",
          clientConfig,
          "--topic",
          `${topic}.dlq`,
          "--from-beginning",
          "--max-messages",
          "1",
          "--timeout-ms",
          "30000",
        ],
      );
      assert.ok(letters.includes(badId), letters);
      const connection = await mysql.createConnection({
        host: "127.0.0.1",
        port: db.port,
        user: db.user.username,
        password: db.user.password,
        database: topic,
        ssl: { ca: await Deno.readTextFile(tls.caFile) },
      });
      try {
        const [rows] = await connection.query<mysql.RowDataPacket[]>(
          "SELECT e.event_id, p.return_proba, " +
            "(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS " +
            "WHERE VARIABLE_NAME = 'Ssl_version') AS tls " +
            "FROM table_events e JOIN table_predictions p ON p.event_id = e.event_id",
        );
        assert.deepEqual(new Set(rows.map((row) => row.event_id)), eventIds);
        assert.match(String(rows[0].tls), /^TLSv1\.[23]$/);
      } finally {
        await connection.end();
      }
    },
  );

  await t.step(
    "wrong password, untrusted certificate, wrong port: one line, exit 2, fast",
    async () => {
      const wrong = {
        SECURE_KAFKA_PASSWORD: "wrong-Pa55word",
        SECURE_DB_PASSWORD: "wrong-Pa55word",
      };
      const otherCa = { ca_file: tls.otherCaFile };
      const cases: [string, string, Record<string, unknown>, RegExp, Record<string, string>?][] = [
        [
          "admin.ts",
          "kafka: wrong password (SCRAM-SHA-512)",
          {},
          /rejected the login of user "pipeline" with SCRAM-SHA-512 \(check kafka\.sasl\.username and kafka\.sasl\.password/,
          wrong,
        ],
        [
          "producer.ts",
          "kafka: wrong password (PLAIN)",
          { "kafka.sasl": sasl("plain") },
          /rejected the login of user "pipeline" with PLAIN/,
          wrong,
        ],
        [
          "consumer.ts",
          "kafka: untrusted certificate",
          { "kafka.tls": otherCa },
          /the broker's certificate is not trusted: .*kafka\.tls\.ca_file must be the CA that signed it/,
        ],
        [
          "admin.ts",
          "kafka: the system's CAs only",
          { "kafka.tls": true },
          /certificate is not trusted: .*set kafka\.tls\.ca_file/,
        ],
        [
          "admin.ts",
          "kafka: a certificate for another name",
          { "kafka.tls": { ca_file: tls.caFile, server_name: "kafka.example.com" } },
          /certificate is not for this address: .*kafka\.example\.com.*set kafka\.tls\.server_name/,
        ],
        [
          "admin.ts",
          "kafka: a client certificate the broker refuses",
          {
            "kafka.tls": {
              ca_file: tls.caFile,
              cert_file: tls.serverCertFile,
              key_file: tls.serverKeyFile,
            },
          },
          /refused the TLS handshake: .*set kafka\.tls\.cert_file/,
        ],
        [
          "producer.ts",
          "kafka: TLS against the plaintext broker",
          { "kafka.brokers": ["127.0.0.1:9092"] },
          /127\.0\.0\.1:9092: the TLS handshake failed: .*does not seem to speak TLS/,
        ],
        [
          "admin.ts",
          "kafka: plaintext against the SASL_SSL listener",
          { "kafka.tls": undefined, "kafka.sasl": undefined },
          /closed the connection at once \(the listener probably wants TLS: set kafka\.tls/,
        ],
        [
          "consumer.ts",
          "kafka: TLS without the SASL login",
          { "kafka.sasl": undefined },
          /closed the connection after the TLS handshake .*set kafka\.sasl/,
        ],
        [
          "tasks/migrate.ts",
          "database: wrong password",
          {},
          /database ".*:\*\*\*\*@.*": access denied for user "pipeline"/,
          { SECURE_DB_PASSWORD: "wrong-Pa55word" },
        ],
        [
          "tasks/migrate.ts",
          "database: no TLS to a server that requires it",
          { "database.tls": undefined },
          /access denied[^]*hint: .*require_secure_transport=ON also says this without TLS: set database\.tls/,
        ],
        [
          "consumer.ts",
          "database: untrusted certificate",
          { "database.tls": otherCa },
          /TLS handshake failed: self-signed certificate in certificate chain\nhint: set database\.tls\.ca_file/,
        ],
        [
          "tasks/migrate.ts",
          "database: a REQUIRE X509 user without a client certificate",
          { "database.url": dbUrl(db.x509User.username, "SECURE_X509_PASSWORD") },
          /access denied for user "pipeline_x509"[^]*REQUIRE X509 also needs database\.tls\.cert_file/,
        ],
        [
          "tasks/migrate.ts",
          "database: TLS against the plaintext MariaDB",
          { "database.url": `mysql://root@127.0.0.1:3306/${topic}` },
          /127\.0\.0\.1:3306 does not offer TLS/,
        ],
      ];
      // Two at a time: each run is mostly Deno's start-up, and the machine has two cores.
      const pending = [...cases];
      const worker = async () => {
        for (let next = pending.shift(); next; next = pending.shift()) {
          const [script, label, overrides, expected, extraEnv] = next;
          const args = script === "admin.ts"
            ? ["list"]
            : script === "consumer.ts"
            ? ["--quiet"]
            : [];
          const result = await run(
            label,
            script,
            [...args, "--config", await config(overrides)],
            extraEnv,
          );
          const said = `${label}: exit ${result.code} after ${
            result.seconds.toFixed(1)
          } s\n${result.stderr}`;
          assert.equal(result.code, 2, said);
          const printed = result.stderr.trim().split("\n");
          assert.match(printed[0], /^error: Cannot connect to (Kafka|database)/, said);
          assert.ok(
            printed.length <= 2 && printed.slice(1).every((l) => l.startsWith("hint: ")),
            said,
          );
          assert.match(result.stderr, expected, said);
          // Deno's start-up is most of it (1-2 s; more on a busy machine).
          assert.ok(result.seconds < 10, said);
          assert.ok(!result.stdout.includes("[OK] Consumer started"), said);
        }
      };
      await Promise.all([worker(), worker()]);
      const times = runs.filter((r) => r.code === 2).map((r) =>
        `${r.label} ${r.seconds.toFixed(1)} s`
      );
      console.log(`failed as expected after: ${times.join("; ")}`);
    },
  );

  await t.step("a TLS or SASL mistake is not retried: it fails within a round trip", async () => {
    const cases: [string, Record<string, unknown>, Record<string, string>][] = [
      ["wrong password", {}, { SECURE_KAFKA_PASSWORD: "wrong-Pa55word" }],
      ["untrusted certificate", { "kafka.tls": { ca_file: tls.otherCaFile } }, {}],
      ["TLS against the plaintext broker", { "kafka.brokers": ["127.0.0.1:9092"] }, {}],
      ["plaintext against SASL_SSL", { "kafka.tls": undefined, "kafka.sasl": undefined }, {}],
    ];
    const times: string[] = [];
    for (const [label, overrides, variables] of cases) {
      const settings = (await loadConfig(await config(overrides), (name) =>
        variables[name] ?? (env as Record<string, string>)[name])).kafka;
      const startedAt = performance.now();
      // The producer's client: five retries would back off for 200 + 400 + ... ms, over 5 s.
      const failure = await new KafkaCluster(settings, { retries: 5 }).connectAdmin().then(
        (admin) =>
          admin.close().then(() =>
            assert.fail(`${label}: connected`)
          ),
        (error: unknown) => error,
      );
      const seconds = (performance.now() - startedAt) / 1000;
      assert.ok(failure instanceof UserError, `${label}: ${failure}`);
      assert.ok(seconds < 2, `${label}: failed after ${seconds.toFixed(1)} s`);
      assert.ok(!secrets.some((secret) => failure.message.includes(secret)), failure.message);
      times.push(`${label} ${seconds.toFixed(2)} s`);
    }
    console.log(`in process, with five retries, failed after: ${times.join("; ")}`);
  });

  await t.step("no password appears in any output", () => {
    assert.ok(runs.length >= 20, `only ${runs.length} runs`);
    for (const { label, stdout, stderr } of runs) {
      for (const secret of secrets) {
        assert.ok(
          !stdout.includes(secret) && !stderr.includes(secret),
          `${label} printed a password`,
        );
      }
    }
  });
}
