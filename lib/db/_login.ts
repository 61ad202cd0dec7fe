/**
 * Can database.url's user log in? `services status` and `up` ask this without creating
 * or changing anything: a server that greets connections may still refuse the credentials.
 */
import mysql from "mysql2/promise";
import { errorText } from "../errors/mod.ts";
import { errorCode } from "./_errors.ts";
import type { TlsConfig } from "../config/mod.ts";
import { connectionOptions, databaseTarget } from "./_target.ts";

/** What a login attempt found. */
export type LoginCheck =
  | { readonly ok: true; readonly databaseExists: boolean }
  | { readonly ok: false; readonly problem: string };

/**
 * Logs in with database.url's user and password (over database.tls if set) into its
 * database and leaves at once.
 * A database that does not exist yet is fine (the first command that opens it creates it).
 */
export async function checkLogin(
  database: { readonly url: string; readonly tls?: TlsConfig },
  connectTimeoutMs = 3000,
): Promise<LoginCheck> {
  const target = databaseTarget(database);
  let connection: mysql.Connection | undefined;
  try {
    connection = await mysql.createConnection(connectionOptions(target, { connectTimeoutMs }));
    return { ok: true, databaseExists: true };
  } catch (error) {
    const code = errorCode(error);
    if (code === "ER_BAD_DB_ERROR") return { ok: true, databaseExists: false };
    const text = errorText(error);
    if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR") {
      return { ok: false, problem: `the login failed: ${text}` };
    }
    return { ok: false, problem: `cannot log in: ${text}` };
  } finally {
    await connection?.end().catch(() => {});
  }
}
