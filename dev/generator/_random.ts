/** A small seeded pseudo-random generator (sfc32) so that generated data is reproducible. */

/** Mixes 32-bit words into one well-spread 32-bit value (splitmix32 steps). */
export function mix32(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const word of words) {
    h = (h ^ (word >>> 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = (h + 0x9e3779b9) >>> 0;
  }
  return h >>> 0;
}

/** Deterministic random source: same seed, same sequence, on every platform. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d = 1;

  constructor(...seed: number[]) {
    this.#a = mix32(...seed, 1);
    this.#b = mix32(...seed, 2);
    this.#c = mix32(...seed, 3);
    // The first outputs of sfc32 are correlated with the seed: discard them.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** A uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A standard normal draw (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A draw from a log-normal distribution with the given median and log-scale sigma. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** One key of a weight table, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let total = 0;
    for (const [, w] of entries) total += w;
    let r = this.next() * total;
    for (const [key, w] of entries) {
      r -= w;
      if (r < 0) return key;
    }
    return entries[entries.length - 1][0];
  }

  /** One element of a non-empty list, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** A random (version 4) UUID string. */
  uuid(): string {
    const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
    const a = hex(this.uint32());
    const b = hex((this.uint32() & 0xffff0fff) | 0x00004000);
    const c = hex((this.uint32() & 0x3fffffff) | 0x80000000);
    const d = hex(this.uint32());
    return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
  }

  /**
   * A time-ordered (version 7, RFC 9562) UUID string: the 48-bit Unix time in milliseconds
   * first, then random bits, so that ids made later sort after earlier ones.
   */
  uuidV7(timeMs: number): string {
    const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
    const time = hex(Math.max(0, Math.floor(timeMs)), 12).slice(-12);
    // Four draws, as uuid() takes: the events' other fields get the same draws either way.
    this.uint32();
    const b = hex((this.uint32() & 0x0fff) | 0x7000, 4);
    const c = hex(((this.uint32() & 0x3fffffff) | 0x80000000) >>> 0, 8);
    const d = hex(this.uint32() >>> 0, 8);
    return `${time.slice(0, 8)}-${time.slice(8)}-${b}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
  }
}
