/**
 * Turns one Kafka message into a validated event with defaults applied, or a rejection
 * whose reason goes to the dead-letter topic. Pure: no I/O, the clock is passed in.
 */
import {
  COLUMN_FIELDS,
  type FieldConfig,
  type PipelineConfig,
  UUID_PATTERN,
} from "../config/mod.ts";
import { UserError } from "../errors/mod.ts";
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
 * An accepted event as the tables store it. Column fields the config leaves out, or that
 * have no default, are undefined: their column's default is written. Money is the number
 * validated; the database layer writes its exact decimal text.
 */
export interface OrderEvent {
  readonly event_id: string;
  readonly event_time: Date;
  readonly order_id: string;
  readonly customer_customer_id: string;
  readonly customer_country?: string;
  readonly order_device?: string;
  readonly order_channel?: string;
  readonly order_main_category?: string;
  readonly order_n_items?: number;
  readonly order_basket_value?: number;
  readonly order_shipping_fee?: number;
  readonly order_discount?: number;
  readonly order_order_total?: number;
  readonly order_is_returned?: boolean;
}

/**
 * A message that can be ingested: the event as the tables store it, every declared field
 * validated (what the model reads), and as a JSON object text the message's keys that no
 * column stores (null when there are none), so that nothing sent is lost.
 */
export interface Accepted {
  readonly ok: true;
  readonly event: OrderEvent;
  readonly features: ValidEvent;
  readonly extraFields: string | null;
}

const columnFields = new Set(COLUMN_FIELDS);

/** Decodes, checks and types one message value; `now` is the default for `datetime: now`. */
export function validateMessage(
  value: Uint8Array | null,
  config: Pick<PipelineConfig, "consumer" | "events"> & {
    readonly database?: Pick<PipelineConfig["database"], "keyType">;
  },
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
  const order = orderEvent(checked.features, now);
  if (!order.ok) return order;
  const keyed = config.database?.keyType === "uuid" ? uuidKeys(order.event) : order;
  if (!keyed.ok) return keyed;
  return {
    ok: true,
    event: keyed.event,
    features: checked.features,
    extraFields: extraFields(decoded.value, config.events),
  };
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
): { ok: true; features: ValidEvent } | Rejection {
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
  return { ok: true, features: Object.freeze(Object.fromEntries(entries)) };
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

/** Largest value of an INT column. */
const INT_MAX = 2 ** 31 - 1;
/** DECIMAL(12,2) holds less than 10^10 once rounded to cents. */
const MONEY_LIMIT = 9_999_999_999.995;

const KEY_FIELDS = ["event_id", "order_id", "customer_customer_id"] as const;
const LABEL_FIELDS = [
  "customer_country",
  "order_device",
  "order_channel",
  "order_main_category",
] as const;
const MONEY_FIELDS = [
  "order_basket_value",
  "order_shipping_fee",
  "order_discount",
  "order_order_total",
] as const;

/**
 * With UUID key columns every key must be a UUID; the server compares them regardless of
 * case and prints them in lower case, so they are lower-cased here, for the consumer's own
 * duplicate detection to agree with the database's.
 */
function uuidKeys(event: OrderEvent): { ok: true; event: OrderEvent } | Rejection {
  let lowered: { -readonly [K in keyof OrderEvent]: OrderEvent[K] } | undefined;
  for (const field of KEY_FIELDS) {
    const value = event[field];
    if (!UUID_PATTERN.test(value)) {
      return {
        ok: false,
        reason: `not a UUID: ${quote(value)} (database.key_type is uuid; ` +
          "set it to text to store other ids)",
        field,
      };
    }
    if (value !== value.toLowerCase()) (lowered ??= { ...event })[field] = value.toLowerCase();
  }
  return { ok: true, event: lowered ? Object.freeze(lowered) : event };
}

/**
 * The columns of a validated field record, typed. A value its column cannot hold (an
 * amount of 10^10 or more, a fractional or too large item count, an empty identifier) is a
 * rejection of that record. A value of the wrong kind can only come from a config that
 * gives a column field another type: that is a UserError, not a property of the record.
 * Without an event_time field the event's time is `now`.
 */
export function orderEvent(
  features: ValidEvent,
  now: Date,
): { ok: true; event: OrderEvent } | Rejection {
  const keys: string[] = [];
  for (const name of KEY_FIELDS) {
    const value = features[name] as EventValue | undefined;
    if (value === undefined || value === "") {
      return { ok: false, reason: "missing required key", field: name };
    }
    if (typeof value !== "string") throw wrongConfig(name, value, "string");
    keys.push(value);
  }
  const time = (features.event_time as EventValue | undefined) ?? now;
  if (!(time instanceof Date)) throw wrongConfig("event_time", time, "datetime");
  const [event_id, order_id, customer_customer_id] = keys;
  const event: { -readonly [K in keyof OrderEvent]: OrderEvent[K] } = {
    event_id,
    event_time: time,
    order_id,
    customer_customer_id,
  };
  for (const name of LABEL_FIELDS) {
    const value = features[name] as EventValue | undefined;
    if (value === undefined) continue;
    if (typeof value !== "string") throw wrongConfig(name, value, "string");
    event[name] = value;
  }
  const items = features.order_n_items as EventValue | undefined;
  if (items !== undefined) {
    if (typeof items !== "number") throw wrongConfig("order_n_items", items, "integer");
    if (!Number.isInteger(items)) {
      return {
        ok: false,
        reason: `wrong type: expected an integer for its INT column, got ${items}`,
        field: "order_n_items",
      };
    }
    if (Math.abs(items) > INT_MAX) {
      return {
        ok: false,
        reason: `out of range: ${items} does not fit its INT column (at most ${INT_MAX})`,
        field: "order_n_items",
      };
    }
    event.order_n_items = items;
  }
  for (const name of MONEY_FIELDS) {
    const value = features[name] as EventValue | undefined;
    if (value === undefined) continue;
    if (typeof value !== "number") throw wrongConfig(name, value, "number");
    if (!(Math.abs(value) < MONEY_LIMIT)) {
      return {
        ok: false,
        reason: `out of range: ${value} does not fit its DECIMAL(12,2) column ` +
          "(at most 9999999999.99)",
        field: name,
      };
    }
    event[name] = value;
  }
  const returned = features.order_is_returned as EventValue | undefined;
  if (returned !== undefined) {
    if (typeof returned !== "boolean") throw wrongConfig("order_is_returned", returned, "boolean");
    event.order_is_returned = returned;
  }
  return { ok: true, event };
}

function wrongConfig(name: string, value: EventValue, type: FieldConfig["type"]): UserError {
  const got = value instanceof Date ? "datetime" : typeof value;
  return new UserError(
    `Cannot store events.fields.${name}: its values are ${got}s, its column needs ${type}`,
    { hint: `declare events.fields.${name} with type: ${type}` },
  );
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
