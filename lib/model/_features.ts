/**
 * Event -> tensor values, from the mapping in pipeline.yaml (model.inputs). Pure, no I/O:
 * serving and training both call encodeInput, so a model sees the same numbers in both.
 */
import type { FeatureConfig, FieldConfig, ModelInputConfig } from "../config/mod.ts";

/** An event as a record of field values (a ValidEvent, or a raw record during training). */
export type EventRecord = Readonly<Record<string, unknown>>;

/** Row-major values of one `[N, D]` input tensor. */
export type TensorValues = Float32Array | Float64Array | BigInt64Array | string[];

/** Number of tensor columns one feature produces. */
function featureWidth(feature: FeatureConfig): number {
  const e = feature.encode;
  return typeof e === "object" && "oneHot" in e ? e.oneHot.length : 1;
}

/** Number of columns (D) of one input tensor. */
export function inputWidth(input: ModelInputConfig): number {
  return input.features.reduce((n, f) => n + featureWidth(f), 0);
}

/** Column names of one input, in order: `field` or `field=value` for one-hot columns. */
export function columnNames(input: ModelInputConfig): string[] {
  return input.features.flatMap((f) =>
    typeof f.encode === "object" && "oneHot" in f.encode
      ? f.encode.oneHot.map((v) => `${f.field}=${v}`)
      : [f.field]
  );
}

/** The value a feature reads: the event's, else `missing`, else the field default. */
function valueOf(
  event: EventRecord,
  feature: FeatureConfig,
  fields: Readonly<Record<string, FieldConfig>>,
): unknown {
  const v = event[feature.field];
  if (v !== undefined && v !== null) return v;
  const fallback = feature.missing ?? fields[feature.field]?.default;
  if (fallback === undefined) {
    throw new Error(
      `Cannot encode field "${feature.field}": value missing and no default (set missing: in pipeline.yaml)`,
    );
  }
  return fallback;
}

function numeric(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  throw new Error(`Cannot encode field "${field}": ${JSON.stringify(value)} is not a number`);
}

function text(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

/** Writes one feature's columns of one row into `out` from index `at`. */
function encodeFeature(
  value: unknown,
  feature: FeatureConfig,
  out: Float32Array | Float64Array,
  at: number,
): void {
  const e = feature.encode;
  if (e === "number") out[at] = numeric(value, feature.field);
  else if (typeof e === "object" && "oneHot" in e) {
    const key = typeof value === "string" ? value : text(value);
    for (let k = 0; k < e.oneHot.length; k++) out[at + k] = e.oneHot[k] === key ? 1 : 0;
  } else if (typeof e === "object" && "scale" in e) {
    out[at] = (numeric(value, feature.field) - e.scale.mean) / e.scale.std;
  } else {
    throw new Error(`Cannot encode field "${feature.field}": encode ${e} needs a string input`);
  }
}

/** Encodes a batch of events into the row-major values of one `[N, D]` input tensor. */
export function encodeInput(
  events: readonly EventRecord[],
  input: ModelInputConfig,
  fields: Readonly<Record<string, FieldConfig>>,
): TensorValues {
  const width = inputWidth(input);
  const n = events.length;
  if (input.type === "string") {
    const out = new Array<string>(n * width);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < input.features.length; j++) {
        out[r * width + j] = text(valueOf(events[r], input.features[j], fields));
      }
    }
    return out;
  }
  const numbers = input.type === "float32"
    ? new Float32Array(n * width)
    : new Float64Array(n * width);
  const widths = input.features.map(featureWidth);
  for (let r = 0; r < n; r++) {
    let at = r * width;
    for (let j = 0; j < widths.length; j++) {
      const f = input.features[j];
      encodeFeature(valueOf(events[r], f, fields), f, numbers, at);
      at += widths[j];
    }
  }
  if (input.type !== "int64") return numbers;
  const out = new BigInt64Array(n * width);
  for (let i = 0; i < numbers.length; i++) {
    if (!Number.isSafeInteger(numbers[i])) {
      const f = fieldAtColumn(input, i % width);
      throw new Error(`Cannot encode field "${f}": ${numbers[i]} is not an integer`);
    }
    out[i] = BigInt(numbers[i]);
  }
  return out;
}

function fieldAtColumn(input: ModelInputConfig, column: number): string {
  let at = 0;
  for (const f of input.features) {
    at += featureWidth(f);
    if (column < at) return f.field;
  }
  return "";
}

/**
 * Applies the field defaults of pipeline.yaml to a raw record, as event validation does before
 * serving, so that a model is trained on the values it will be served.
 */
export function withDefaults(
  record: EventRecord,
  fields: Readonly<Record<string, FieldConfig>>,
): EventRecord {
  const out: Record<string, unknown> = { ...record };
  for (const [name, field] of Object.entries(fields)) {
    if ((out[name] === undefined || out[name] === null) && field.default !== undefined) {
      out[name] = field.default;
    }
  }
  return out;
}
