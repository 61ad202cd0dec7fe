/**
 * Where the database is: database.url parsed into connection settings, and the mysql2
 * options every connection of this folder starts from (no TLS: the URL carries none).
 */
import type { ConnectionOptions } from "mysql2/promise";
import { maskUrl } from "../config/mod.ts";
import { UserError } from "../errors/mod.ts";

/** Connection settings taken from database.url. */
export interface DatabaseTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The URL with its password masked, for messages. */
  readonly display: string;
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
        hint: "remove everything from ? on",
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
