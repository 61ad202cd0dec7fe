/** Log lines go to stderr so that stdout carries only data. */
import { relative } from "node:path";

const encoder = new TextEncoder();

/** Writes one line to stderr. */
export function log(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** Writes one `warning: ...` line to stderr. */
export function warn(message: string): void {
  log(`warning: ${message}`);
}

/** Writes one line of data to stdout. */
export function out(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

/** A path as users read it: relative to the working directory unless it lies outside it. */
export function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

/** `log` when $PIPELINE_DEBUG is set, else nothing: where libraries' diagnostic lines go. */
export function debugLog(): ((line: string) => void) | undefined {
  return Deno.env.get("PIPELINE_DEBUG") ? log : undefined;
}
