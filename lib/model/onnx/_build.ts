/** Builds ONNX models (ModelProto bytes) from plain descriptions of nodes and tensors. */
import { ProtoWriter } from "./_proto.ts";

/** ONNX TensorProto.DataType codes of the element types this project uses. */
export const DataType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
} as const;

/** Element type name of an ONNX data type code ("float32", "int64", ...). */
export function elemTypeName(code: number): string {
  const found = Object.entries(DataType).find(([, c]) => c === code);
  return found ? found[0] : `type#${code}`;
}

/** A dimension: a fixed size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

/** A constant tensor (initializer or attribute). */
export interface TensorSpec {
  readonly name?: string;
  readonly type: "float32" | "float64" | "int64" | "string";
  readonly dims: readonly number[];
  readonly values: ArrayLike<number> | readonly bigint[] | readonly string[];
}

/** The value of one node attribute. */
export type AttrValue =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly strings: readonly string[] }
  | { readonly tensor: TensorSpec };

/** One graph node. */
export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly domain?: string;
  readonly name?: string;
  readonly attrs?: Readonly<Record<string, AttrValue>>;
}

/** The type of a graph input or output. */
export type TypeSpec =
  | { readonly tensor: keyof typeof DataType; readonly dims?: readonly Dim[] }
  | { readonly sequenceOfMap: { readonly key: "int64" | "string"; readonly value: "float32" } };

/** A named, typed graph input or output. */
export interface ValueSpec {
  readonly name: string;
  readonly type: TypeSpec;
}

/** A whole model. */
export interface ModelSpec {
  readonly graphName: string;
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly TensorSpec[];
  /** Domain ("" is ai.onnx) -> opset version. */
  readonly opsets: Readonly<Record<string, number>>;
  readonly irVersion?: number;
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

const utf8 = new TextEncoder();

/** Encodes a TensorProto. */
function tensorProto(t: TensorSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, DataType[t.type]);
  if (t.name) w.string(8, t.name);
  const n = t.values.length;
  const expected = t.dims.reduce((a, b) => a * b, 1);
  if (n !== expected) {
    throw new Error(`Cannot build tensor "${t.name ?? ""}": ${n} values for dims [${t.dims}]`);
  }
  if (t.type === "string") {
    for (const s of t.values as readonly string[]) w.bytes(6, utf8.encode(s));
    return w;
  }
  // raw_data is little-endian, as ONNX specifies.
  const size = t.type === "float32" ? 4 : 8;
  const raw = new Uint8Array(n * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const v = t.values[i] as number | bigint;
    if (t.type === "float32") view.setFloat32(i * 4, Number(v), true);
    else if (t.type === "float64") view.setFloat64(i * 8, Number(v), true);
    else view.setBigInt64(i * 8, BigInt(v), true);
  }
  w.bytes(9, raw);
  return w;
}

function attributeProto(name: string, value: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  // AttributeProto.type codes: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7, STRINGS 8.
  if ("int" in value) w.int(3, value.int).int(20, 2);
  else if ("float" in value) w.float(2, value.float).int(20, 1);
  else if ("string" in value) w.string(4, value.string).int(20, 3);
  else if ("tensor" in value) w.message(5, tensorProto(value.tensor)).int(20, 4);
  else if ("floats" in value) w.packedFloats(7, value.floats).int(20, 6);
  else if ("ints" in value) w.packedInts(8, value.ints).int(20, 7);
  else {
    for (const s of value.strings) w.string(9, s);
    w.int(20, 8);
  }
  return w;
}

function nodeProto(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs ?? {})) {
    w.message(5, attributeProto(name, value));
  }
  if (n.domain) w.string(7, n.domain);
  return w;
}

function tensorTypeProto(elem: keyof typeof DataType, dims?: readonly Dim[]): ProtoWriter {
  const tensor = new ProtoWriter().int(1, DataType[elem]);
  if (dims) {
    const shape = new ProtoWriter();
    for (const d of dims) {
      const dim = new ProtoWriter();
      if (typeof d === "number") dim.int(1, d);
      else if (typeof d === "string") dim.string(2, d);
      shape.message(1, dim);
    }
    tensor.message(2, shape);
  }
  return new ProtoWriter().message(1, tensor);
}

/** Encodes a TypeProto. */
function typeProto(t: TypeSpec): ProtoWriter {
  if ("tensor" in t) return tensorTypeProto(t.tensor, t.dims);
  const keyCode = DataType[t.sequenceOfMap.key];
  const map = new ProtoWriter().int(1, keyCode).message(2, tensorTypeProto("float32"));
  const element = new ProtoWriter().message(5, map);
  return new ProtoWriter().message(4, new ProtoWriter().message(1, element));
}

/** Encodes a ValueInfoProto. */
export function valueInfoProto(v: ValueSpec): ProtoWriter {
  return new ProtoWriter().string(1, v.name).message(2, typeProto(v.type));
}

/** Encodes a whole model as ONNX bytes. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of spec.nodes) graph.message(1, nodeProto(n));
  graph.string(2, spec.graphName);
  for (const t of spec.initializers ?? []) graph.message(5, tensorProto(t));
  for (const v of spec.inputs) graph.message(11, valueInfoProto(v));
  for (const v of spec.outputs) graph.message(12, valueInfoProto(v));

  const model = new ProtoWriter().int(1, spec.irVersion ?? 8);
  if (spec.producerName) model.string(2, spec.producerName);
  if (spec.producerVersion) model.string(3, spec.producerVersion);
  if (spec.docString) model.string(6, spec.docString);
  model.message(7, graph);
  for (const [domain, version] of Object.entries(spec.opsets)) {
    const opset = new ProtoWriter();
    if (domain) opset.string(1, domain);
    opset.int(2, version);
    model.message(8, opset);
  }
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    model.message(14, new ProtoWriter().string(1, key).string(2, value));
  }
  return model.finish();
}

/**
 * A binary classifier the way training writes it: `body` turns the `[N, cols]` input into a
 * float64 tensor named "logit"; Sigmoid then gives `[N, 2]` float64 probabilities, the
 * returned class in column `returnedColumn`.
 */
export function binaryClassifierModel(options: {
  input: string;
  inputType: "float32" | "float64";
  cols: number;
  output: string;
  returnedColumn: 0 | 1;
  opsets: Readonly<Record<string, number>>;
  initializers: readonly TensorSpec[];
  body: readonly NodeSpec[];
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}): Uint8Array {
  const p = "p_returned";
  const q = "p_kept";
  return buildModel({
    graphName: "return_model",
    producerName: "order-pipeline-train",
    producerVersion: "1",
    docString: options.docString,
    metadata: options.metadata,
    opsets: options.opsets,
    inputs: [{
      name: options.input,
      type: { tensor: options.inputType, dims: ["N", options.cols] },
    }],
    outputs: [{ name: options.output, type: { tensor: "float64", dims: ["N", 2] } }],
    initializers: [...options.initializers, {
      name: "one",
      type: "float64",
      dims: [1],
      values: [1],
    }],
    nodes: [
      ...options.body,
      { op: "Sigmoid", inputs: ["logit"], outputs: [p] },
      { op: "Sub", inputs: ["one", p], outputs: [q] },
      {
        op: "Concat",
        inputs: options.returnedColumn === 1 ? [q, p] : [p, q],
        outputs: [options.output],
        attrs: { axis: { int: 1 } },
      },
    ],
  });
}
