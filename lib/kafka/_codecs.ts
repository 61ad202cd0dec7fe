/**
 * Record-batch codecs for kafkajs, which ships gzip only: snappy (snappyjs, pure JavaScript,
 * in the xerial framing Java clients write), LZ4 frames (lz4-napi, a prebuilt native addon,
 * loaded on first use) and zstd (node:zlib, built into Deno).
 */
import { Buffer } from "node:buffer";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import snappyjs from "snappyjs";

/** Batch compressions the producer may use. */
export const PRODUCER_COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;

export type ProducerCompression = (typeof PRODUCER_COMPRESSIONS)[number];

const COMPRESSION_TYPES: Readonly<Record<ProducerCompression, CompressionTypes>> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** kafkajs' code of a compression name; unknown names (from YAML or flags) fail clearly. */
export function compressionType(name: ProducerCompression): CompressionTypes {
  if (!Object.hasOwn(COMPRESSION_TYPES, name)) {
    throw new Error(
      `Unknown compression "${name}": expected one of ${PRODUCER_COMPRESSIONS.join(", ")}`,
    );
  }
  return COMPRESSION_TYPES[name];
}

/** Compresses and decompresses the records section of one batch. */
export interface BatchCodec {
  compress(data: Uint8Array): Promise<Uint8Array>;
  decompress(data: Uint8Array): Promise<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------
// Snappy. Java clients (snappy-java's SnappyOutputStream) write the xerial framing: a 16-byte
// header, then blocks of at most 32 KiB, each as a big-endian int32 length and a raw snappy
// block. librdkafka and older kafkajs plugins write one raw block without a header: accept both.

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]; // "\x82SNAPPY\0"
// Magic, then version 1 and minimum compatible version 1 as int32.
const XERIAL_HEADER = Uint8Array.from([...XERIAL_MAGIC, 0, 0, 0, 1, 0, 0, 0, 1]);
const XERIAL_BLOCK_BYTES = 32 * 1024;

interface SnappyJs {
  compress(data: Uint8Array): Uint8Array;
  uncompress(data: Uint8Array): Uint8Array;
}
const snappy = snappyjs as SnappyJs;

function hasXerialHeader(data: Uint8Array): boolean {
  return data.length >= XERIAL_HEADER.length && XERIAL_MAGIC.every((b, i) => data[i] === b);
}

function snappyCompress(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [XERIAL_HEADER];
  for (let at = 0; at < data.length; at += XERIAL_BLOCK_BYTES) {
    const block = snappy.compress(data.subarray(at, at + XERIAL_BLOCK_BYTES));
    const length = new Uint8Array(4);
    new DataView(length.buffer).setInt32(0, block.length);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

function snappyDecompress(data: Uint8Array): Uint8Array {
  if (!hasXerialHeader(data)) return snappy.uncompress(data);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const parts: Uint8Array[] = [];
  for (let at = XERIAL_HEADER.length; at < data.length;) {
    const length = at + 4 <= data.length ? view.getInt32(at) : -1;
    if (length < 0 || at + 4 + length > data.length) {
      throw new Error(
        `xerial block at byte ${at} is cut short (${data.length - at} bytes left)`,
      );
    }
    parts.push(snappy.uncompress(data.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// LZ4: Kafka uses the LZ4 frame format with independent blocks; Java clients reject frames of
// linked blocks ("Dependent block stream is unsupported"). lz4-napi writes independent blocks of
// up to 4 MiB (Java writes 64 KiB ones and reads both).

type Lz4 = typeof import("lz4-napi");
let lz4: Promise<Lz4> | undefined;

/** Loads the native addon on first use, so that processes without LZ4 never load it. */
function loadLz4(): Promise<Lz4> {
  lz4 ??= import("lz4-napi").catch((error) => {
    lz4 = undefined;
    throw new Error(
      `Cannot load the LZ4 codec (npm package lz4-napi, a native addon): ${reasonOf(error)}; ` +
        "it needs --allow-ffi and --allow-env (deno run -A), or use another " +
        "producer.compression (gzip, snappy or zstd)",
      { cause: error },
    );
  });
  return lz4;
}

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

const CODECS: Readonly<Record<"snappy" | "lz4" | "zstd", BatchCodec>> = {
  snappy: {
    compress: (data) => Promise.resolve().then(() => snappyCompress(data)),
    decompress: (data) => Promise.resolve().then(() => snappyDecompress(data)),
  },
  lz4: {
    compress: async (data) => (await loadLz4()).compressFrame(data),
    decompress: async (data) => (await loadLz4()).decompressFrame(data),
  },
  zstd: { compress: (data) => zstdCompress(data), decompress: (data) => zstdDecompress(data) },
};

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** kafkajs decodes with Buffer methods: hand it a Buffer view of the bytes, never a copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** A kafkajs codec plugin; a failure names the codec and the batch size. */
function plugin(name: keyof typeof CODECS) {
  const codec = CODECS[name];
  const label = name === "lz4" ? "LZ4" : name;
  const failure = (what: string, bytes: number, error: unknown) =>
    new Error(`Cannot ${what} a record batch with ${label} (${bytes} bytes): ${reasonOf(error)}`, {
      cause: error,
    });
  const methods = {
    async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
      try {
        return asBuffer(await codec.compress(encoder.buffer));
      } catch (error) {
        throw failure("compress", encoder.buffer.length, error);
      }
    },
    async decompress(buffer: Buffer): Promise<Buffer> {
      try {
        return asBuffer(await codec.decompress(buffer));
      } catch (error) {
        throw failure("decompress", buffer.length, error);
      }
    },
  };
  return () => methods;
}

const PLUGINS = {
  [CompressionTypes.Snappy]: plugin("snappy"),
  [CompressionTypes.LZ4]: plugin("lz4"),
  [CompressionTypes.ZSTD]: plugin("zstd"),
};

/**
 * Installs the snappy, LZ4 and zstd codecs into kafkajs (a process-wide table); calling it
 * again changes nothing.
 */
export function registerCodecs(): void {
  Object.assign(CompressionCodecs, PLUGINS);
}

/**
 * The codec kafkajs runs on a batch of this compression (gzip: its own), on plain bytes: for
 * measuring codecs without a broker. It does not register anything with kafkajs.
 */
export function batchCodec(name: Exclude<ProducerCompression, "none">): BatchCodec {
  const type = compressionType(name);
  const codec = type === CompressionTypes.GZIP
    ? CompressionCodecs[CompressionTypes.GZIP]()
    : PLUGINS[type as keyof typeof PLUGINS]();
  return {
    compress: (data) => codec.compress({ buffer: asBuffer(data) }),
    decompress: (data) => codec.decompress(asBuffer(data)),
  };
}
