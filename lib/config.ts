/**
 * Reads pipeline.yaml into one frozen, typed config shared by every entry point.
 * All problems are collected at once, each with file:line:col and its dotted path.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { dirname, isAbsolute, resolve } from "node:path";
import { camelCase, expectedOf, type Spec } from "./_spec.ts";
import { pipelineSpec } from "./config_spec.ts";
import type { ProducerCompression } from "./kafka.ts";

export type FieldType = "string" | "integer" | "number" | "boolean" | "datetime";
export type Scalar = string | number | boolean;

/** Type, default and bounds of one event field. */
export interface FieldConfig {
  readonly type: FieldType;
  readonly default?: Scalar;
  readonly min?: number;
  readonly max?: number;
  readonly maxLength?: number;
}

/** How one event field becomes tensor values. */
export type Encoding =
  | "number"
  | "string"
  | { readonly oneHot: readonly string[] }
  | { readonly scale: { readonly mean: number; readonly std: number } };

export interface FeatureConfig {
  readonly field: string;
  readonly encode: Encoding;
  readonly missing?: Scalar;
}

export interface ModelInputConfig {
  readonly name: string;
  readonly type: "float32" | "float64" | "int64" | "string";
  readonly features: readonly FeatureConfig[];
}

/** The whole pipeline configuration. */
export interface PipelineConfig {
  /** Absolute path of the file read, or "(defaults)". */
  readonly source: string;
  readonly kafka: {
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly topic: string;
    readonly partitions: number;
    readonly replicationFactor: number;
    readonly consumerGroup: string;
    /** Resolved: never empty. */
    readonly deadLetterTopic: string;
    readonly connectionTimeoutMs: number;
    readonly requestTimeoutMs: number;
  };
  readonly database: { readonly url: string; readonly poolSize: number };
  readonly producer: {
    /** Absolute path. */
    readonly file: string;
    readonly batchSize: number;
    readonly compression: ProducerCompression;
    readonly acks: "all" | "leader";
  };
  readonly consumer: {
    readonly duplicates: "skip" | "update";
    readonly logEvents: boolean;
    readonly summaryIntervalMs: number;
    readonly maxMessageBytes: number;
    readonly maxDepth: number;
    readonly partitionsConsumedConcurrently: number;
    /** Compressed bytes fetched per partition at a time (bounds a batch and the memory). */
    readonly maxFetchBytes: number;
  };
  readonly events: {
    readonly required: readonly string[];
    readonly fields: Readonly<Record<string, FieldConfig>>;
  };
  readonly model: {
    /** Absolute path. */
    readonly path: string;
    readonly output: { readonly name: string; readonly returnedClass: number | string };
    readonly inputs: readonly ModelInputConfig[];
  };
}

/** One problem found in the config file. */
export interface ConfigProblem {
  readonly path: string;
  readonly line?: number;
  readonly col?: number;
  readonly message: string;
}

/** Thrown when pipeline.yaml cannot be used; `problems` lists every issue found. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  readonly file: string;
  constructor(file: string, problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => formatProblem(file, p));
    super(`Cannot load config "${file}": ${problems.length} problem(s)\n  ${lines.join("\n  ")}`);
    this.name = "ConfigError";
    this.file = file;
    this.problems = problems;
  }
}

function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line ? `${file}:${p.line}:${p.col}` : file;
  return `${where}: ${p.path ? p.path + ": " : ""}${p.message}`;
}

/** Default config file: $PIPELINE_CONFIG, else ./pipeline.yaml. */
export function defaultConfigPath(): string {
  return Deno.env.get("PIPELINE_CONFIG") ?? "pipeline.yaml";
}

/** Reads and validates a config file. Throws ConfigError listing every problem. */
export async function loadConfig(
  path: string = defaultConfigPath(),
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<PipelineConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "file not found" : String(error);
    throw new ConfigError(path, [{ path: "", message: `${reason} (pass --config PATH)` }]);
  }
  return parseConfig(text, { file, displayName: path, env });
}

/** Validates config text; `file` anchors relative paths. */
export function parseConfig(
  text: string,
  options: { file: string; displayName?: string; env?: (name: string) => string | undefined },
): PipelineConfig {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const display = options.displayName ?? options.file;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const at = (node: Node | null | undefined) => {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };
  // After a syntax error the parser's further errors are mostly its consequences: report the
  // first one, where the user should look, with the key it sits under.
  const [syntax] = doc.errors;
  if (syntax) {
    const { line, col } = lineCounter.linePos(syntax.pos[0]);
    const more = doc.errors.length - 1;
    problems.push({
      path: pathAt(doc.contents, syntax.pos[0]),
      line,
      col,
      message: `invalid YAML: ${firstLine(syntax.message)}${
        more ? ` (${more} more YAML error(s) follow from it)` : ""
      }`,
    });
    throw new ConfigError(display, problems);
  }

  const validator = new Validator(env, problems, at);
  const raw = validator.check(pipelineSpec, doc.contents ?? null, "") as Record<string, unknown>;
  if (!problems.length) checkSemantics(raw, doc.contents, problems, at);
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  if (problems.length) throw new ConfigError(display, problems);
  return deepFreeze(build(raw, options.file)) as PipelineConfig;
}

/** Dotted path of the deepest mapping key whose entry spans `offset` ("" at the top level). */
function pathAt(node: Node | null | undefined, offset: number, path = ""): string {
  if (!isMap(node)) return path;
  for (const pair of node.items) {
    const key = pair.key as Node | null;
    const value = pair.value as Node | null;
    const start = key?.range?.[0] ?? value?.range?.[0];
    const end = value?.range?.[2] ?? key?.range?.[2];
    if (start === undefined || end === undefined || offset < start || offset > end) continue;
    return pathAt(value, offset, join(path, String(key?.toJSON?.() ?? key)));
  }
  return path;
}

function firstLine(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+.*$/, "");
}

type At = (node: Node | null | undefined) => { line?: number; col?: number };

/** Walks the YAML tree along the spec; returns plain values with defaults filled in. */
class Validator {
  constructor(
    private env: (name: string) => string | undefined,
    private problems: ConfigProblem[],
    private at: At,
  ) {}

  private fail(node: Node | null | undefined, path: string, message: string): undefined {
    this.problems.push({ path, ...this.at(node), message });
    return undefined;
  }

  check(spec: Spec, node: Node | null, path: string): unknown {
    if (node === null || (isScalar(node) && node.value === null)) {
      if (spec.kind === "object") return this.checkObject(spec, null, path);
      return this.fail(node, path, `missing value, expected ${expectedOf(spec)}`);
    }
    switch (spec.kind) {
      case "object":
        return this.checkObject(spec, node, path);
      case "map": {
        if (!isMap(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
        const out: Record<string, unknown> = {};
        for (const pair of node.items) {
          const key = String((pair.key as Node & { value?: unknown })?.toJSON?.() ?? pair.key);
          if (spec.key && !spec.key.test(key)) {
            this.fail(pair.key as Node, join(path, key), `invalid name "${key}" (use snake_case)`);
            continue;
          }
          out[key] = this.check(spec.of, pair.value as Node | null, join(path, key));
        }
        return out;
      }
      case "list": {
        if (!isSeq(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
        if (spec.minItems && node.items.length < spec.minItems) {
          return this.fail(node, path, `expected at least ${spec.minItems} item(s)`);
        }
        return node.items.map((item, i) => this.check(spec.of, item as Node, `${path}[${i}]`));
      }
      case "union": {
        const value = isScalar(node) ? this.scalarValue(node, path) : node.toJSON();
        if (value === undefined && isScalar(node)) return undefined;
        const index = spec.pick(value);
        if (index === undefined) return this.fail(node, path, `expected ${spec.expected}`);
        return this.check(spec.options[index], node, path);
      }
      default:
        return this.checkScalar(spec, node, path);
    }
  }

  private checkObject(
    spec: Extract<Spec, { kind: "object" }>,
    node: Node | null,
    path: string,
  ): Record<string, unknown> | undefined {
    if (node !== null && !isMap(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
    const out: Record<string, unknown> = {};
    const seen = new Map<string, Node | null>();
    for (const pair of node?.items ?? []) {
      const key = String((pair.key as Node)?.toJSON?.() ?? pair.key);
      if (!(key in spec.fields)) {
        const known = Object.keys(spec.fields).join(", ");
        this.fail(pair.key as Node, join(path, key), `unknown key (expected one of: ${known})`);
        continue;
      }
      seen.set(key, pair.value as Node | null);
    }
    for (const [key, sub] of Object.entries(spec.fields)) {
      const subPath = join(path, key);
      if (seen.has(key)) {
        out[key] = this.check(sub, seen.get(key)!, subPath);
      } else if ("default" in sub && sub.default !== undefined) {
        out[key] = structuredClone(sub.default);
      } else if (sub.kind === "object" || sub.kind === "map") {
        out[key] = sub.kind === "object" ? this.checkObject(sub, null, subPath) : {};
      } else if (!sub.optional) {
        this.fail(node, subPath, `missing key, expected ${expectedOf(sub)}`);
      }
    }
    return out;
  }

  /** A scalar's value after ${VAR} interpolation; undefined if a variable is unset. */
  private scalarValue(node: Node, path: string): unknown {
    if (!isScalar(node)) return node.toJSON();
    if (typeof node.value !== "string") return node.value;
    const result = interpolate(node.value, this.env);
    if ("missing" in result) {
      return this.fail(
        node,
        path,
        `environment variable ${result.missing} is not set (set it, or write \${${result.missing}:-default})`,
      );
    }
    if (result.value === node.value || node.type !== "PLAIN") return result.value;
    // An interpolated plain scalar is read as YAML would read the substituted text.
    const reparsed = parseDocument(result.value).contents;
    return isScalar(reparsed) && reparsed.value !== null ? reparsed.value : result.value;
  }

  private checkScalar(spec: Spec, node: Node, path: string): unknown {
    if (!isScalar(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
    const value = this.scalarValue(node, path);
    if (value === undefined) return undefined;
    const bad = () => this.fail(node, path, `expected ${expectedOf(spec)}, got ${show(value)}`);
    switch (spec.kind) {
      case "string":
      case "url": {
        if (typeof value !== "string") return bad();
        if (spec.kind === "string") {
          if (!value && !spec.allowEmpty) return this.fail(node, path, "must not be empty");
          if (spec.enum && !spec.enum.includes(value)) return bad();
          return value;
        }
        let url: URL;
        try {
          url = new URL(value);
        } catch {
          return this.fail(node, path, `expected ${expectedOf(spec)}, got "${maskUrl(value)}"`);
        }
        if (!spec.protocols.includes(url.protocol)) {
          return this.fail(node, path, `expected ${expectedOf(spec)}, got "${maskUrl(value)}"`);
        }
        if (!url.hostname) return this.fail(node, path, "URL has no host");
        if (url.pathname.length <= 1) {
          return this.fail(node, path, "URL has no database name (add /name at the end)");
        }
        return value;
      }
      case "integer":
      case "number": {
        if (typeof value !== "number" || Number.isNaN(value)) return bad();
        if (spec.kind === "integer" && !Number.isSafeInteger(value)) return bad();
        if (spec.min !== undefined && value < spec.min) return bad();
        if (spec.max !== undefined && value > spec.max) return bad();
        return value;
      }
      case "boolean":
        return typeof value === "boolean" ? value : bad();
      default:
        return bad();
    }
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function show(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : String(value);
}

/** Replaces ${VAR} and ${VAR:-default}; `$$` is a literal `$`. */
function interpolate(
  text: string,
  env: (name: string) => string | undefined,
): { value: string } | { missing: string } {
  let missing: string | undefined;
  const value = text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, name?: string, fallback?: string) => {
      if (match === "$$") return "$";
      const found = env(name!);
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      missing ??= name;
      return "";
    },
  );
  return missing ? { missing } : { value };
}

/** Cross-field checks that a per-key spec cannot express. */
function checkSemantics(
  raw: Record<string, unknown>,
  root: Node | null,
  problems: ConfigProblem[],
  at: At,
): void {
  const nodeAt = (path: (string | number)[]) =>
    isMap(root) || isSeq(root) ? (root.getIn(path, true) as Node | undefined) : undefined;
  const fail = (path: (string | number)[], message: string) =>
    problems.push({ path: dotted(path), ...at(nodeAt(path)), message });

  const events = raw.events as { required: string[]; fields: Record<string, RawField> };
  for (const [i, name] of events.required.entries()) {
    if (!(name in events.fields)) {
      fail(["events", "required", i], `"${name}" is not declared under events.fields`);
    }
  }
  for (const [name, field] of Object.entries(events.fields)) {
    if (field.default === undefined) {
      if (!events.required.includes(name)) {
        fail(["events", "fields", name], "has no default: give one or list it in events.required");
      }
      continue;
    }
    const problem = defaultProblem(field);
    if (problem) fail(["events", "fields", name, "default"], problem);
  }

  const model = raw.model as { inputs: { type: string; features: RawFeature[] }[] };
  for (const [i, input] of model.inputs.entries()) {
    for (const [j, feature] of input.features.entries()) {
      const path = ["model", "inputs", i, "features", j];
      const field = events.fields[feature.field];
      if (!field) {
        fail([...path, "field"], `"${feature.field}" is not declared under events.fields`);
        continue;
      }
      const stringTensor = input.type === "string";
      const stringEncode = feature.encode === "string";
      if (stringTensor !== stringEncode) {
        fail(
          [...path, "encode"],
          stringTensor
            ? `a ${input.type} input takes encode: string`
            : `encode: string needs an input of type string, not ${input.type}`,
        );
      }
      const scaled = typeof feature.encode === "object" && feature.encode !== null &&
        "scale" in feature.encode;
      if (
        (feature.encode === "number" || scaled) &&
        !["integer", "number", "boolean"].includes(field.type)
      ) {
        fail([...path, "encode"], `field "${feature.field}" is a ${field.type}, not numeric`);
      }
    }
  }
}

type RawField = { type: FieldType; default?: Scalar; min?: number; max?: number };
type RawFeature = { field: string; encode: unknown; missing?: Scalar };

function defaultProblem(field: RawField): string | undefined {
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

function dotted(path: (string | number)[]): string {
  return path.reduce<string>(
    (out, part) => typeof part === "number" ? `${out}[${part}]` : out ? `${out}.${part}` : part,
    "",
  );
}

/** Turns validated raw values into the typed config (camelCase keys, resolved paths). */
function build(raw: Record<string, unknown>, file: string): PipelineConfig {
  const base = dirname(file);
  const relative = (p: string) => isAbsolute(p) ? p : resolve(base, p);
  const camel = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(camel);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [camelCase(k), camel(v)]));
    }
    return value;
  };
  const events = raw.events as { required: string[]; fields: Record<string, unknown> };
  const config = {
    source: file,
    kafka: camel(raw.kafka),
    database: camel(raw.database),
    producer: camel(raw.producer),
    consumer: camel(raw.consumer),
    // Field names are user data: keep them as written.
    events: {
      required: events.required,
      fields: Object.fromEntries(
        Object.entries(events.fields).map(([name, spec]) => [name, camel(spec)]),
      ),
    },
    model: camel(raw.model),
  } as unknown as {
    -readonly [K in keyof PipelineConfig]: PipelineConfig[K] & Record<string, unknown>;
  };
  const kafka = config.kafka as unknown as {
    topic: string;
    deadLetterTopic: string;
    brokers: string[];
  };
  kafka.deadLetterTopic ||= `${kafka.topic}.dlq`;
  // "a:9092,b:9092" from one environment variable means two brokers.
  kafka.brokers = kafka.brokers.flatMap((b) => b.split(",")).map((b) => b.trim()).filter(Boolean);
  (config.producer as { file: string }).file = relative(config.producer.file);
  (config.model as { path: string }).path = relative(config.model.path);
  return config as unknown as PipelineConfig;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The dead-letter topic of `topic`: kafka.dead_letter_topic, or "<topic>.dlq" when that key is
 * left empty, so that a derived dead-letter topic follows a topic given on the command line.
 */
export function deadLetterTopicOf(config: PipelineConfig, topic: string): string {
  const { topic: configured, deadLetterTopic } = config.kafka;
  return deadLetterTopic === `${configured}.dlq` ? `${topic}.dlq` : deadLetterTopic;
}

/** The URL with its password replaced by ****, safe to log. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:****@");
  }
}
