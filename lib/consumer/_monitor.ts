/**
 * Watching a running consumer from outside its batches: the lag of the partitions it holds,
 * the periodic summary, and the idle watch behind `--until-idle`.
 */

/** Where the partitions' positions are read from. */
export interface Positions {
  /** Low and high watermarks of every partition of the topic. */
  watermarks(): Promise<readonly { partition: number; low: bigint; high: bigint }[]>;
  /** Offsets the group committed to Kafka. */
  committed(): Promise<ReadonlyMap<number, bigint>>;
  /** Next offsets stored in the database with the rows. */
  stored(): Promise<ReadonlyMap<number, bigint>>;
}

/** Options of a Monitor. */
export interface MonitorOptions {
  /** 0: no periodic summary. */
  readonly summaryIntervalMs: number;
  readonly onSummary: (rate: number, lag: number | undefined) => void;
  /** Finish once every assigned partition has had no lag for this long. */
  readonly untilIdleMs?: number;
  /** Idleness is only watched once this settles. */
  readonly idleNotBefore?: Promise<unknown>;
  readonly onIdle: () => void;
  readonly onError: (message: string) => void;
}

/** Lag, busy time and timers of one consumer run. */
export class Monitor {
  #assigned: readonly number[] | undefined;
  #inFlight = 0;
  /** Start of the first batch and end of the last one: the drain rate's time window. */
  #busy: { from: number; to: number } | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopped = false;

  constructor(
    private readonly positions: Positions,
    private readonly options: MonitorOptions,
    /** Messages handled so far (for the summary's rate). */
    private readonly handled: () => number,
  ) {}

  /** The partitions this member holds since the last rebalance. */
  assigned(partitions: readonly number[]): void {
    this.#assigned = partitions;
  }

  batchStarted(): void {
    this.#inFlight++;
    const now = Date.now();
    this.#busy ??= { from: now, to: now };
  }

  batchEnded(): void {
    this.#inFlight--;
    if (this.#busy) this.#busy.to = Date.now();
  }

  /** Messages per second over the time from the first batch's start to the last one's end. */
  busyRate(): number {
    const busyMs = this.#busy ? this.#busy.to - this.#busy.from : 0;
    return this.handled() / Math.max(busyMs / 1000, 0.001);
  }

  /** Messages not yet applied on the assigned partitions (undefined before the first join). */
  async lag(): Promise<number | undefined> {
    const assigned = this.#assigned;
    if (!assigned) return undefined;
    const [marks, committed, stored] = await Promise.all([
      this.positions.watermarks(),
      this.positions.committed(),
      this.positions.stored(),
    ]);
    let lag = 0n;
    for (const mark of marks) {
      if (!assigned.includes(mark.partition)) continue;
      let position = mark.low;
      for (const c of [committed.get(mark.partition), stored.get(mark.partition)]) {
        if (c !== undefined && c > position) position = c;
      }
      if (mark.high > position) lag += mark.high - position;
    }
    return Number(lag);
  }

  /** Starts the summary timer and, with untilIdleMs, the idle watch. */
  start(): void {
    const { summaryIntervalMs, untilIdleMs } = this.options;
    if (summaryIntervalMs > 0) {
      let last = { at: Date.now(), messages: this.handled() };
      this.#timers.push(setInterval(() => {
        const now = Date.now();
        const rate = (this.handled() - last.messages) / ((now - last.at) / 1000);
        last = { at: now, messages: this.handled() };
        this.lag().then(
          (lag) => this.options.onSummary(rate, lag),
          () => this.options.onSummary(rate, undefined),
        );
      }, summaryIntervalMs));
    }
    if (untilIdleMs !== undefined) {
      const watch = () => {
        if (!this.#stopped) this.#watchIdle(untilIdleMs);
      };
      (this.options.idleNotBefore ?? Promise.resolve()).then(watch, watch);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }

  /** Calls onIdle once no batch ran and the lag stayed zero for `idleMs`. */
  #watchIdle(idleMs: number): void {
    let zeroSince: number | undefined;
    let checking = false;
    this.#timers.push(setInterval(async () => {
      if (checking || this.#stopped) return;
      checking = true;
      try {
        const lag = this.#inFlight ? undefined : await this.lag();
        const now = Date.now();
        if (lag !== 0 || this.#inFlight) {
          zeroSince = undefined;
        } else {
          zeroSince = Math.max(zeroSince ?? now, this.#busy?.to ?? 0);
          if (now - zeroSince >= idleMs) this.options.onIdle();
        }
      } catch (error) {
        this.options.onError(`Cannot measure the lag: ${(error as Error)?.message ?? error}`);
      } finally {
        checking = false;
      }
    }, Math.min(250, idleMs)));
  }
}
