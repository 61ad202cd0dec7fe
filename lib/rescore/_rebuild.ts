/**
 * A stored event back into the typed event the consumer scored: the column values as the
 * message carried them, the keys without a column from extra_fields, and the same
 * validation (types, bounds, defaults) the consumer ran. Pure.
 */
import type { PipelineConfig } from "../config/mod.ts";
import type { StoredEvent } from "../db/mod.ts";
import { validateEvent, type ValidEvent } from "../events/mod.ts";

export type Rebuilt =
  | { readonly ok: true; readonly event: ValidEvent }
  | { readonly ok: false; readonly reason: string; readonly field?: string };

/** The JSON value a message carried for a stored column value of a field of type `type`. */
function messageValue(value: string | number | boolean | Date, type: string | undefined): unknown {
  if (value instanceof Date) return value.toISOString();
  // Money is stored as exact decimal text ("164.94"); the message carried a JSON number.
  if (typeof value === "string" && (type === "number" || type === "integer")) {
    const n = Number(value);
    return value.trim() !== "" && Number.isFinite(n) ? n : value;
  }
  return value;
}

/**
 * The event as validation makes it from the stored row. Columns give the fields they hold;
 * extra_fields gives the rest, and also wins for a column field that pipeline.yaml does not
 * declare (its column then only holds the column default, the value sent is in extra_fields).
 */
export function rebuildEvent(
  stored: StoredEvent,
  events: PipelineConfig["events"],
  now: Date,
): Rebuilt {
  const record: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(stored.columns)) {
    const type = Object.hasOwn(events.fields, name) ? events.fields[name].type : undefined;
    record[name] = messageValue(value, type);
  }
  if (stored.extraFields !== null) {
    let extra: unknown;
    try {
      extra = JSON.parse(stored.extraFields);
    } catch {
      return { ok: false, reason: "extra_fields is not JSON", field: "extra_fields" };
    }
    if (extra && typeof extra === "object" && !Array.isArray(extra)) {
      for (const [key, value] of Object.entries(extra)) {
        // Own data properties only, as the consumer's decoder produced them.
        Object.defineProperty(record, key, { value, enumerable: true, writable: true });
      }
    }
  }
  const checked = validateEvent(record, events, now);
  return checked.ok ? { ok: true, event: checked.features } : checked;
}
