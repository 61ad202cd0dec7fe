/** Log lines go to stderr so that stdout carries only data. */

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
export { CountProgress, formatBytes, formatCount, Progress } from "./_progress.ts";
export { formatBar, formatSeconds } from "./_progress.ts";
export { LiveLine, terminalColumns, truncate } from "./_live_line.ts";
export { RateWindow, renderStatus, StatusLine } from "./_status.ts";
export type { StatusCounts, StatusState } from "./_status.ts";
export { createLogger, eventLine, eventRecord, formatJson, formatText } from "./_json.ts";
export type {
  ConsumerEvent,
  Fields,
  Level,
  LogFormat,
  Logger,
  LoggerOptions,
  LogRecord,
} from "./_json.ts";
