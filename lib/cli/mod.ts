/** Shared command-line plumbing: flag parsing, usage text, errors mapped to exit codes. */
import { parseArgs } from "cli";
import { ConfigError } from "../config/mod.ts";
import { log, logError } from "../log/mod.ts";
import { ExitCode, UserError } from "../errors/mod.ts";
import { parseDateTime } from "../events/mod.ts";

export { ExitCode, UserError };

/** Bad command-line usage: exits 2 and points at --help. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.usage, hint: "run with --help for usage" });
    this.name = "UsageError";
  }
}

type FlagSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

/** Parses flags strictly (unknown flags are usage errors); --help and --config always exist. */
export function parseFlags<T extends FlagSpec>(args: string[], flags: T, options: {
  allowPositionals?: boolean;
} = {}) {
  try {
    return parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h" },
        config: { type: "string" },
        ...flags,
      },
      strict: true,
      allowPositionals: options.allowPositionals ?? false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
}

/** Parses a flag value as a non-negative number, or throws a UsageError naming the flag. */
export function numberFlag(
  name: string,
  value: string | undefined,
  options: { integer?: boolean; min?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const min = options.min ?? 0;
  if (
    value.trim() === "" || !Number.isFinite(n) || n < min ||
    (options.integer && !Number.isInteger(n))
  ) {
    const kind = options.integer ? "an integer" : "a number";
    throw new UsageError(`--${name} expects ${kind} >= ${min}, got "${value}"`);
  }
  return n;
}

/** Checks a flag value against the values it may take, or throws a UsageError naming them. */
export function choiceFlag<T extends string>(
  name: string,
  value: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (value === undefined || (choices as readonly string[]).includes(value)) {
    return value as T | undefined;
  }
  throw new UsageError(`--${name} expects ${choices.join(" or ")}, got "${value}"`);
}

/** Parses a flag value as an ISO 8601 time (`2026-01-31`, `2026-01-31T12:00:00Z`). */
export function timeFlag(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const time = parseDateTime(value.trim());
  if (!time) {
    throw new UsageError(
      `--${name} expects an ISO 8601 time such as 2026-01-31 or 2026-01-31T12:00:00Z, got "${value}"`,
    );
  }
  return time;
}

/** Runs an entry point: prints errors the user can act on as one line, maps them to exit codes. */
export async function runMain(main: () => Promise<number | void>): Promise<never> {
  let code: number;
  try {
    code = (await main()) ?? ExitCode.ok;
  } catch (error) {
    code = reportError(error);
  }
  Deno.exit(code);
}

/** Prints an error for a user and returns its exit code. */
export function reportError(error: unknown): number {
  if (error instanceof ConfigError) {
    logError(error.message);
    return ExitCode.usage;
  }
  if (error instanceof UserError) {
    logError(error.message);
    if (error.hint) log(`hint: ${error.hint}`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  logError(message);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause) log(`cause: ${cause instanceof Error ? cause.message : String(cause)}`);
  if (Deno.env.get("PIPELINE_DEBUG")) console.error(error);
  return ExitCode.failure;
}
