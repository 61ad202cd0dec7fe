/**
 * Errors that every layer raises and only entry points print: each carries the exit code
 * its command ends with, so that no library code needs the command-line layer.
 */
import { relative } from "node:path";

/** Exit codes shared by every command. */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/** A mistake of the user's (bad flag, bad input, unreachable service): one line, no stack. */
export class UserError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(
    message: string,
    options: { exitCode?: number; hint?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "UserError";
    this.exitCode = options.exitCode ?? ExitCode.usage;
    this.hint = options.hint;
  }
}

type Failure = {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  type?: unknown;
  cause?: unknown;
  errors?: unknown;
  originalError?: unknown;
};

/** The error, its aggregated errors and its causes, outermost first (bounded). */
export function errorChain(error: unknown): Failure[] {
  const chain: Failure[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== "object" || depth > 5 || chain.length > 12) return;
    chain.push(e as Failure);
    const { cause, errors, originalError } = e as Failure;
    if (Array.isArray(errors)) { for (const inner of errors) visit(inner, depth + 1); }
    visit(cause, depth + 1);
    visit(originalError, depth + 1);
  };
  if (error && typeof error === "object") visit(error, 0);
  return chain;
}

/**
 * One line for a person: the error's message and those of its causes where they add
 * something, a driver's or broker's code in front of its own words ("ER_DUP_ENTRY: ...",
 * "UNKNOWN_TOPIC_OR_PARTITION: ..."), without the SQL text drizzle wraps around driver errors,
 * and with any password in a URL masked.
 */
export function errorText(error: unknown): string {
  const chain = errorChain(error);
  if (!chain.length) return maskSecrets(String(error));
  const parts: string[] = [];
  for (const e of chain) {
    let message = String(e.message ?? "").replace(/:?\s*Failed query:[\s\S]*$/, "").trim();
    message = message.split("\n")[0].trim();
    const code = typeof e.code === "string" ? e.code : typeof e.type === "string" ? e.type : "";
    if (code && message && !message.includes(code)) message = `${code}: ${message}`;
    if (!message) continue;
    // A later message that repeats an earlier one, or that an earlier one contains, adds nothing.
    const known = parts.findIndex((p) => p.includes(message) || message.includes(p));
    if (known < 0) parts.push(message);
    else if (message.length > parts[known].length) parts[known] = message;
  }
  return maskSecrets(parts.join(": ") || String(error));
}

/** Credentials in URLs (`//user:secret@`) masked; driver messages may echo a connection string. */
export function maskSecrets(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\/\/([^:/@\s]*):[^@\s]*@/g, "//$1:****@");
}

/** How `retry()` waits between attempts. */
export interface Backoff {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Stop retrying once this much time has passed since the first attempt (default: never). */
  readonly retryForMs?: number;
}

/** Delay before retry number `attempt` (1-based): exponential, with jitter over its upper half. */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  const ceiling = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
}

/** Options of `retry()`: which failures are worth another attempt, and what to do meanwhile. */
export interface RetryOptions extends Backoff {
  /** Whether this failure may go away if the same work runs again. */
  readonly retryable: (error: unknown, attempt: number) => boolean;
  /** Told before each wait. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /**
   * Waits `ms`; default a plain sleep. A caller that must keep something alive meanwhile (a
   * group heartbeat) or give up early (throwing) passes its own.
   */
  readonly wait?: (ms: number) => Promise<void>;
}

/**
 * Runs `work` until it succeeds; a failure that `retryable` accepts is retried with backoff
 * until `retryForMs` has passed, any other failure is thrown at once.
 */
export async function retry<T>(
  work: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const started = Date.now();
  const wait = options.wait ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1;; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      const delay = backoffDelay(options, attempt);
      const expired = options.retryForMs !== undefined &&
        Date.now() - started + delay > options.retryForMs;
      if (!options.retryable(error, attempt) || expired) throw error;
      options.onRetry?.(error, attempt, delay);
      await wait(delay);
    }
  }
}

/** A path as messages name it: relative to the working directory unless it lies outside. */
export function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}
