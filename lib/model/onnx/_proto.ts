/**
 * The few protobuf wire-format pieces ONNX files need: a writer for building models and a
 * reader that splits a message into its fields. ONNX is a handful of messages, so a tiny
 * codec avoids a schema compiler and a dependency.
 */
import { concatBytes } from "../../bytes/mod.ts";

/** Protobuf wire types used by ONNX. */
export const Wire = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Builds one protobuf message; nested messages are written as finished byte arrays. */
export class ProtoWriter {
  #chunks: number[] = [];
  #parts: Uint8Array[] = [];

  #flush(): void {
    if (this.#chunks.length) {
      this.#parts.push(Uint8Array.from(this.#chunks));
      this.#chunks = [];
    }
  }

  #varint(value: bigint): void {
    // Negative int64 values are written as their 64-bit two's complement, as protobuf does.
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.#chunks.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#chunks.push(Number(v));
  }

  #tag(field: number, wire: number): void {
    this.#varint(BigInt((field << 3) | wire));
  }

  /** An int32/int64/enum/bool field. */
  int(field: number, value: number | bigint): this {
    this.#tag(field, Wire.varint);
    this.#varint(BigInt(value));
    return this;
  }

  /** A length-delimited field (bytes or an embedded message). */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, Wire.bytes);
    this.#varint(BigInt(value.length));
    this.#flush();
    this.#parts.push(value);
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A float (fixed32) field. */
  float(field: number, value: number): this {
    this.#tag(field, Wire.fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#chunks.push(...b);
    return this;
  }

  /** An embedded message field. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** A packed repeated varint field. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.#varint(BigInt(v));
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated float field. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
    return this.bytes(field, b);
  }

  /** The encoded message. */
  finish(): Uint8Array {
    this.#flush();
    return concatBytes(this.#parts);
  }
}

/** One field of a decoded message: varints as bigint, length-delimited as bytes. */
export interface ProtoField {
  readonly field: number;
  readonly wire: number;
  readonly int?: bigint;
  readonly bytes?: Uint8Array;
  /** The field's encoded form (tag included), to copy it unchanged into a rewritten message. */
  readonly raw: Uint8Array;
}

/** Splits a message into its fields, in file order. Throws on truncated or malformed input. */
export function readFields(buf: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= buf.length) throw new Error("truncated varint");
      const b = buf[at++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("varint too long");
    }
  };
  while (at < buf.length) {
    const start = at;
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new Error("field number 0");
    switch (wire) {
      case Wire.varint: {
        const int = varint();
        fields.push({ field, wire, int, raw: buf.subarray(start, at) });
        break;
      }
      case Wire.bytes: {
        const length = Number(varint());
        if (at + length > buf.length) throw new Error("truncated length-delimited field");
        const bytes = buf.subarray(at, at + length);
        at += length;
        fields.push({ field, wire, bytes, raw: buf.subarray(start, at) });
        break;
      }
      case Wire.fixed32:
      case Wire.fixed64: {
        const size = wire === Wire.fixed32 ? 4 : 8;
        if (at + size > buf.length) throw new Error("truncated fixed-size field");
        const bytes = buf.subarray(at, at + size);
        at += size;
        fields.push({ field, wire, bytes, raw: buf.subarray(start, at) });
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return fields;
}

/** A length-delimited field read as UTF-8 text. */
export function fieldText(f: ProtoField): string {
  return f.bytes ? fromUtf8.decode(f.bytes) : "";
}

/** All values of a repeated varint field, packed or not. */
export function fieldInts(fields: readonly ProtoField[], field: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.int !== undefined) out.push(f.int);
    else if (f.bytes && f.wire === Wire.bytes) {
      let at = 0;
      const b = f.bytes;
      while (at < b.length) {
        let v = 0n;
        let shift = 0n;
        for (;;) {
          const byte = b[at++];
          v |= BigInt(byte & 0x7f) << shift;
          if (!(byte & 0x80)) break;
          shift += 7n;
        }
        out.push(v);
      }
    }
  }
  return out;
}
