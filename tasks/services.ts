/** `deno task services up|down|status`: the Kafka broker and MariaDB the pipeline needs. */
import { ExitCode, numberFlag, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { out } from "../lib/log/mod.ts";
import { servicesDown, servicesStatus, servicesUp } from "../dev/services/mod.ts";

const usage = `Starts, stops and checks the services the pipeline needs.

USAGE:
  deno task services up      [--config PATH] [--timeout SECONDS]
  deno task services down    [--config PATH]
  deno task services status  [--config PATH]

COMMANDS:
  up      Reuse what answers at kafka.brokers (first entry) and database.url; otherwise
          start a Kafka broker from the Maven jars of services/kafka/pom.xml (local
          addresses only; files in .cache/kafka/) and the system's MariaDB
          (/usr/sbin/mariadbd), then wait until both answer.
  down    Stop the broker that \`up\` started for the configured address (SIGTERM, then
          wait). Anything this project did not start is left alone; MariaDB keeps running.
  status  Print what answers where, and whether database.url's user can log in. Exit
          code 0 if both services answer and the login works, 1 otherwise.

OPTIONS:
  --config PATH        pipeline file (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  --timeout SECONDS    how long a started service may take to answer (default: 90)
  -h, --help           show this help

EXIT CODES:
  0  ok
  1  status: a service does not answer, or the database login fails; any command: an
     unexpected failure
  2  usage or config error; up: a service that cannot be reached, used or started (a
     database whose login fails included)`;

const commands = ["up", "down", "status"] as const;

async function main(): Promise<number> {
  const { values, positionals } = parseFlags(Deno.args, { timeout: { type: "string" } }, {
    allowPositionals: true,
  });
  if (values.help) {
    out(usage);
    return ExitCode.ok;
  }
  const command = positionals[0] as typeof commands[number];
  if (positionals.length !== 1 || !commands.includes(command)) {
    throw new UsageError(
      positionals.length ? `unknown command "${positionals.join(" ")}"` : "missing command",
    );
  }
  const timeout = numberFlag("timeout", values.timeout, { min: 1 });
  if (timeout !== undefined && command !== "up") {
    throw new UsageError(`--timeout applies to "up" only`);
  }
  const config = await loadConfig(values.config);
  switch (command) {
    case "up":
      await servicesUp(config, { timeoutMs: timeout === undefined ? undefined : timeout * 1000 });
      return ExitCode.ok;
    case "down":
      await servicesDown(config);
      return ExitCode.ok;
    case "status": {
      const statuses = await servicesStatus(config);
      for (const s of statuses) {
        out(`${s.name.padEnd(8)} ${(s.up ? "up" : "DOWN").padEnd(5)} ${s.address}  ${s.detail}`);
      }
      return statuses.every((s) => s.up) ? ExitCode.ok : ExitCode.failure;
    }
  }
}

if (import.meta.main) runMain(main);
