/**
 * The consumer's live status line on a terminal: applied and known events, the rate over the
 * last seconds, lag, ETA and dead letters, in the style of the producer's progress bar.
 */
import { formatBar, formatCount, formatSeconds } from "./_progress.ts";
import { LiveLine, terminalColumns, truncate } from "./_live_line.ts";

/** What the status line shows. */
export interface StatusState {
  /** Messages handled so far (ingested, duplicates, dead letters, already applied). */
  readonly applied: number;
  /** Messages still to apply on the assigned partitions; undefined until first measured. */
  readonly lag: number | undefined;
  /** Events per second over the recent window; undefined until two samples exist. */
  readonly rate: number | undefined;
  readonly deadLetters: number;
}

/**
 * One status line, at most `columns - 1` characters wide. When the whole line does not fit,
 * the bar goes first, then the line is cut.
 */
export function renderStatus(state: StatusState, columns: number): string {
  const width = Math.max(columns - 1, 0);
  const known = state.lag === undefined ? undefined : state.applied + state.lag;
  const counts = `${formatCount(state.applied)}${
    known === undefined ? "" : ` of ${formatCount(known)}`
  } applied, ${state.rate === undefined ? "?" : formatCount(state.rate)} msg/s, lag ${
    state.lag === undefined ? "?" : formatCount(state.lag)
  }, ${eta(state)}, ${formatCount(state.deadLetters)} dead letter${
    state.deadLetters === 1 ? "" : "s"
  }`;
  const fraction = known ? Math.min(state.applied / known, 1) : undefined;
  const bar = fraction === undefined ? "" : formatBar(fraction);
  if (bar.length + counts.length <= width) return bar + counts;
  return truncate(counts, width);
}

function eta(state: StatusState): string {
  if (state.lag === 0) return "caught up";
  if (state.lag === undefined || !state.rate) return "ETA ?";
  return `ETA ${formatSeconds(state.lag / state.rate)}`;
}

/**
 * Events per second over the last `windowMs`, from (time, running total) samples: a rate that
 * follows the current pace, unlike one averaged since the start.
 */
export class RateWindow {
  readonly #windowMs: number;
  readonly #times: number[] = [];
  readonly #totals: number[] = [];
  /** Index of the oldest sample still in use; older ones are dropped in bulk. */
  #start = 0;

  constructor(windowMs = 10_000) {
    if (!(windowMs > 0)) throw new RangeError(`The rate window must be > 0 ms, got ${windowMs}`);
    this.#windowMs = windowMs;
  }

  /** Records the running total at `now` (milliseconds, any monotonic clock). */
  add(now: number, total: number): void {
    this.#times.push(now);
    this.#totals.push(total);
    // Keep one sample at or before the window's start, so that the rate spans the whole window.
    const since = now - this.#windowMs;
    while (this.#start + 1 < this.#times.length && this.#times[this.#start + 1] <= since) {
      this.#start++;
    }
    if (this.#start > 64 && this.#start * 2 > this.#times.length) {
      this.#times.splice(0, this.#start);
      this.#totals.splice(0, this.#start);
      this.#start = 0;
    }
  }

  /** The rate per second over the window ending at the latest sample; undefined before two. */
  rate(): number | undefined {
    const last = this.#times.length - 1;
    if (last - this.#start < 1) return undefined;
    const span = this.#times[last] - this.#times[this.#start];
    return span > 0 ? (this.#totals[last] - this.#totals[this.#start]) / (span / 1000) : undefined;
  }
}

/** Counters the consumer reports to the status line. */
export interface StatusCounts {
  readonly applied: number;
  readonly lag: number | undefined;
  readonly deadLetters: number;
}

/**
 * The consumer's status line on a terminal's stderr: redrawn in place, at most every
 * `intervalMs`. Off a terminal it writes nothing (the periodic summary lines serve logs).
 */
export class StatusLine {
  readonly #line: LiveLine;
  readonly #rate: RateWindow;
  readonly #intervalMs: number;
  readonly #columns: () => number;
  readonly #now: () => number;
  readonly #enabled: boolean;
  #lastDraw = -Infinity;

  constructor(options: {
    /** Default: whether stderr is a terminal. */
    terminal?: boolean;
    /** Smallest time between two redraws; default 250 ms. */
    intervalMs?: number;
    /** Span of the rate; default 10 s. */
    windowMs?: number;
    write?: (text: string) => void;
    columns?: () => number;
    now?: () => number;
  } = {}) {
    this.#enabled = options.terminal ?? Deno.stderr.isTerminal();
    this.#intervalMs = options.intervalMs ?? 250;
    this.#rate = new RateWindow(options.windowMs);
    this.#now = options.now ?? (() => performance.now());
    this.#columns = options.columns ?? terminalColumns;
    this.#line = new LiveLine({ write: options.write, columns: this.#columns });
  }

  /** Takes the latest counters; redraws when the interval has passed. Cheap to call often. */
  update(counts: StatusCounts): void {
    if (!this.#enabled) return;
    const now = this.#now();
    this.#rate.add(now, counts.applied);
    if (now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#line.draw(renderStatus({ ...counts, rate: this.#rate.rate() }, this.#columns()));
  }

  /** Writes a line above the status without garbling it. */
  message(line: string): void {
    this.#line.message(line);
  }

  /** Clears the status (before other output on the same terminal, and at the end). */
  finish(): void {
    this.#line.clear();
  }
}
