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
  /** Where a partition without any stored or committed position starts. */
  readonly fromBeginning: boolean;
  /** 0: no periodic summary. */
  readonly summaryIntervalMs: number;
  /** Rate: messages per second of batch time over the interval. */
  readonly onSummary: (rate: number, lag: number | undefined) => void;
  /** How often the lag is measured for onLag; 0: only for summaries and idleness. */
  readonly lagIntervalMs: number;
  readonly onLag: (total: number, perPartition: ReadonlyMap<number, number>) => void;
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
  /** Milliseconds spent inside batches, all batches together. */
  #busyMs = 0;
  /** Next offset of each partition as this member has consumed it. */
  readonly #consumed = new Map<number, bigint>();
  /** Where partitions without a stored or committed offset started (the end, when not from the beginning). */
  readonly #startedAt = new Map<number, bigint>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopped = false;

  constructor(
    private readonly positions: Positions,
    private readonly options: MonitorOptions,
    /** Messages handled so far (for the rates). */
    private readonly handled: () => number,
  ) {}

  /** The partitions this member holds since the last rebalance. */
  assigned(partitions: readonly number[]): void {
    this.#assigned = partitions;
    if (!this.options.fromBeginning) {
      this.#noteStarts(partitions).catch((error) =>
        this.options.onError(`Cannot read the start positions: ${errorMessage(error)}`)
      );
    }
  }

  /** Partitions with neither a stored nor a committed offset start at their end. */
  async #noteStarts(partitions: readonly number[]): Promise<void> {
    const [marks, committed, stored] = await Promise.all([
      this.positions.watermarks(),
      this.positions.committed(),
      this.positions.stored(),
    ]);
    for (const mark of marks) {
      if (!partitions.includes(mark.partition)) continue;
      if (committed.has(mark.partition) || stored.has(mark.partition)) continue;
      if (!this.#startedAt.has(mark.partition)) this.#startedAt.set(mark.partition, mark.high);
    }
  }

  /** Returns the token batchEnded() takes (batches of several partitions may overlap). */
  batchStarted(): number {
    this.#inFlight++;
    const now = Date.now();
    this.#busy ??= { from: now, to: now };
    return performance.now();
  }

  /** `nextOffset`: where the partition stands after the batch, when it was applied. */
  batchEnded(started: number, partition: number, nextOffset: bigint | undefined): void {
    this.#inFlight--;
    this.#busyMs += performance.now() - started;
    if (this.#busy) this.#busy.to = Date.now();
    if (nextOffset !== undefined) this.#consumed.set(partition, nextOffset);
  }

  /** Messages per second over the time from the first batch's start to the last one's end. */
  busyRate(): number {
    const busyMs = this.#busy ? this.#busy.to - this.#busy.from : 0;
    return this.handled() / Math.max(busyMs / 1000, 0.001);
  }

  /** Messages not yet applied on the assigned partitions (undefined before the first join). */
  async lag(): Promise<number | undefined> {
    return (await this.#lagByPartition())?.total;
  }

  async #lagByPartition(): Promise<{ total: number; of: Map<number, number> } | undefined> {
    const assigned = this.#assigned;
    if (!assigned) return undefined;
    const [marks, committed, stored] = await Promise.all([
      this.positions.watermarks(),
      this.positions.committed(),
      this.positions.stored(),
    ]);
    let total = 0n;
    const of = new Map<number, number>();
    for (const mark of marks) {
      if (!assigned.includes(mark.partition)) continue;
      let position = mark.low;
      const known = [
        committed.get(mark.partition),
        stored.get(mark.partition),
        this.#consumed.get(mark.partition),
        this.#startedAt.get(mark.partition),
      ];
      for (const c of known) if (c !== undefined && c > position) position = c;
      const lag = mark.high > position ? mark.high - position : 0n;
      of.set(mark.partition, Number(lag));
      total += lag;
    }
    return { total: Number(total), of };
  }

  /** Starts the summary and lag timers and, with untilIdleMs, the idle watch. */
  start(): void {
    const { summaryIntervalMs, untilIdleMs, lagIntervalMs } = this.options;
    if (summaryIntervalMs > 0) {
      let last = { messages: this.handled(), busyMs: this.#busyMs };
      this.#timers.push(setInterval(() => {
        const messages = this.handled() - last.messages;
        const busyMs = this.#busyMs - last.busyMs;
        last = { messages: this.handled(), busyMs: this.#busyMs };
        // The time batches ran, not the whole interval: a burst is not diluted by idle time.
        const rate = messages ? messages / Math.max(busyMs / 1000, 0.001) : 0;
        this.lag().then(
          (lag) => this.options.onSummary(rate, lag),
          () => this.options.onSummary(rate, undefined),
        );
      }, summaryIntervalMs));
    }
    if (lagIntervalMs > 0) {
      let measuring = false;
      this.#timers.push(setInterval(async () => {
        if (measuring || this.#stopped) return;
        measuring = true;
        try {
          const lag = await this.#lagByPartition();
          if (lag) this.options.onLag(lag.total, lag.of);
        } catch {
          // The next tick tries again; the summary reports lag=? meanwhile.
        } finally {
          measuring = false;
        }
      }, lagIntervalMs));
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
        this.options.onError(`Cannot measure the lag: ${errorMessage(error)}`);
      } finally {
        checking = false;
      }
    }, Math.min(250, idleMs)));
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
