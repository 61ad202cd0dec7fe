/**
 * Turns one Kafka message into a validated event with defaults applied, or a rejection
 * whose reason goes to the dead-letter topic. Pure: no I/O, the clock is passed in.
 */
import { COLUMN_FIELDS, type FieldConfig, type PipelineConfig } from "../config/mod.ts";
import { decodeJsonObject, missingRequired } from "./_decode.ts";

/** One field value after validation. */
export type EventValue = string | number | boolean | Date;
/** Every field declared under events.fields, typed, defaults applied. */
export type ValidEvent = Readonly<Record<string, EventValue>>;

/** Why a record can never be ingested (the dead-letter headers dlq-reason and dlq-field). */
export interface Rejection {
  readonly ok: false;
  readonly reason: string;
  readonly field?: string;
}

/**
 * A message that can be ingested: the typed event, and as a JSON object text the message's
 * keys that no column stores (null when there are none), so that nothing sent is lost.
 */
export interface Accepted {
  readonly ok: true;
  readonly event: ValidEvent;
  readonly extraFields: string | null;
}

const columnFields = new Set(COLUMN_FIELDS);

/** Decodes, checks and types one message value; `now` is the default for `datetime: now`. */
export function validateMessage(
  value: Uint8Array | null,
  config: Pick<PipelineConfig, "consumer" | "events">,
  now: Date,
): Accepted | Rejection {
  if (value === null || value.length === 0) return { ok: false, reason: "empty message" };
  const decoded = decodeJsonObject(value, {
    maxBytes: config.consumer.maxMessageBytes,
    maxDepth: config.consumer.maxDepth,
  });
  if (!decoded.ok) return decoded;
  const missing = missingRequired(decoded.value, config.events.required);
  if (missing.length) {
    return { ok: false, reason: "missing required key", field: missing.join(",") };
  }
  const checked = validateEvent(decoded.value, config.events, now);
  if (!checked.ok) return checked;
  return { ok: true, event: checked.event, extraFields: extraFields(decoded.value, config.events) };
}

/**
 * The keys of a message that get no column, with their values as received, as JSON text:
 * undeclared keys, and declared fields beyond the columns (a guide field left out of
 * events.fields is not written to its column, so it is kept here too). Null when none.
 */
export function extraFields(
  value: Readonly<Record<string, unknown>>,
  events: { readonly fields: Readonly<Record<string, unknown>> },
): string | null {
  let extra: [string, unknown][] | undefined;
  for (const key in value) {
    if (columnFields.has(key) && Object.hasOwn(events.fields, key)) continue;
    (extra ??= []).push([key, value[key]]);
  }
  // fromEntries defines own data properties, whatever the key is called.
  return extra ? JSON.stringify(Object.fromEntries(extra)) : null;
}

/** Checks every declared field against its type and bounds; absent or null ones get defaults. */
export function validateEvent(
  value: Readonly<Record<string, unknown>>,
  events: PipelineConfig["events"],
  now: Date,
): { ok: true; event: ValidEvent } | Rejection {
  const entries: [string, EventValue][] = [];
  for (const [name, field] of Object.entries(events.fields)) {
    // Own properties only: "constructor" or "toString" must not be read from a prototype.
    const raw = Object.hasOwn(value, name) ? value[name] : undefined;
    if (raw === undefined || raw === null) {
      if (events.required.includes(name)) {
        return { ok: false, reason: "missing required key", field: name };
      }
      entries.push([name, defaultValue(field, now)]);
      continue;
    }
    const checked = checkField(raw, field);
    if (typeof checked === "object" && checked !== null && "problem" in checked) {
      return { ok: false, reason: checked.problem, field: name };
    }
    entries.push([name, checked as EventValue]);
  }
  // fromEntries defines own data properties, so no key can reach a prototype.
  return { ok: true, event: Object.freeze(Object.fromEntries(entries)) };
}

function defaultValue(field: FieldConfig, now: Date): EventValue {
  if (field.type === "datetime") {
    return field.default === "now" ? new Date(now) : new Date(String(field.default));
  }
  return field.default as EventValue;
}

type Problem = { problem: string };

function checkField(raw: unknown, field: FieldConfig): EventValue | Problem {
  switch (field.type) {
    case "string": {
      if (typeof raw !== "string") return wrongType("a string", raw);
      // Counted in code points, as VARCHAR(n) counts characters.
      const length = [...raw].length;
      if (field.maxLength !== undefined && length > field.maxLength) {
        return { problem: `too long: ${length} characters > max_length ${field.maxLength}` };
      }
      return raw;
    }
    case "integer":
    case "number": {
      // Numeric strings are refused: a producer sending "12.5" has a bug worth seeing.
      if (typeof raw !== "number") return wrongType(`a JSON ${field.type}`, raw);
      if (!Number.isFinite(raw)) return { problem: "out of range: not a finite number" };
      if (field.type === "integer" && !Number.isInteger(raw)) {
        return { problem: `wrong type: expected an integer, got ${raw}` };
      }
      if (field.min !== undefined && raw < field.min) {
        return { problem: `out of range: ${raw} < min ${field.min}` };
      }
      if (field.max !== undefined && raw > field.max) {
        return { problem: `out of range: ${raw} > max ${field.max}` };
      }
      return raw;
    }
    case "boolean":
      return typeof raw === "boolean" ? raw : wrongType("true or false", raw);
    case "datetime": {
      if (typeof raw !== "string") return wrongType("an ISO 8601 string", raw);
      return parseDateTime(raw) ?? { problem: `invalid datetime: ${quote(raw)} is not ISO 8601` };
    }
  }
}

function wrongType(expected: string, raw: unknown): Problem {
  const got = Array.isArray(raw)
    ? "an array"
    : typeof raw === "object"
    ? "an object"
    : typeof raw === "string"
    ? `the string ${quote(raw)}`
    : `${typeof raw} ${String(raw)}`;
  return { problem: `wrong type: expected ${expected}, got ${got}` };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + "…" : text);
}

const isoPattern =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO 8601 date or date-time as a UTC Date; without an offset the time is read as UTC.
 * Impossible dates (February 30th, hour 25) are refused rather than rolled over.
 */
export function parseDateTime(text: string): Date | undefined {
  const m = isoPattern.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone = "Z"] = m;
  const fields = [y, mo, d, h, mi, s].map(Number);
  const [year, month, day, hour, minute, second] = fields;
  const ms = Number((frac + "000").slice(0, 3));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(utc);
  if (
    year < 1000 || check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59
  ) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = sign * (oh * 60 + om);
  }
  return new Date(utc - offsetMinutes * 60_000);
}

/** One event per event_id: the first one (skip) or the last one (update). */
export function dedupInBatch<T extends { id: string }>(
  items: readonly T[],
  policy: "skip" | "update",
): { unique: T[]; repeated: T[] } {
  const chosen = new Map<string, T>();
  const repeated: T[] = [];
  for (const item of items) {
    const previous = chosen.get(item.id);
    if (previous === undefined) chosen.set(item.id, item);
    else if (policy === "skip") repeated.push(item);
    else {
      repeated.push(previous);
      chosen.set(item.id, item);
    }
  }
  // Map order is first-insertion order, which keeps the batch order for the log.
  return { unique: [...chosen.values()], repeated };
}
