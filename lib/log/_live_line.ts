/** One line redrawn in place on a terminal: carriage return, clear to end of line, new text. */

const encoder = new TextEncoder();
const CLEAR = "\r\x1b[K";

/** The terminal's width in columns, or `fallback` when no standard stream is a terminal. */
export function terminalColumns(fallback = 80): number {
  try {
    return Deno.consoleSize().columns || fallback;
  } catch {
    return fallback;
  }
}

/** The first `width` characters of `text` (code points, so no surrogate pair is split). */
export function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(width, 0)).join("");
}

/**
 * Draws and clears a single status line. The text is cut to one column less than the
 * terminal's width: a line filling the last column wraps on some terminals, and a wrapped
 * line can no longer be cleared with a carriage return.
 */
export class LiveLine {
  readonly #write: (text: string) => void;
  readonly #columns: () => number;
  #drawn = false;

  constructor(options: { write?: (text: string) => void; columns?: () => number } = {}) {
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#columns = options.columns ?? terminalColumns;
  }

  /** Replaces the line with `text` (the terminal's width is read each time: it can change). */
  draw(text: string): void {
    this.#write(CLEAR + truncate(text, this.#columns() - 1));
    this.#drawn = true;
  }

  /** Empties the line, so that what is written next starts on a clean line. */
  clear(): void {
    if (this.#drawn) this.#write(CLEAR);
    this.#drawn = false;
  }

  /** Writes a whole line above the status (which the next draw puts back). */
  message(line: string): void {
    this.clear();
    this.#write(line + "\n");
  }

  /** Whether the line shows something now. */
  get drawn(): boolean {
    return this.#drawn;
  }
}
