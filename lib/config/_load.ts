/**
 * Reads pipeline.yaml into one frozen, typed config shared by every entry point.
 * All problems are collected at once, each with file:line:col and its dotted path: the
 * spec's per-key checks, then the checks across keys (fields, columns, model mapping).
 */
import { resolve } from "node:path";
import { buildConfig } from "./_build.ts";
import { checkColumns, checkEvents, checkTls, checkTopics } from "./_checks.ts";
import { checkMapping } from "./_mapping.ts";
import type { Env } from "./_interpolate.ts";
import { type PipelineConfig, resolveConfig } from "./_resolve.ts";
import { type ConfigProblem, dotted, YamlText } from "./_yaml.ts";

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
  env: Env = (n) => Deno.env.get(n),
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
  options: { file: string; displayName?: string; env?: Env },
): PipelineConfig {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const display = options.displayName ?? options.file;
  const yaml = new YamlText(text);
  if (yaml.syntaxProblem) throw new ConfigError(display, [yaml.syntaxProblem]);
  const problems: ConfigProblem[] = [];
  const config = buildConfig(yaml, env, problems);
  // Checks across keys read typed values: they run once every key has passed the spec.
  if (config) {
    const report = (path: readonly (string | number)[], message: string) =>
      problems.push({ path: dotted(path), ...yaml.positionOf(path), message });
    checkTopics(config.kafka, report);
    checkTls(config, report);
    checkEvents(config.events, report);
    checkColumns(config.events, report);
    checkMapping(config, report);
  }
  if (!config || problems.length) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    throw new ConfigError(display, problems);
  }
  return resolveConfig(config, options.file);
}
