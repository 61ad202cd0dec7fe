/**
 * Checks that span several keys, which a per-key spec cannot express: the event fields among
 * themselves and against the database columns they are written to, a client certificate and
 * its key. Run at load, after every key passed the spec, so that nothing but a model file or
 * a server can fail later.
 */
import type { SpecConfig } from "./_pipeline_spec.ts";
import { COLUMNS } from "./_columns.ts";
import type { KeyPath } from "./_yaml.ts";

/** Reports one problem at the value of `path` (or its nearest written ancestor). */
export type Report = (path: KeyPath, message: string) => void;

type Field = SpecConfig["events"]["fields"][string];

/** Kafka's own rule for topic names (kafka.common.internals.Topic). */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** The topic names, which the broker would refuse only once the consumer runs. */
export function checkTopics(kafka: SpecConfig["kafka"], report: Report): void {
  const names = [["topic", kafka.topic], ["dead_letter_topic", kafka.deadLetterTopic]] as const;
  for (const [key, name] of names) {
    if (key === "dead_letter_topic" && name === "") continue;
    if (!TOPIC_NAME.test(name) || name === "." || name === "..") {
      report(
        ["kafka", key],
        `"${name}" is not a valid Kafka topic name: use 1 to 249 letters, digits, ".", "_" or "-"`,
      );
    }
  }
}

/** A client certificate and its key come together: one without the other cannot be used. */
export function checkTls(config: Pick<SpecConfig, "kafka" | "database">, report: Report): void {
  for (const section of ["kafka", "database"] as const) {
    const tls = config[section].tls;
    if (!tls || tls === true) continue;
    if ((tls.certFile === undefined) === (tls.keyFile === undefined)) continue;
    const [has, lacks] = tls.certFile === undefined
      ? ["key_file", "cert_file"]
      : ["cert_file", "key_file"];
    report([section, "tls", has], `${has} needs ${lacks} too (a client certificate and its key)`);
  }
}

/** events.required against events.fields, and each field's default against its type. */
export function checkEvents(events: SpecConfig["events"], report: Report): void {
  for (const [i, name] of events.required.entries()) {
    if (!Object.hasOwn(events.fields, name)) {
      report(["events", "required", i], `"${name}" is not declared under events.fields`);
    }
  }
  for (const [name, field] of Object.entries(events.fields)) {
    if (field.default === undefined) {
      if (!events.required.includes(name)) {
        report(
          ["events", "fields", name],
          "has no default: give one or list it in events.required",
        );
      }
      continue;
    }
    const problem = defaultProblem(field);
    if (problem) report(["events", "fields", name, "default"], problem);
  }
}

function defaultProblem(field: Field): string | undefined {
  const value = field.default;
  switch (field.type) {
    case "string":
      return typeof value === "string" ? undefined : `expected a string default for a string field`;
    case "boolean":
      return typeof value === "boolean" ? undefined : "expected true or false";
    case "datetime":
      return value === "now" || typeof value === "string" && !Number.isNaN(Date.parse(value))
        ? undefined
        : `expected "now" or an ISO 8601 time`;
    case "integer":
    case "number": {
      if (typeof value !== "number" || (field.type === "integer" && !Number.isInteger(value))) {
        return `expected ${field.type === "integer" ? "an integer" : "a number"}`;
      }
      if (field.min !== undefined && value < field.min) return `below min ${field.min}`;
      if (field.max !== undefined && value > field.max) return `above max ${field.max}`;
      return undefined;
    }
  }
}

/**
 * Every value an event may carry in a column field must fit its column: the right type, text
 * no longer than the column, numbers within its range; and a column without a default must be
 * declared. Otherwise a valid event would make the database refuse a whole batch.
 */
export function checkColumns(events: SpecConfig["events"], report: Report): void {
  for (const [name, column] of Object.entries(COLUMNS)) {
    const field = Object.hasOwn(events.fields, name) ? events.fields[name] : undefined;
    if (!field) {
      if (column.key) {
        report(
          ["events", "fields"],
          `"${name}" is not declared: its column has no default (declare it as a ${
            column.holds[0]
          } field)`,
        );
      }
      continue;
    }
    const at = ["events", "fields", name];
    if (!column.holds.includes(field.type)) {
      report(
        [...at, "type"],
        `a ${field.type} field cannot be stored in its ${column.sql} column (declare it ${
          column.holds.join(" or ")
        })`,
      );
      continue;
    }
    const limit = (key: string, value: number | undefined, bound: Bound | undefined) => {
      if (!bound) return;
      const text = `at ${bound.most ? "most" : "least"} ${bound.limit} ${bound.why}`;
      if (value === undefined) report(at, `needs ${key}: ${text}`);
      else if (bound.most ? value > bound.limit : value < bound.limit) {
        report([...at, key], `must be ${text}`);
      }
    };
    if (field.type === "string") {
      limit("max_length", field.maxLength, bound(column.maxLength, true, "size"));
    } else {
      limit("min", field.min, bound(column.min, false, "range"));
      limit("max", field.max, bound(column.max, true, "range"));
    }
  }
}

/** A column's limit on a field's max_length, min or max. */
type Bound = { limit: number; most: boolean; why: string };

function bound(limit: number | undefined, most: boolean, what: string): Bound | undefined {
  return limit === undefined ? undefined : { limit, most, why: `(its column's ${what})` };
}
