/**
 * Raw message decoding shared by the producer and the consumer: bytes or text in, a plain
 * JSON object out, or a rejection with a reason a person can act on.
 */

/** The outcome of decoding one message or line. */
export type Decoded =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; reason: string; field?: string };

/** Bounds applied before and while parsing. */
export interface DecodeLimits {
  /** Largest accepted size in UTF-8 bytes. */
  readonly maxBytes: number;
  /** Deepest accepted nesting; the top-level object is depth 1. */
  readonly maxDepth: number;
}

// Keys that could reach Object.prototype once a decoded object is spread, merged or assigned.
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const INTEGER_LITERAL = /^-?\d+$/;
// Text without these can hold neither a forbidden key nor an integer literal beyond 2^53
// (such a literal has at least 16 digits; a key could hide behind a \u escape).
const SUSPECT = /\d{16}|__proto__|constructor|prototype|\\u/;
const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Decodes one JSON object strictly: UTF-8, size, depth, safe integers, no prototype keys. */
export function decodeJsonObject(input: Uint8Array | string, limits: DecodeLimits): Decoded {
  let text: string;
  if (typeof input === "string") {
    const bytes = utf8Length(input);
    if (bytes > limits.maxBytes) return tooLarge(bytes, limits.maxBytes);
    text = input;
  } else {
    if (input.byteLength > limits.maxBytes) return tooLarge(input.byteLength, limits.maxBytes);
    try {
      text = decoder.decode(input);
    } catch {
      return { ok: false, reason: "invalid UTF-8" };
    }
  }
  const depth = nestingDepth(text, limits.maxDepth);
  if (depth > limits.maxDepth) {
    return { ok: false, reason: `nesting deeper than ${limits.maxDepth} levels` };
  }
  let problem: { reason: string; field?: string } | undefined;
  let value: unknown;
  try {
    // A reviver makes JSON.parse several times slower: use it only when the text could need it.
    value = !SUSPECT.test(text)
      ? JSON.parse(text)
      : JSON.parse(text, function (key, raw, context?: { source?: string }) {
        if (problem) return raw;
        if (FORBIDDEN_KEYS.has(key) && !Array.isArray(this)) {
          problem = { reason: `forbidden key ${key}`, field: key };
        } else if (
          typeof raw === "number" && !Number.isSafeInteger(raw) && context?.source !== undefined &&
          INTEGER_LITERAL.test(context.source)
        ) {
          // JSON.parse would round it silently; an id or an amount must not change on the way.
          problem = { reason: `number beyond 2^53 in ${key}`, field: key };
        }
        return raw;
      });
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${(error as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" };
  }
  if (problem) return { ok: false, ...problem };
  return { ok: true, value: value as Record<string, unknown> };
}

/** Required keys that are absent, null or the empty string, in the order given. */
export function missingRequired(
  value: Record<string, unknown>,
  required: readonly string[],
): string[] {
  return required.filter((key) => {
    const v = Object.hasOwn(value, key) ? value[key] : undefined;
    return v === undefined || v === null || v === "";
  });
}

function tooLarge(bytes: number, max: number): Decoded {
  return { ok: false, reason: `message too large: ${bytes} bytes (max ${max})` };
}

/** UTF-8 length without encoding when the text is ASCII (the common case). */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return encoder.encode(text).byteLength;
  }
  return text.length;
}

/** Deepest bracket nesting outside strings; stops counting once beyond `max`. */
function nestingDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}
