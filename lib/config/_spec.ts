/**
 * A small declarative schema for pipeline.yaml: each key has a type, a default and a
 * description, from which validation, defaults, the README reference and the TypeScript type
 * of the loaded config (ConfigOf) are all derived.
 */

/** Spec of one value in pipeline.yaml; a key without default and not optional is required. */
export type Spec = SpecKind & { readonly optional?: boolean };

type SpecKind =
  | {
    readonly kind: "string";
    readonly description: string;
    readonly default?: string;
    readonly enum?: readonly string[];
    readonly allowEmpty?: boolean;
    /** A password: read as written (never as a number), never shown in a message. */
    readonly secret?: boolean;
  }
  | {
    readonly kind: "url";
    readonly description: string;
    readonly default?: string;
    readonly protocols: readonly string[];
  }
  | NumberSpec<"integer">
  | NumberSpec<"number">
  | { readonly kind: "boolean"; readonly description: string; readonly default?: boolean }
  | {
    readonly kind: "list";
    readonly description: string;
    readonly of: Spec;
    readonly default?: readonly unknown[];
    readonly minItems?: number;
  }
  | { readonly kind: "object"; readonly description: string; readonly fields: Fields }
  | { readonly kind: "map"; readonly description: string; readonly of: Spec; readonly key?: RegExp }
  | {
    readonly kind: "union";
    readonly description: string;
    readonly options: readonly Spec[];
    /** Picks the option that fits a raw value, or undefined if none. */
    readonly pick: (raw: unknown) => number | undefined;
    readonly expected: string;
  };

type NumberSpec<K extends "integer" | "number"> = {
  readonly kind: K;
  readonly description: string;
  readonly default?: number;
  readonly min?: number;
  readonly max?: number;
};

/** The keys of an object spec, snake_case as written in pipeline.yaml. */
export type Fields = { readonly [key: string]: Spec };

/**
 * The value a spec yields once loaded: enums become literal unions, object keys become
 * camelCase (as camelCase() renames them at run time), map keys stay as the user wrote them,
 * and a key marked optional may be absent. Declare specs `as const` to keep their literals.
 */
export type ConfigOf<S> = S extends { kind: "string"; enum: readonly (infer E)[] } ? E
  : S extends { kind: "string" | "url" } ? string
  : S extends { kind: "integer" | "number" } ? number
  : S extends { kind: "boolean" } ? boolean
  : S extends { kind: "list"; of: infer O } ? readonly ConfigOf<O>[]
  : S extends { kind: "map"; of: infer O } ? { readonly [name: string]: ConfigOf<O> }
  : S extends { kind: "union"; options: readonly (infer O)[] } ? ConfigOf<O>
  : S extends { kind: "object"; fields: infer F } ? ObjectOf<F>
  : never;

type ObjectOf<F> = Flat<
  & { readonly [K in RequiredKeys<F> as CamelCase<K>]: ConfigOf<F[K]> }
  & { readonly [K in OptionalKeys<F> as CamelCase<K>]?: ConfigOf<F[K]> }
>;

type OptionalKeys<F> = {
  [K in keyof F & string]: F[K] extends { optional: true } ? K : never;
}[keyof F & string];
type RequiredKeys<F> = Exclude<keyof F & string, OptionalKeys<F>>;

/** One object type instead of an intersection, for readable hover text and errors. */
type Flat<T> = { [K in keyof T]: T[K] };

/** `consumer_group` -> `consumerGroup`, the type-level twin of camelCase(). */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

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
