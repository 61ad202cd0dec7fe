/**
 * Structured logging: one record `{time, level, msg, ...fields}` written either as one JSON
 * line (for log collectors) or as today's plain lines (for people). The consumer's per-event
 * lines ([OK], [SKIP], [DLQ], [SUMMARY]) are built in one place, so both formats say the same.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Readonly<Record<string, unknown>>;

/** One log record. */
export interface LogRecord {
  readonly time: Date;
  readonly level: Level;
  readonly msg: string;
  readonly fields?: Fields;
}

const LEVELS: Readonly<Record<Level, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const RESERVED = new Set(["time", "level", "msg"]);

/**
 * The record as one line of JSON (no line feed): time, level and msg first, then the fields.
 * Never throws: values JSON cannot hold (bigint, NaN, errors, cycles) are written as text.
 */
export function formatJson(record: LogRecord): string {
  const out: Record<string, unknown> = {
    time: validTime(record.time),
    level: record.level,
    msg: record.msg,
  };
  for (const [key, value] of Object.entries(record.fields ?? {})) {
    if (value === undefined) continue;
    // A field must not overwrite the record's own keys.
    out[RESERVED.has(key) ? `field_${key}` : key] = value;
  }
  try {
    return JSON.stringify(out, jsonReplacer());
  } catch (error) {
    // A toJSON() or getter that throws: keep the record, say what was lost.
    return JSON.stringify({
      time: out.time,
      level: record.level,
      msg: record.msg,
      log_error: `fields not serializable: ${(error as Error)?.message ?? error}`,
    });
  }
}

/**
 * The record as today's plain line: info as the message itself, other levels prefixed
 * (`warning: ...`, `error: ...`), fields appended as ` key=value`.
 */
export function formatText(record: LogRecord): string {
  const prefix = record.level === "info"
    ? ""
    : record.level === "warn"
    ? "warning: "
    : `${record.level}: `;
  let line = prefix + record.msg;
  for (const [key, value] of Object.entries(record.fields ?? {})) {
    if (value !== undefined) line += ` ${key}=${textValue(value)}`;
  }
  return line;
}

function validTime(time: Date): string {
  return Number.isNaN(time.getTime()) ? String(time) : time.toISOString();
}

function textValue(value: unknown): string {
  if (typeof value === "string") {
    return value === "" || /[\s="\\]/.test(value) ? JSON.stringify(value) : value;
  }
  if (value instanceof Error) return textValue(errorMessage(value));
  if (value instanceof Date) return validTime(value);
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value, jsonReplacer());
    } catch {
      return String(value);
    }
  }
  return String(value);
}

/** The message and its causes' messages, as one line. */
function errorMessage(error: Error): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 4;) {
    const text = e instanceof Error ? e.message : String(e);
    if (text && !parts.includes(text)) parts.push(text);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ").replace(/\s*\n\s*/g, " ");
}

/** JSON.stringify replacer: bigint as text, errors as {name, message, code}, no cycles. */
function jsonReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  // The objects on the path from the root to the value, each as written and as given.
  const path: { written: object; given: object }[] = [];
  return function (this: unknown, _key: string, value: unknown) {
    if (typeof value === "bigint") return value.toString();
    if (typeof value === "number" && !Number.isFinite(value)) return String(value);
    if (typeof value !== "object" || value === null) return value;
    // `this` holds `value`: whatever is deeper on the path belongs to an earlier branch.
    while (path.length && path[path.length - 1].written !== this) path.pop();
    if (path.some((p) => p.given === value)) return "[Circular]";
    let written: object = value;
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      written = {
        name: value.name,
        message: errorMessage(value),
        ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
      };
    } else if (value instanceof Map) written = Object.fromEntries(value);
    else if (value instanceof Set) written = [...value];
    path.push({ written, given: value });
    return written;
  };
}

/** The consumer's per-event outcomes, each printed as one line of the guide's format. */
export type ConsumerEvent =
  | { readonly kind: "started" }
  | { readonly kind: "ingested"; readonly eventId: string; readonly returnProba: number }
  | { readonly kind: "updated"; readonly eventId: string; readonly returnProba: number }
  | { readonly kind: "duplicate"; readonly eventId: string }
  | { readonly kind: "duplicate_in_batch"; readonly eventId: string }
  | {
    readonly kind: "already_applied";
    readonly partition: number;
    readonly fromOffset: string;
    readonly toOffset: string;
  }
  | {
    readonly kind: "dead_letter";
    readonly partition: number;
    readonly offset: string;
    readonly field?: string;
    readonly reason: string;
  }
  | {
    readonly kind: "summary";
    /** The last one, when the consumer stops: tagged [DONE] instead of [SUMMARY]. */
    readonly final?: boolean;
    readonly ingested: number;
    readonly duplicates: number;
    readonly deadLettered: number;
    readonly alreadyApplied: number;
    /** Events per second. */
    readonly rate: number;
    readonly lag: number | undefined;
  };

/** The line the guide and the README show for an event. */
export function eventLine(e: ConsumerEvent): string {
  switch (e.kind) {
    case "started":
      return "[OK] Consumer started. Waiting for messages...";
    case "ingested":
      return `[OK] event_id=${e.eventId} ingested | return_proba=${e.returnProba.toFixed(3)}`;
    case "updated":
      return `[OK] event_id=${e.eventId} updated (duplicate) | return_proba=${
        e.returnProba.toFixed(3)
      }`;
    case "duplicate":
      return `[SKIP] event_id=${e.eventId} duplicate`;
    case "duplicate_in_batch":
      return `[SKIP] event_id=${e.eventId} duplicate (within batch)`;
    case "already_applied":
      return `[SKIP] partition=${e.partition} offsets=${e.fromOffset}..${e.toOffset} already applied`;
    case "dead_letter":
      return `[DLQ] offset=${e.offset} partition=${e.partition}${
        e.field ? ` field=${e.field}` : ""
      } reason=${e.reason}`;
    case "summary":
      return `${e.final ? "[DONE]" : "[SUMMARY]"} ingested=${e.ingested} ` +
        `duplicates=${e.duplicates} dead_lettered=${e.deadLettered} ` +
        `already_applied=${e.alreadyApplied} rate=${e.rate.toFixed(1)} events/s ` +
        `lag=${e.lag ?? "?"}`;
  }
}

/** An event as a record: msg is its text line, the fields carry its values (snake_case). */
export function eventRecord(e: ConsumerEvent, time: Date): LogRecord {
  const fields: Record<string, unknown> = { event: e.kind };
  for (const [key, value] of Object.entries(e)) {
    if (key === "kind") continue;
    fields[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value;
  }
  // A dead letter is a warning: the record needs attention, the consumer goes on.
  return { time, level: e.kind === "dead_letter" ? "warn" : "info", msg: eventLine(e), fields };
}

/**
 * What lower layers receive instead of printing: diagnostics with fields, and the consumer's
 * per-event lines. The program chooses the format and the streams once, at start.
 */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Per-event lines, written in one go (a batch can have thousands). */
  events(events: readonly ConsumerEvent[]): void;
}

export type LogFormat = "text" | "json";

export interface LoggerOptions {
  readonly format: LogFormat;
  /** Records below this level are dropped; default "info". Events are never dropped. */
  readonly level?: Level;
  /** Where text goes: events to stdout (they are the output), diagnostics to stderr. */
  readonly write?: (stream: "stdout" | "stderr", text: string) => void;
  readonly now?: () => Date;
}

const encoder = new TextEncoder();

function writeStd(stream: "stdout" | "stderr", text: string): void {
  (stream === "stdout" ? Deno.stdout : Deno.stderr).writeSync(encoder.encode(text));
}

/**
 * A logger writing text or JSON lines. In text mode every line is byte for byte what the
 * program printed before structured logging existed.
 */
export function createLogger(options: LoggerOptions): Logger {
  const format = options.format === "json" ? formatJson : formatText;
  if (options.format !== "json" && options.format !== "text") {
    throw new RangeError(`Log format must be "text" or "json", got "${options.format}"`);
  }
  const min = LEVELS[options.level ?? "info"];
  if (min === undefined) {
    throw new RangeError(
      `Log level must be one of ${Object.keys(LEVELS).join(", ")}, got "${options.level}"`,
    );
  }
  const write = options.write ?? writeStd;
  const now = options.now ?? (() => new Date());
  const log = (level: Level) => (msg: string, fields?: Fields) => {
    if (LEVELS[level] >= min) write("stderr", format({ time: now(), level, msg, fields }) + "\n");
  };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    events(events) {
      if (!events.length) return;
      const time = now();
      const lines = options.format === "json"
        ? events.map((e) => formatJson(eventRecord(e, time)))
        : events.map(eventLine);
      write("stdout", lines.join("\n") + "\n");
    },
  };
}
