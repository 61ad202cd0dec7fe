/**
 * Terminal output. Diagnostics go to stderr and data to stdout, as text lines for people or
 * as JSON records (`setLogFormat("json")`) for log collectors; the consumer's per-event lines
 * go to stdout in the same format. A live status line can take over stderr's lines
 * (`setStderrSink`) so that they scroll above it instead of garbling it.
 */
import { createLogger, type Fields, type LogFormat, type Logger } from "./_json.ts";
import type { ConsumerEvent } from "./_json.ts";

const encoder = new TextEncoder();
let stderrSink: ((line: string) => void) | undefined;

function write(stream: "stdout" | "stderr", text: string): void {
  if (stream === "stderr" && stderrSink) {
    for (const line of text.replace(/\n$/, "").split("\n")) stderrSink(line);
  } else (stream === "stdout" ? Deno.stdout : Deno.stderr).writeSync(encoder.encode(text));
}

let current: Logger = createLogger({ format: "text", write });
let currentFormat: LogFormat = "text";

/** Chooses text lines or JSON records for everything logged from now on. */
export function setLogFormat(format: LogFormat): void {
  current = createLogger({ format, write });
  currentFormat = format;
}

/** The format chosen with setLogFormat(). */
export function logFormat(): LogFormat {
  return currentFormat;
}

/** Lets `sink` print stderr's lines (a status line draws them above itself); undefined undoes it. */
export function setStderrSink(sink: ((line: string) => void) | undefined): void {
  stderrSink = sink;
}

/** Writes one line (or an info record) to stderr. */
export function log(line: string, fields?: Fields): void {
  current.info(line, fields);
}

/** Writes one `warning: ...` line (or a warn record) to stderr. */
export function warn(message: string, fields?: Fields): void {
  current.warn(message, fields);
}

/** Writes one `error: ...` line (or an error record) to stderr. */
export function logError(message: string, fields?: Fields): void {
  current.error(message, fields);
}

/** The consumer's per-event lines ([OK], [SKIP], [DLQ], [SUMMARY]) to stdout, in one write. */
export function events(list: readonly ConsumerEvent[]): void {
  current.events(list);
}

/** Writes one line of data to stdout. */
export function out(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}
export { CountProgress, formatBytes, formatCount, Progress } from "./_progress.ts";
export { formatBar, formatSeconds, table } from "./_progress.ts";
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

/** `log` when $PIPELINE_DEBUG is set, else nothing: where libraries' diagnostic lines go. */
export function debugLog(): ((line: string) => void) | undefined {
  return Deno.env.get("PIPELINE_DEBUG") ? (line: string) => log(line) : undefined;
}
