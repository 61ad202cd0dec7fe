/**
 * Reads what an ONNX file declares (inputs, outputs, opsets, nodes) without running it, and
 * rewrites a ZipMap-ended graph so that its probability tensor can be fetched.
 */
import { elemTypeName, valueInfoProto } from "./_build.ts";
import { concatBytes } from "../../bytes/mod.ts";
import { fieldInts, fieldText, type ProtoField, ProtoWriter, readFields, Wire } from "./_proto.ts";

/** A dimension as declared: a fixed size, a symbolic name, or unknown (null). */
export type DeclaredDim = number | string | null;

/** The declared type of a graph input or output. */
export type ValueType =
  | { readonly kind: "tensor"; readonly elemType: string; readonly dims?: readonly DeclaredDim[] }
  | { readonly kind: "sequence"; readonly of: ValueType }
  | { readonly kind: "map"; readonly key: string; readonly value: ValueType }
  | { readonly kind: "other" };

/** A named graph input or output. */
export interface ValueInfo {
  readonly name: string;
  readonly type: ValueType;
}

/** One node attribute, decoded as far as this project needs. */
export interface AttributeInfo {
  readonly ints: readonly bigint[];
  readonly strings: readonly string[];
  readonly floats: readonly number[];
}

/** One graph node. */
export interface NodeInfo {
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, AttributeInfo>;
}

/** What an ONNX file declares. */
export interface ModelInfo {
  readonly irVersion: number;
  readonly producer: string;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly NodeInfo[];
  readonly metadata: Readonly<Record<string, string>>;
}

/** Parses an ONNX ModelProto. Throws if the bytes are not one. */
export function readModelInfo(bytes: Uint8Array): ModelInfo {
  const model = readFields(bytes);
  const graphField = model.find((f) => f.field === 7 && f.wire === Wire.bytes);
  if (!graphField?.bytes) throw new Error("no graph in the file (is it an ONNX model?)");
  const graph = readFields(graphField.bytes);
  const initializers = new Set(
    graph.filter((f) => f.field === 5).map((f) => textOf(readFields(f.bytes!), 8)),
  );
  const metadata: Record<string, string> = {};
  for (const f of model.filter((f) => f.field === 14)) {
    const entry = readFields(f.bytes!);
    metadata[textOf(entry, 1)] = textOf(entry, 2);
  }
  return {
    irVersion: Number(model.find((f) => f.field === 1)?.int ?? 0n),
    producer: [textOf(model, 2), textOf(model, 3)].filter(Boolean).join(" "),
    opsets: model.filter((f) => f.field === 8).map((f) => {
      const o = readFields(f.bytes!);
      return { domain: textOf(o, 1), version: Number(o.find((x) => x.field === 2)?.int ?? 0n) };
    }),
    // Before IR version 4, initializers were also listed as inputs: they are not fed.
    inputs: graph.filter((f) => f.field === 11).map((f) => readValueInfo(f.bytes!))
      .filter((v) => !initializers.has(v.name)),
    outputs: graph.filter((f) => f.field === 12).map((f) => readValueInfo(f.bytes!)),
    nodes: graph.filter((f) => f.field === 1).map((f) => readNode(f.bytes!)),
    metadata,
  };
}

function textOf(fields: readonly ProtoField[], field: number): string {
  const f = fields.find((x) => x.field === field && x.wire === Wire.bytes);
  return f ? fieldText(f) : "";
}

function readValueInfo(bytes: Uint8Array): ValueInfo {
  const fields = readFields(bytes);
  const type = fields.find((f) => f.field === 2);
  return { name: textOf(fields, 1), type: type ? readType(type.bytes!) : { kind: "other" } };
}

function readType(bytes: Uint8Array): ValueType {
  const fields = readFields(bytes);
  for (const f of fields) {
    if (f.field === 1 && f.bytes) {
      const t = readFields(f.bytes);
      const elem = Number(t.find((x) => x.field === 1)?.int ?? 0n);
      const shape = t.find((x) => x.field === 2);
      const dims = shape
        ? readFields(shape.bytes!).filter((d) => d.field === 1).map((d) => {
          const dim = readFields(d.bytes!);
          const value = dim.find((x) => x.field === 1)?.int;
          if (value !== undefined) return Number(value);
          return textOf(dim, 2) || null;
        })
        : undefined;
      return { kind: "tensor", elemType: elemTypeName(elem), dims };
    }
    if (f.field === 4 && f.bytes) {
      const of = readFields(f.bytes).find((x) => x.field === 1);
      return { kind: "sequence", of: of ? readType(of.bytes!) : { kind: "other" } };
    }
    if (f.field === 5 && f.bytes) {
      const m = readFields(f.bytes);
      const key = Number(m.find((x) => x.field === 1)?.int ?? 0n);
      const value = m.find((x) => x.field === 2);
      return {
        kind: "map",
        key: elemTypeName(key),
        value: value ? readType(value.bytes!) : { kind: "other" },
      };
    }
  }
  return { kind: "other" };
}

function readNode(bytes: Uint8Array): NodeInfo {
  const fields = readFields(bytes);
  const attributes = new Map<string, AttributeInfo>();
  for (const f of fields.filter((x) => x.field === 5)) {
    const a = readFields(f.bytes!);
    const floats: number[] = [];
    for (const x of a.filter((x) => x.field === 7)) {
      const view = new DataView(x.bytes!.buffer, x.bytes!.byteOffset, x.bytes!.byteLength);
      for (let i = 0; i + 4 <= x.bytes!.length; i += 4) floats.push(view.getFloat32(i, true));
    }
    attributes.set(textOf(a, 1), {
      ints: [...fieldInts(a, 3), ...fieldInts(a, 8)],
      strings: a.filter((x) => x.field === 9 || x.field === 4).map(fieldText),
      floats,
    });
  }
  return {
    opType: textOf(fields, 4),
    domain: textOf(fields, 7),
    inputs: fields.filter((f) => f.field === 1).map(fieldText),
    outputs: fields.filter((f) => f.field === 2).map(fieldText),
    attributes,
  };
}

/** A human form of a type: "float32[N,10]", "seq(map(int64,float32))". */
export function formatType(t: ValueType): string {
  switch (t.kind) {
    case "tensor":
      return t.dims ? `${t.elemType}[${t.dims.map((d) => d ?? "?").join(",")}]` : t.elemType;
    case "sequence":
      return `seq(${formatType(t.of)})`;
    case "map":
      return `map(${t.key},${formatType(t.value)})`;
    default:
      return "unknown";
  }
}

/** The ZipMap node producing `output`, if any. */
export function zipMapFor(info: ModelInfo, output: string): NodeInfo | undefined {
  return info.nodes.find((n) =>
    n.opType === "ZipMap" && n.domain === "ai.onnx.ml" && n.outputs.includes(output)
  );
}

/** Class labels of a ZipMap node, as strings or as integers. */
export function zipMapLabels(node: NodeInfo): (string | number)[] {
  const strings = node.attributes.get("classlabels_strings")?.strings ?? [];
  if (strings.length) return [...strings];
  return (node.attributes.get("classlabels_int64s")?.ints ?? []).map((i) =>
    Number(BigInt.asIntN(64, i))
  );
}

/**
 * Rewrites a model so that the probability tensor feeding the ZipMap that produces `output`
 * becomes a graph output, and drops that ZipMap and its output: onnxruntime-node cannot return
 * a sequence of maps. Every other field is copied unchanged.
 */
export function exposeZipMapInput(bytes: Uint8Array, output: string): Uint8Array {
  const model = readFields(bytes);
  const parts: Uint8Array[] = [];
  for (const f of model) {
    if (f.field !== 7) {
      parts.push(f.raw);
      continue;
    }
    const graph = readFields(f.bytes!);
    let zipInput: string | undefined;
    const graphParts: Uint8Array[] = [];
    for (const g of graph) {
      if (g.field === 1) {
        const node = readNode(g.bytes!);
        if (node.opType === "ZipMap" && node.outputs.includes(output)) {
          zipInput = node.inputs[0];
          continue;
        }
      }
      if (g.field === 12 && readValueInfo(g.bytes!).name === output) continue;
      graphParts.push(g.raw);
    }
    if (!zipInput) throw new Error(`no ZipMap produces "${output}"`);
    const extra = valueInfoProto({
      name: zipInput,
      type: { tensor: "float32", dims: [null, null] },
    });
    const graphBytes = concatBytes([...graphParts, fieldBytes(12, extra.finish())]);
    parts.push(fieldBytes(7, graphBytes));
  }
  return concatBytes(parts);
}

function fieldBytes(field: number, value: Uint8Array): Uint8Array {
  return new ProtoWriter().bytes(field, value).finish();
}
