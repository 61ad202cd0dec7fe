/**
 * The development database: a MySQL/MariaDB server answering at database.url is used as it
 * is; when nothing answers on this machine, the system's mariadbd is started with a buffer
 * pool sized for the machine.
 */
import { concatBytes } from "../../lib/bytes/mod.ts";
import { maskUrl, type PipelineConfig } from "../../lib/config/mod.ts";
import { checkLogin } from "../../lib/db/mod.ts";
import { UserError } from "../../lib/errors/mod.ts";
import { log } from "../../lib/log/mod.ts";
import { type Endpoint, formatEndpoint, isLocalHost, type ServiceStatus } from "./_net.ts";
import { run, seconds } from "./_process.ts";

const mariadbd = "/usr/sbin/mariadbd";

/** The `database` section of pipeline.yaml. */
type DatabaseSettings = PipelineConfig["database"];

export async function mariaDbStatus(database: DatabaseSettings): Promise<ServiceStatus> {
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

export async function ensureMariaDb(database: DatabaseSettings, timeoutMs: number): Promise<void> {
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

/** InnoDB's buffer pool for a machine with `total` bytes of memory, in whole MiB. */
export function bufferPoolFor(total: number): number {
  const mib = 1024 * 1024;
  const quarter = Math.floor(total / 4 / mib) * mib;
  return Math.min(4096 * mib, Math.max(256 * mib, quarter));
}

function formatMiB(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}
