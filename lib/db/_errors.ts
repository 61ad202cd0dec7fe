/**
 * What a database failure means: the driver's code and the server's number looked up along
 * the causes (drizzle wraps driver errors), whether running the same work again can help,
 * and what a user should check when the server cannot be reached at all.
 */
import { errorChain, errorText, ExitCode, UserError } from "../errors/mod.ts";
import type { DatabaseTarget } from "./_target.ts";

/** mysql2's error code ("ER_LOCK_DEADLOCK", "ECONNREFUSED", ...), looked up along the causes. */
export function errorCode(error: unknown): string | undefined {
  for (const e of errorChain(error)) {
    if (typeof e.code === "string") return e.code;
  }
  return undefined;
}

/** The server's error number (1213, 1205, ...), looked up along the causes. */
export function errorNumber(error: unknown): number | undefined {
  for (const e of errorChain(error)) {
    if (typeof e.errno === "number") return e.errno;
  }
  return undefined;
}

/**
 * Server errors that a later run of the same transaction may not meet: the server or the
 * connection went away, or another transaction was in the way.
 */
const TRANSIENT_ERRNOS = new Set([
  1213, // ER_LOCK_DEADLOCK
  1205, // ER_LOCK_WAIT_TIMEOUT
  1053, // ER_SERVER_SHUTDOWN
  1040, // ER_CON_COUNT_ERROR: too many connections, right now
  1927, // ER_CONNECTION_KILLED (MariaDB)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
]);

/** Driver and socket codes of the same situations. */
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_SERVER_SHUTDOWN",
  "ER_LOCK_DEADLOCK",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_CON_COUNT_ERROR",
]);

/**
 * `transient` when running the same transaction again may succeed: connection refused,
 * lost or reset, server gone or shutting down, too many connections, deadlock (1213), lock
 * wait timeout (1205). `permanent` for everything else, above all the data errors that the
 * same rows meet again: duplicate key (1062), data too long (1406), incorrect value
 * (1366, 1292), foreign key (1452, 1451), out of range (1264), access denied, unknown table.
 */
export function classifyDatabaseError(error: unknown): "transient" | "permanent" {
  for (const e of errorChain(error)) {
    if (typeof e.errno === "number" && TRANSIENT_ERRNOS.has(e.errno)) return "transient";
    if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return "transient";
    // mysql2 marks errors that broke the connection (closed socket, "closed state") fatal;
    // a fatal error with a server errno (access denied at reconnect) is not transient.
    const fatal = (e as { fatal?: unknown }).fatal;
    if (fatal === true && e.errno === undefined) return "transient";
  }
  return "permanent";
}

/**
 * Server errors about the rows themselves: the same statement with the same values fails
 * again however often it runs, so the consumer isolates the records instead of waiting.
 * Narrower than "permanent": a missing table or a denied grant is an operator's to fix, and
 * must not send every record to the dead-letter topic.
 */
const DATA_ERRNOS = new Set([
  1048, // ER_BAD_NULL_ERROR
  1062, // ER_DUP_ENTRY (after the duplicate-key race attempts)
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1292, // ER_TRUNCATED_WRONG_VALUE (an incorrect date or number)
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
  1406, // ER_DATA_TOO_LONG
  1451, // ER_ROW_IS_REFERENCED_2
  1452, // ER_NO_REFERENCED_ROW_2
  1644, // ER_SIGNAL_EXCEPTION: a trigger refused the row
  3140, // ER_INVALID_JSON_TEXT (MySQL)
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB CHECK)
]);

/** Whether a failure is the server refusing the data written (not a connection or lock). */
export function isDataError(error: unknown): boolean {
  if (isTransientError(error)) return false;
  return errorChain(error).some((e) => typeof e.errno === "number" && DATA_ERRNOS.has(e.errno));
}

/** Whether a failed transaction may succeed if run again (see classifyDatabaseError). */
export function isTransientError(error: unknown): boolean {
  return classifyDatabaseError(error) === "transient";
}

/**
 * The line a caller's onRetry hook may print: "database attempt 2 failed (ER_LOCK_DEADLOCK:
 * Deadlock found ...); retrying in 180 ms".
 */
export function retryMessage(error: unknown, attempt: number, delayMs: number): string {
  return `database attempt ${attempt} failed (${errorText(error)}); retrying in ${delayMs} ms`;
}

/** Turns a failure to reach or log in to the server into a UserError with what to check. */
export function connectionProblem(target: DatabaseTarget, error: unknown): Error {
  const code = errorCode(error);
  const where = `${target.host}:${target.port}`;
  const fail = (state: string, hint: string) =>
    new UserError(`Cannot connect to database "${target.display}": ${state}`, {
      exitCode: ExitCode.usage,
      hint,
      cause: error,
    });
  switch (code) {
    case "ECONNREFUSED":
      return fail(
        `nothing listens on ${where} (connection refused)`,
        "start MySQL/MariaDB, or point database.url (or DATABASE_URL) at a running server",
      );
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return fail(
        `no answer from ${where} (${code})`,
        "check the host and port in database.url and that no firewall is in the way",
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return fail(`unknown host "${target.host}"`, "check the host name in database.url");
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      return fail(
        `access denied for user "${target.user}"`,
        "check the user and password in database.url (or DATABASE_URL)" +
          (target.tls
            ? "; a user created with REQUIRE X509 also needs database.tls.cert_file and key_file"
            // MariaDB refuses a plaintext login under require_secure_transport just so.
            : "; a server with require_secure_transport=ON also says this without TLS: " +
              "set database.tls"),
      );
    case "ER_SECURE_TRANSPORT_REQUIRED":
      return fail("the server accepts TLS connections only", "set database.tls in pipeline.yaml");
    case "HANDSHAKE_NO_SSL_SUPPORT":
      return fail(
        `the server at ${where} does not offer TLS (have_ssl is DISABLED there)`,
        "configure ssl_cert and ssl_key on the server, or remove database.tls",
      );
    case "HANDSHAKE_SSL_ERROR": {
      // node:tls' own words, as mysql2 passes them on.
      const says = error instanceof Error ? error.message : errorText(error);
      return fail(
        `the TLS handshake failed: ${says}`,
        /self.signed|verify|issuer|expired/i.test(says)
          ? "set database.tls.ca_file to the CA that signed the server's certificate"
          : /altnames|Hostname/i.test(says)
          ? "connect by a name the server's certificate carries (database.url's host)"
          : "check database.tls (ca_file, cert_file, key_file) against the server's TLS setup",
      );
    }
    case "ER_DBACCESS_DENIED_ERROR":
      return fail(
        `user "${target.user}" may not create or use database "${target.database}"`,
        `create the database, or GRANT ALL ON \`${target.database}\`.* TO the user`,
      );
    default:
      return fail(
        errorText(error),
        "check database.url and that the server is MySQL 8 or MariaDB 10.5+",
      );
  }
}
