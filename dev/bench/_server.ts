/**
 * A MariaDB server of the benchmark's own: a fresh data folder, the server's built-in defaults
 * (`--no-defaults`: no my.cnf, so 128 MiB buffer pool, flush at every commit) plus the options
 * asked for (e.g. `--innodb-buffer-pool-size=2G`), on a free port. It keeps the shared server
 * free for others and lets a run choose the server's settings without touching anyone else's.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../../lib/errors/mod.ts";
import { log } from "../../lib/log/mod.ts";
import { whenInterrupted } from "./_proc.ts";

const MARIADBD = "/usr/sbin/mariadbd";
const INSTALL_DB = "/usr/bin/mariadb-install-db";

/** A running server of the benchmark's own. */
export interface OwnServer {
  /** mysql://root@127.0.0.1:<port>/<database> */
  url(database: string): string;
  readonly port: number;
  readonly pid: number;
  /** The options it was started with beyond its defaults. */
  readonly options: readonly string[];
  /** Stops the server and removes its data folder. */
  stop(): Promise<void>;
}

/** The first free port from `first` on (3307 unless taken), else one the system picks. */
function freePort(first = 3307): number {
  for (let port = first; port < first + 20; port++) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // taken: try the next one
    }
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Installs a data folder under a temporary directory and starts mariadbd on it. */
export async function startOwnServer(options: readonly string[] = []): Promise<OwnServer> {
  for (const binary of [MARIADBD, INSTALL_DB]) {
    if (!await exists(binary)) {
      throw new UserError(`Cannot start a MariaDB of the benchmark's own: ${binary} is missing`, {
        hint: "install the mariadb-server package, or run without --own-server / --sustained",
      });
    }
  }
  for (const option of options) {
    if (!option.startsWith("--")) {
      throw new UserError(`Cannot pass server option "${option}": it does not start with --`, {
        hint: "write it as mariadbd takes it, e.g. --server-option=--innodb-buffer-pool-size=2G",
      });
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "bench_mariadb_" });
  const datadir = join(dir, "data");
  const install = await new Deno.Command(INSTALL_DB, {
    args: [
      "--no-defaults",
      `--datadir=${datadir}`,
      "--user=root",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!install.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(
      `Cannot install a MariaDB data folder in ${datadir}: ${
        new TextDecoder().decode(install.stderr).trim()
      }`,
    );
  }
  const port = freePort();
  const errorLog = join(dir, "error.log");
  const child = new Deno.Command(MARIADBD, {
    args: [
      "--no-defaults",
      "--user=root",
      `--datadir=${datadir}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--socket=${join(dir, "socket")}`,
      `--pid-file=${join(dir, "pid")}`,
      `--log-error=${errorLog}`,
      ...options,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const forget = whenInterrupted(() => {
    child.kill("SIGKILL");
    Deno.removeSync(dir, { recursive: true });
  });
  const stop = async () => {
    forget();
    if (!exited) {
      child.kill("SIGTERM");
      await status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  for (let i = 0; !exited; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      log(`own MariaDB at 127.0.0.1:${port} (pid ${child.pid}) ${options.join(" ")}`.trim());
      return {
        url: (database) => `mysql://root@127.0.0.1:${port}/${database}`,
        port,
        pid: child.pid,
        options,
        stop,
      };
    } catch {
      if (i >= 1200) break;
      await sleep(50);
    }
  }
  const said = await Deno.readTextFile(errorLog).catch(() => "");
  await stop();
  throw new Error(
    `Cannot start a MariaDB of the benchmark's own on port ${port}: ${
      said.trim().split("\n").slice(-3).join(" / ") || "no answer within 60 s"
    }`,
  );
}
