/** Shared test helpers: unique names, temporary configs, running entry points, cleanup. */
import { isAbsolute, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { loadConfig } from "../lib/config/mod.ts";
import { dropDatabase as dropDatabaseAt } from "../lib/db/mod.ts";

/** The repository's root folder, where entry points and pipeline.yaml live. */
export const repoRoot = resolve(import.meta.dirname!, "..");

/** The repository's pipeline.yaml. */
export const repoConfigPath = join(repoRoot, "pipeline.yaml");

/** A name no other test run uses, valid as a Kafka topic and as a database name. */
export function uniqueName(prefix: string): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `${prefix}_${Date.now().toString(36)}_${random}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/**
 * Options of writeTestConfig(): `topic` and `database` (unique names by default), plus any
 * number of values to set by dotted path, e.g. `{ "consumer.duplicates": "update" }`.
 */
/**
 * Whether an optional program runs here (`program --version` succeeds). A missing program makes
 * Deno.Command's output() throw at once rather than reject, so both are caught.
 */
export async function programRuns(program: string): Promise<boolean> {
  try {
    const output = await new Deno.Command(program, {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

export type TestConfigOptions = {
  topic?: string;
  database?: string;
  [path: `${string}.${string}`]: unknown;
};

/**
 * Writes a pipeline.yaml derived from the repository's one into a new temporary folder and
 * returns its path. It has its own topic, dead-letter topic (<topic>.dlq), consumer group
 * (<topic>_group) and database; relative file paths still point into the repository.
 */
export async function writeTestConfig(options: TestConfigOptions = {}): Promise<string> {
  const { topic = uniqueName("test"), database = topic, ...overrides } = options;
  if (!/^\w{1,64}$/.test(database)) throw new Error(`Cannot use database name "${database}"`);
  const base = await loadConfig(repoConfigPath);
  const url = new URL(base.database.url);
  url.pathname = `/${database}`;
  const doc = parseDocument(await Deno.readTextFile(repoConfigPath));
  doc.setIn(["kafka", "topic"], topic);
  doc.setIn(["kafka", "dead_letter_topic"], `${topic}.dlq`);
  doc.setIn(["kafka", "consumer_group"], `${topic}_group`);
  doc.setIn(["database", "url"], url.toString());
  for (const key of [["producer", "file"], ["model", "path"]]) {
    const value = doc.getIn(key);
    if (typeof value === "string" && !isAbsolute(value)) doc.setIn(key, join(repoRoot, value));
  }
  for (const [path, value] of Object.entries(overrides)) {
    doc.setIn(path.split(".").map((part) => /^\d+$/.test(part) ? Number(part) : part), value);
  }
  const dir = await Deno.makeTempDir({ prefix: "pipeline_test_" });
  tempDirs.add(dir);
  const file = join(dir, "pipeline.yaml");
  await Deno.writeTextFile(file, doc.toString());
  return file;
}

const tempDirs = new Set<string>();
// The configs are read by entry points until the test ends: remove them when the process ends.
globalThis.addEventListener("unload", () => {
  for (const dir of tempDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already removed by the test
    }
  }
});

/** What an entry point printed and how it exited. */
export interface EntryResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an entry point (path relative to the repository) as a user would, from the repository. */
export async function runEntry(
  script: string,
  args: string[] = [],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<EntryResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: repoRoot,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Drops a test database on the server of the repository's database.url (if it exists). */
export async function dropDatabase(name: string): Promise<void> {
  if (!/^\w{1,64}$/.test(name)) throw new Error(`Cannot drop database "${name}": invalid name`);
  const url = new URL((await loadConfig(repoConfigPath)).database.url);
  url.pathname = `/${name}`;
  await dropDatabaseAt(url.toString());
}
