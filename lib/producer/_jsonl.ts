/** Streams the lines of a JSON Lines source in constant memory, whatever the file size. */
import { concatBytes } from "../bytes/mod.ts";

/** One line: its 1-based number and bytes without the newline, CR or leading BOM. */
export interface Line {
  readonly number: number;
  /** Undefined when the line exceeded maxLineBytes (its bytes were skipped, not kept). */
  readonly bytes: Uint8Array | undefined;
  /** Length of the line in the source, newline included: what progress counts. */
  readonly sourceBytes: number;
  /** Length of the line without newline and CR, also when it was too long to keep. */
  readonly length: number;
}

const CHUNK = 1 << 16;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines. Each yielded `bytes` is a view of a chunk that is never
 * reused, so callers may keep it. Lines longer than `maxLineBytes` are not buffered.
 */
export async function* readLines(
  source: { read(p: Uint8Array): Promise<number | null> },
  options: { maxLineBytes?: number } = {},
): AsyncGenerator<Line> {
  const max = options.maxLineBytes ?? Infinity;
  let parts: Uint8Array[] = [];
  let partLength = 0;
  let tooLong = false;
  let number = 0;

  const take = (tail: Uint8Array, newline: boolean): Line => {
    number++;
    const total = partLength + tail.byteLength;
    let bytes: Uint8Array | undefined;
    if (!tooLong && total <= max) {
      bytes = parts.length === 0 ? tail : concatBytes([...parts, tail]);
    }
    const sourceBytes = total + (newline ? 1 : 0);
    parts = [];
    partLength = 0;
    tooLong = false;
    let length = total;
    if (bytes) {
      let start = 0;
      let end = bytes.byteLength;
      if (end > start && bytes[end - 1] === CR) end--;
      // A UTF-8 byte order mark is tolerated at the start of the file only.
      if (number === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
        start = 3;
      }
      bytes = bytes.subarray(start, end);
      length = bytes.byteLength;
    }
    return { number, bytes, sourceBytes, length };
  };

  while (true) {
    const chunk = new Uint8Array(CHUNK);
    const n = await source.read(chunk);
    if (n === null) break;
    let view = chunk.subarray(0, n);
    let newline: number;
    while ((newline = view.indexOf(LF)) !== -1) {
      yield take(view.subarray(0, newline), true);
      view = view.subarray(newline + 1);
    }
    if (view.byteLength > 0) {
      if (!tooLong && partLength + view.byteLength > max) {
        tooLong = true;
        parts = [];
      }
      if (!tooLong) parts.push(view);
      partLength += view.byteLength;
    }
  }
  if (partLength > 0) yield take(new Uint8Array(0), false);
}
