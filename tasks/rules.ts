/**
 * `deno task rules`: checks the layout's rules on every .ts file of the repository and
 * lists each breach with its file and line. Exit 1 when there is any.
 *
 * - lib/ never imports dev tooling, training, task entry points or tests;
 * - each npm package of an outside system is imported only by its folder: kafkajs by
 *   lib/kafka/, mysql2 and drizzle-orm by lib/db/, onnxruntime-node by lib/model/ (a test that
 *   is an independent check may import one, with a comment saying so on the line before);
 * - a `_file.ts` is private to its folder (and the folders below it);
 * - no library layer imports the command-line layer (lib/cli) and the outside systems'
 *   folders (lib/kafka, lib/db, lib/model) do not print (lib/log);
 * - no import cycles.
 */
import { dirname, join, normalize, relative } from "node:path";

const root = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));

/** npm packages and the only folder that may import each. */
const OWNERS: Record<string, string> = {
  kafkajs: "lib/kafka/",
  mysql2: "lib/db/",
  "drizzle-orm": "lib/db/",
  "onnxruntime-node": "lib/model/",
};

/** Private files used across folders on purpose, each with its reason in the importer. */
const PRIVATE_EXCEPTIONS = new Set([
  // drizzle-kit loads the schema outside the import map: it may only import import-free files.
  "lib/db/_schema.ts -> lib/config/_columns.ts",
]);

interface Import {
  readonly from: string;
  readonly line: number;
  readonly specifier: string;
  /** The line before the import: where an independent check says why. */
  readonly previous: string;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* tsFiles(path);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield relative(root, path);
  }
}

const importPattern = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)"([^"]+)"/gm;

function importsOf(file: string, text: string): Import[] {
  const lines = text.split("\n");
  const found: Import[] = [];
  for (const match of text.matchAll(importPattern)) {
    const line = text.slice(0, match.index).split("\n").length;
    found.push({
      from: file,
      line,
      specifier: match[1],
      previous: lines[line - 2] ?? "",
    });
  }
  return found;
}

/** The npm package a specifier names, through deno.json's import map. */
function packageOf(specifier: string, importMap: Record<string, string>): string | undefined {
  let target = specifier;
  for (const [key, value] of Object.entries(importMap)) {
    if (specifier === key || (key.endsWith("/") && specifier.startsWith(key))) {
      target = value + specifier.slice(key.length);
    }
  }
  const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(target);
  return npm?.[1];
}

function folderOf(file: string): string {
  return dirname(file) + "/";
}

const breaches: string[] = [];
const breach = (imp: Import, message: string) =>
  breaches.push(`${imp.from}:${imp.line}: ${message} (${imp.specifier})`);

const importMap: Record<string, string> =
  JSON.parse(await Deno.readTextFile(join(root, "deno.json"))).imports ?? {};
const graph = new Map<string, string[]>();

for await (const file of tsFiles(root)) {
  const text = await Deno.readTextFile(join(root, file));
  const edges: string[] = [];
  graph.set(file, edges);
  for (const imp of importsOf(file, text)) {
    const pkg = packageOf(imp.specifier, importMap);
    if (pkg && OWNERS[pkg]) {
      const owner = OWNERS[pkg];
      const independent = file.startsWith("tests/") && /independent check/i.test(imp.previous);
      if (!file.startsWith(owner) && !independent) {
        breach(imp, `only ${owner} may import ${pkg}`);
      }
    }
    if (!imp.specifier.startsWith(".")) continue;
    const target = normalize(join(dirname(file), imp.specifier));
    edges.push(target);
    if (file.startsWith("lib/") && /^(dev|training|tasks|tests)\//.test(target)) {
      breach(imp, "lib/ must not import dev tooling, training, entry points or tests");
    }
    const name = target.split("/").pop()!;
    if (
      name.startsWith("_") && !folderOf(file).startsWith(folderOf(target)) &&
      !PRIVATE_EXCEPTIONS.has(`${file} -> ${target}`)
    ) {
      breach(imp, `${target} is private to ${folderOf(target)}; import its mod.ts`);
    }
    if (file.startsWith("lib/") && !file.startsWith("lib/cli/") && target.startsWith("lib/cli/")) {
      breach(imp, "library layers must not import the command-line layer");
    }
    if (/^lib\/(kafka|db|model)\//.test(file) && target.startsWith("lib/log/")) {
      breach(imp, "lib/kafka, lib/db and lib/model report through callbacks, not lib/log");
    }
  }
}

// Cycles: a depth-first search over project files, reporting each cycle once.
const state = new Map<string, "open" | "done">();
const stack: string[] = [];
const reported = new Set<string>();
function visit(file: string): void {
  state.set(file, "open");
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (!graph.has(next)) continue;
    if (state.get(next) === "open") {
      const cycle = stack.slice(stack.indexOf(next)).concat(next);
      const key = [...cycle].slice(0, -1).sort().join(" ");
      if (!reported.has(key)) {
        reported.add(key);
        breaches.push(`import cycle: ${cycle.join(" -> ")}`);
      }
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, "done");
}
for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);

if (breaches.length) {
  console.error(breaches.join("\n"));
  console.error(`rules: ${breaches.length} breach(es) in ${graph.size} files`);
  Deno.exit(1);
}
console.log(`rules: ${graph.size} files follow the layout's rules`);
