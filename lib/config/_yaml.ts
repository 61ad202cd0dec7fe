/**
 * pipeline.yaml as a YAML tree that remembers where each value was written, so that every
 * problem found later can be reported at its file:line:col.
 */
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";

/** One problem found in the config file. */
export interface ConfigProblem {
  readonly path: string;
  readonly line?: number;
  readonly col?: number;
  readonly message: string;
}

/** A location in the file as keys and list indexes: ["model", "inputs", 0, "name"]. */
export type KeyPath = readonly (string | number)[];

/** The parsed file: its tree, and positions of its nodes. */
export class YamlText {
  /** The document's top node; null for an empty file. */
  readonly root: Node | null;
  /** The first syntax error, reported alone: the parser's further errors mostly follow from it. */
  readonly syntaxProblem: ConfigProblem | undefined;
  readonly #lines = new LineCounter();

  constructor(text: string) {
    const doc = parseDocument(text, {
      lineCounter: this.#lines,
      prettyErrors: false,
      uniqueKeys: true,
    });
    this.root = (doc.contents as Node | null) ?? null;
    const [syntax] = doc.errors;
    if (syntax) {
      const more = doc.errors.length - 1;
      this.syntaxProblem = {
        path: pathAt(this.root, syntax.pos[0]),
        ...this.#lines.linePos(syntax.pos[0]),
        message: `invalid YAML: ${firstLine(syntax.message)}${
          more ? ` (${more} more YAML error(s) follow from it)` : ""
        }`,
      };
    }
  }

  /** Line and column where a node starts; none for a node that is not in the file. */
  position(node: Node | null | undefined): { line?: number; col?: number } {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const { line, col } = this.#lines.linePos(offset);
    return { line, col };
  }

  /**
   * Position of the value at `path`, or of its nearest ancestor that is written, so that a
   * missing key is reported where it belongs.
   */
  positionOf(path: KeyPath): { line?: number; col?: number } {
    for (let n = path.length; n > 0; n--) {
      const node = isMap(this.root) || isSeq(this.root)
        ? this.root.getIn(path.slice(0, n), true) as Node | undefined
        : undefined;
      if (node && typeof node === "object" && node.range) return this.position(node);
    }
    return this.position(this.root);
  }
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
    return pathAt(value, offset, joinKey(path, String(key?.toJSON?.() ?? key)));
  }
  return path;
}

function firstLine(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+.*$/, "");
}

/** `kafka` + `topic` -> `kafka.topic`. */
export function joinKey(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** ["model", "inputs", 0, "name"] -> `model.inputs[0].name`. */
export function dotted(path: KeyPath): string {
  return path.reduce<string>(
    (out, part) => typeof part === "number" ? `${out}[${part}]` : joinKey(out, part),
    "",
  );
}
