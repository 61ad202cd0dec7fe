/** Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise. */
import { LiveLine } from "./_live_line.ts";

const encoder = new TextEncoder();

/** Counters shown by a progress report. */
export interface ProgressState {
  lines: number;
  bytes: number;
  sent: number;
  skipped: number;
}

/** Formats a count with thousands separators. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Formats a byte count as B, KB, MB or GB (powers of 1000). */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const BAR_WIDTH = 24;

/** A bar and percentage for a fraction from 0 to 1: `[######..................]  25% `. */
export function formatBar(fraction: number): string {
  return `[${"#".repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, ".")}] ${
    (fraction * 100).toFixed(0).padStart(3)
  }% `;
}

/** Formats a duration in seconds as 42s, 3m07s or 2h05m ("?" when unknown). */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** Throttled progress reporter; `update` is cheap enough to call for every line. */
export class Progress {
  readonly #totalBytes: number | undefined;
  readonly #terminal: boolean;
  readonly #intervalMs: number;
  readonly #started = performance.now();
  readonly #write: (text: string) => void;
  readonly #line: LiveLine;
  #last = 0;

  constructor(options: {
    /** Size of the input, for percentage and ETA; undefined when unknown (a pipe). */
    totalBytes?: number;
    terminal?: boolean;
    intervalMs?: number;
    write?: (text: string) => void;
    /** Terminal width; default: read from the terminal at each redraw. */
    columns?: () => number;
  } = {}) {
    this.#totalBytes = options.totalBytes;
    this.#terminal = options.terminal ?? Deno.stderr.isTerminal();
    this.#intervalMs = options.intervalMs ?? (this.#terminal ? 200 : 5000);
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#line = new LiveLine({ write: this.#write, columns: options.columns });
    this.#last = this.#started;
  }

  /** Redraws if the interval has passed. */
  update(state: ProgressState): void {
    const now = performance.now();
    if (now - this.#last < this.#intervalMs) return;
    this.#last = now;
    this.#render(state, now);
  }

  /** Clears the bar (on a terminal) so that the summary starts on a clean line. */
  finish(): void {
    this.#line.clear();
  }

  /** Writes a message line without garbling the bar. */
  message(line: string): void {
    this.finish();
    this.#write(line + "\n");
  }

  #render(state: ProgressState, now: number): void {
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? state.sent / seconds : 0;
    const byteRate = seconds > 0 ? state.bytes / seconds : 0;
    const total = this.#totalBytes;
    const fraction = total ? Math.min(state.bytes / total, 1) : undefined;
    const eta = total && byteRate > 0 ? formatSeconds((total - state.bytes) / byteRate) : "?";
    const counts = `${formatCount(state.lines)} lines, ${formatBytes(state.bytes)}${
      total ? ` of ${formatBytes(total)}` : ""
    }, ${formatCount(state.sent)} sent, ${formatCount(state.skipped)} skipped, ${
      formatCount(rate)
    } msg/s`;
    if (this.#terminal) {
      const bar = fraction === undefined ? "" : formatBar(fraction);
      this.#line.draw(`${bar}${counts}${total ? `, ETA ${eta}` : ""}`);
    } else {
      const pct = fraction === undefined ? "" : ` (${(fraction * 100).toFixed(1)}%)`;
      this.#write(`progress: ${counts}${pct}${total ? `, ETA ${eta}` : ""}\n`);
    }
  }
}

/** Left-aligned columns separated by two spaces, without trailing blanks. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
      .trimEnd()
  );
}

/**
 * Progress of work counted in items of a known total (events rescored of those in range): the
 * same bar, throttling and plain-line fallback as Progress, in the items' own words.
 */
export class CountProgress {
  readonly #total: number;
  readonly #unit: string;
  readonly #terminal: boolean;
  readonly #intervalMs: number;
  readonly #started = performance.now();
  readonly #write: (text: string) => void;
  readonly #line: LiveLine;
  #last: number;

  constructor(options: {
    total: number;
    /** What is counted, plural: "events". */
    unit: string;
    terminal?: boolean;
    intervalMs?: number;
    write?: (text: string) => void;
    columns?: () => number;
  }) {
    this.#total = options.total;
    this.#unit = options.unit;
    this.#terminal = options.terminal ?? Deno.stderr.isTerminal();
    this.#intervalMs = options.intervalMs ?? (this.#terminal ? 200 : 5000);
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#line = new LiveLine({ write: this.#write, columns: options.columns });
    this.#last = this.#started;
  }

  /** Redraws if the interval has passed; `done` counts since `start` of this process. */
  update(done: number, detail = "", options: { start?: number } = {}): void {
    const now = performance.now();
    if (now - this.#last < this.#intervalMs) return;
    this.#last = now;
    const start = options.start ?? 0;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? (done - start) / seconds : 0;
    const fraction = this.#total ? Math.min(done / this.#total, 1) : 1;
    const eta = rate > 0 ? formatSeconds((this.#total - done) / rate) : "?";
    const counts = `${formatCount(done)} of ${formatCount(this.#total)} ${this.#unit}, ${
      formatCount(rate)
    } ${this.#unit}/s${detail ? `, ${detail}` : ""}, ETA ${eta}`;
    if (this.#terminal) this.#line.draw(`${formatBar(fraction)}${counts}`);
    else this.#write(`progress: ${counts} (${(fraction * 100).toFixed(1)}%)\n`);
  }

  /** Clears the bar so that the summary starts on a clean line. */
  finish(): void {
    this.#line.clear();
  }
}
