/**
 * Where the database is: database.url parsed into connection settings, database.tls read
 * into TLS settings, and the mysql2 options every connection of this folder starts from.
 */
import { isIP } from "node:net";
import type { ConnectionOptions } from "mysql2/promise";
import { maskUrl, readTlsFiles, type TlsConfig } from "../config/mod.ts";
import { UserError } from "../errors/mod.ts";

/** TLS to the server: the PEM texts of database.tls and what is checked. */
export interface DatabaseTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
  /** Whether the certificate must carry the host name of database.url. */
  readonly verifyIdentity: boolean;
}

/** Connection settings taken from database.url (and database.tls). */
export interface DatabaseTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The URL with its password masked, for messages. */
  readonly display: string;
  /** Absent: plaintext. */
  readonly tls?: DatabaseTls;
}

/**
 * The target of config.database: its URL, and the PEM files of its tls read (a missing or
 * unusable one is a UserError naming its key).
 */
export function databaseTarget(
  database: { readonly url: string; readonly tls?: TlsConfig },
): DatabaseTarget {
  const target = parseDatabaseUrl(database.url);
  const { tls } = database;
  if (!tls) return target;
  const files = readTlsFiles(tls, "database");
  if ("problem" in files) throw new UserError(files.problem, { hint: files.hint });
  return {
    ...target,
    tls: {
      ...files,
      rejectUnauthorized: tls.rejectUnauthorized,
      // mysql2 checks the host name only when asked to, and for an IP address it would
      // compare "localhost": for one, only the chain is verified.
      verifyIdentity: tls.rejectUnauthorized && !isIP(target.host),
    },
  };
}

/** Parses a mysql:// or mariadb:// URL; a user mistake becomes a UserError (exit code 2). */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const display = maskUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`Cannot parse database.url "${display}": not a URL`, {
      hint: "write it as mysql://user:password@host:3306/database",
    });
  }
  if (parsed.protocol !== "mysql:" && parsed.protocol !== "mariadb:") {
    throw new UserError(`Cannot use database.url "${display}": scheme ${parsed.protocol}`, {
      hint: "use mysql:// or mariadb://",
    });
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) {
    throw new UserError(
      `Cannot use database.url "${display}": database name "${database}" is not usable`,
      { hint: "use 1 to 64 letters, digits, _, $ or - after the last /" },
    );
  }
  if (parsed.search) {
    throw new UserError(
      `Cannot use database.url "${display}": query parameters are not supported`,
      {
        hint: /ssl|tls/i.test(parsed.search)
          ? "remove everything from ? on, and set TLS with database.tls in pipeline.yaml"
          : "remove everything from ? on",
      },
    );
  }
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username) || "root",
    password: decodeURIComponent(parsed.password),
    database,
    display,
  };
}

/**
 * The options of a connection to the target's server, in its database unless `database` is
 * false (to create or drop one). Values are read back as the tables hold them: dates as UTC,
 * BIGINT offsets and DECIMAL money as exact strings, JSON as the text written.
 */
export function connectionOptions(
  target: DatabaseTarget,
  options: { connectTimeoutMs: number; database?: boolean },
): ConnectionOptions {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: options.database === false ? undefined : target.database,
    connectTimeout: options.connectTimeoutMs,
    ssl: target.tls && { ...target.tls },
    charset: "utf8mb4_unicode_ci",
    // Dates are written and read as UTC whatever the server's or this machine's zone is.
    timezone: "Z",
    // Offsets are BIGINT: never round them through a float.
    supportBigNumbers: true,
    bigNumberStrings: true,
    // DECIMAL money stays an exact string ("19.99"), never a float.
    decimalNumbers: false,
    // JSON columns (extra_fields) are read back as the text written, not parsed.
    jsonStrings: true,
  };
}
