/**
 * A small declarative schema for pipeline.yaml: each key has a type, a default and a
 * description, from which validation, defaults and the README reference are derived.
 */

/** Spec of one value in pipeline.yaml; a key without default and not optional is required. */
export type Spec = SpecKind & { optional?: boolean };

type SpecKind =
  | {
    kind: "string";
    description: string;
    default?: string;
    enum?: readonly string[];
    allowEmpty?: boolean;
  }
  | { kind: "url"; description: string; default?: string; protocols: readonly string[] }
  | { kind: "integer"; description: string; default?: number; min?: number; max?: number }
  | { kind: "number"; description: string; default?: number; min?: number; max?: number }
  | { kind: "boolean"; description: string; default?: boolean }
  | { kind: "list"; description: string; of: Spec; default?: unknown[]; minItems?: number }
  | { kind: "object"; description: string; fields: Record<string, Spec>; optional?: boolean }
  | { kind: "map"; description: string; of: Spec; key?: RegExp }
  | {
    kind: "union";
    description: string;
    options: readonly Spec[];
    /** Picks the option that fits a raw value, or undefined if none. */
    pick: (raw: unknown) => number | undefined;
    expected: string;
  };

/** Human name of the type a spec expects, for error messages. */
export function expectedOf(spec: Spec): string {
  switch (spec.kind) {
    case "string":
      return spec.enum ? `one of ${spec.enum.map((v) => `"${v}"`).join(", ")}` : "a string";
    case "url":
      return `a URL (${spec.protocols.map((p) => `${p}//`).join(", ")})`;
    case "integer":
      return rangeText("an integer", spec.min, spec.max);
    case "number":
      return rangeText("a number", spec.min, spec.max);
    case "boolean":
      return "true or false";
    case "list":
      return `a list of ${expectedOf(spec.of).replace(/^an? /, "").replace(/^(\w+)/, "$1s")}`;
    case "object":
    case "map":
      return "a mapping";
    case "union":
      return spec.expected;
  }
}

function rangeText(base: string, min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${base} from ${min} to ${max}`;
  if (min !== undefined) return `${base} >= ${min}`;
  if (max !== undefined) return `${base} <= ${max}`;
  return base;
}

/** snake_case key of pipeline.yaml to the camelCase property of the config object. */
export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
