/**
 * A small Prometheus registry: counters, gauges, fixed-bucket histograms and info metrics with
 * labels, rendered in the text exposition format 0.0.4. Series live in maps keyed by their
 * rendered label text, so a label set can only ever appear once per metric.
 */

/** The label names a metric declares, as a tuple of string literals. */
export type LabelNames = readonly string[];
/** One value per declared label name. */
export type Labels<L extends LabelNames> = { readonly [K in L[number]]: string | number };
/** The labels argument: absent for a metric without labels, required otherwise. */
export type LabelArgs<L extends LabelNames> = L extends readonly [] ? [] : [labels: Labels<L>];

/** What every metric is declared with. */
export interface MetricOptions<L extends LabelNames> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`, units are base units (`_seconds`). */
  readonly name: string;
  readonly help: string;
  readonly labels?: L;
}

export interface HistogramOptions<L extends LabelNames> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing and finite; `+Inf` is added. */
  readonly buckets: readonly number[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value as the format writes it: `+Inf`, `-Inf`, `NaN` or the shortest decimal. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** A label value inside double quotes: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** HELP text: only backslash and line feed are escaped (a double quote stays as it is). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** The error for a mistake in how a metric is declared or used: a bug, not bad input. */
export class MetricError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetricError";
  }
}

/** Shared by all kinds: name, help, label checking and the series map. */
abstract class Family<L extends LabelNames, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: L;
  protected readonly series = new Map<string, S>();
  abstract readonly type: "counter" | "gauge" | "histogram";

  constructor(options: MetricOptions<L>, reserved: readonly string[] = []) {
    if (!NAME.test(options.name)) {
      throw new MetricError(
        `Metric name "${options.name}" is invalid: use letters, digits, _ and : only, ` +
          "not starting with a digit",
      );
    }
    const labels = (options.labels ?? []) as unknown as L;
    const seen = new Set<string>();
    for (const label of labels) {
      if (!LABEL.test(label) || label.startsWith("__") || reserved.includes(label)) {
        throw new MetricError(
          `Label name "${label}" of ${options.name} is invalid: use letters, digits and _, ` +
            `not starting with a digit or __${
              reserved.length ? `, not ${reserved.join(", ")}` : ""
            }`,
        );
      }
      if (seen.has(label)) throw new MetricError(`Label "${label}" of ${options.name} is repeated`);
      seen.add(label);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labels;
  }

  /** `{a="x",b="y"}` in declaration order (or "" without labels): the series' identity. */
  protected key(args: readonly unknown[]): string {
    const labels = args[0] as Record<string, unknown> | undefined;
    if (this.labelNames.length === 0) {
      if (labels !== undefined && Object.keys(labels).length) {
        throw new MetricError(`${this.name} has no labels, got ${Object.keys(labels).join(", ")}`);
      }
      return "";
    }
    if (labels === undefined) {
      throw new MetricError(`${this.name} needs labels ${this.labelNames.join(", ")}`);
    }
    let text = "";
    for (const name of this.labelNames) {
      const value = labels[name];
      if (value === undefined) {
        throw new MetricError(`${this.name} is missing label "${name}"`);
      }
      text += `${text ? "," : ""}${name}="${escapeLabelValue(String(value))}"`;
    }
    if (Object.keys(labels).length !== this.labelNames.length) {
      const extra = Object.keys(labels).filter((k) => !this.labelNames.includes(k));
      throw new MetricError(`${this.name} has no label(s) ${extra.join(", ")}`);
    }
    return `{${text}}`;
  }

  /** Forgets every series (a gauge whose label set changed, e.g. after a rebalance). */
  reset(): void {
    this.series.clear();
  }

  /** Forgets one series. */
  remove(...labels: LabelArgs<L>): void {
    this.series.delete(this.key(labels));
  }

  /** The names of the samples this family writes besides its own name. */
  sampleNames(): string[] {
    return [this.name];
  }

  /** HELP and TYPE lines, then one line per sample. */
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    this.renderSamples(out);
  }

  protected abstract renderSamples(out: string[]): void;
}

/** A value that only goes up (restarts at zero with the process). */
export class Counter<L extends LabelNames = []> extends Family<L, { value: number }> {
  readonly type = "counter";

  constructor(options: MetricOptions<L>) {
    super(options);
    if (!options.name.endsWith("_total")) {
      throw new MetricError(`Counter ${options.name} must end in _total`);
    }
  }

  /** Adds `by` (default 1, never negative) to the series of `labels`. */
  inc(by = 1, ...labels: LabelArgs<L>): void {
    if (!(by >= 0)) throw new MetricError(`${this.name} cannot grow by ${by}`);
    const key = this.key(labels);
    const series = this.series.get(key);
    if (series) series.value += by;
    else this.series.set(key, { value: by });
  }

  /**
   * Sets a total counted elsewhere (CPU time from the OS); a lower value than the current one
   * is ignored, as a counter must not go down.
   */
  setTotal(value: number, ...labels: LabelArgs<L>): void {
    const key = this.key(labels);
    const series = this.series.get(key);
    if (!series) this.series.set(key, { value: Math.max(value, 0) });
    else if (value > series.value) series.value = value;
  }

  /** Creates the series with 0, so that rate() sees its first increment. */
  init(...labels: LabelArgs<L>): void {
    this.inc(0, ...labels);
  }

  protected renderSamples(out: string[]): void {
    for (const [key, { value }] of this.series) {
      out.push(`${this.name}${key} ${formatValue(value)}`);
    }
  }
}

/** A value that goes up and down. */
export class Gauge<L extends LabelNames = []> extends Family<L, { value: number }> {
  readonly type = "gauge";

  set(value: number, ...labels: LabelArgs<L>): void {
    const key = this.key(labels);
    const series = this.series.get(key);
    if (series) series.value = value;
    else this.series.set(key, { value });
  }

  inc(by = 1, ...labels: LabelArgs<L>): void {
    const key = this.key(labels);
    const series = this.series.get(key);
    if (series) series.value += by;
    else this.series.set(key, { value: by });
  }

  dec(by = 1, ...labels: LabelArgs<L>): void {
    this.inc(-by, ...labels);
  }

  protected renderSamples(out: string[]): void {
    for (const [key, { value }] of this.series) {
      out.push(`${this.name}${key} ${formatValue(value)}`);
    }
  }
}

interface HistogramSeries {
  /** Observations per bucket, not cumulative; the last one is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** Counts observations into fixed buckets; writes cumulative `_bucket`, `_sum` and `_count`. */
export class Histogram<L extends LabelNames = []> extends Family<L, HistogramSeries> {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  /** The `le` label text of every bucket, +Inf last, computed once. */
  readonly #le: string[];

  constructor(options: HistogramOptions<L>) {
    super(options, ["le"]);
    const b = options.buckets;
    if (!b.length) throw new MetricError(`Histogram ${options.name} needs at least one bucket`);
    for (let i = 0; i < b.length; i++) {
      if (!Number.isFinite(b[i]) || (i > 0 && b[i] <= b[i - 1])) {
        throw new MetricError(
          `Histogram ${options.name} buckets must be finite and strictly increasing, got ` +
            b.join(", "),
        );
      }
    }
    this.buckets = [...b];
    this.#le = [...b.map(formatValue), "+Inf"];
  }

  /** Records one observation (NaN is refused: it would poison `_sum` forever). */
  observe(value: number, ...labels: LabelArgs<L>): void {
    if (Number.isNaN(value)) throw new MetricError(`${this.name} cannot observe NaN`);
    this.#record(this.#series(labels), value);
  }

  /** Records many observations into one series (a batch's latencies): one label lookup. */
  observeAll(values: Iterable<number>, ...labels: LabelArgs<L>): void {
    const series = this.#series(labels);
    for (const value of values) {
      if (Number.isNaN(value)) throw new MetricError(`${this.name} cannot observe NaN`);
      this.#record(series, value);
    }
  }

  #series(labels: LabelArgs<L>): HistogramSeries {
    const key = this.key(labels);
    let series = this.series.get(key);
    if (!series) {
      series = { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    return series;
  }

  #record(series: HistogramSeries, value: number): void {
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && value > buckets[i]) i++;
    series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  override sampleNames(): string[] {
    return [`${this.name}_bucket`, `${this.name}_sum`, `${this.name}_count`];
  }

  protected renderSamples(out: string[]): void {
    for (const [key, series] of this.series) {
      // `le` goes last, after the declared labels.
      const prefix = key
        ? `${this.name}_bucket${key.slice(0, -1)},le="`
        : `${this.name}_bucket{le="`;
      let running = 0;
      for (let i = 0; i < this.#le.length; i++) {
        running += series.counts[i];
        out.push(`${prefix}${this.#le[i]}"} ${formatValue(running)}`);
      }
      out.push(`${this.name}_sum${key} ${formatValue(series.sum)}`);
      out.push(`${this.name}_count${key} ${formatValue(series.count)}`);
    }
  }
}

/**
 * An info metric: a gauge `<name>` (ending in `_info`) with value 1 whose labels carry the
 * information (`pipeline_model_info{version="..."} 1`). `set` replaces the previous series.
 */
export class Info<L extends LabelNames> extends Family<L, true> {
  readonly type = "gauge";

  constructor(options: MetricOptions<L>) {
    super(options);
    if (!options.name.endsWith("_info")) {
      throw new MetricError(`Info metric ${options.name} must end in _info`);
    }
    if (!this.labelNames.length) throw new MetricError(`Info metric ${options.name} needs labels`);
  }

  set(...labels: LabelArgs<L>): void {
    const key = this.key(labels);
    this.series.clear();
    this.series.set(key, true);
  }

  protected renderSamples(out: string[]): void {
    for (const key of this.series.keys()) out.push(`${this.name}${key} 1`);
  }
}

/** What the registry needs of a metric. */
interface Renderable {
  readonly name: string;
  sampleNames(): string[];
  render(out: string[]): void;
}

/** Holds metrics by name and renders them; collectors refresh values just before a render. */
export class Registry {
  readonly #families = new Map<string, Renderable>();
  /** Every sample name in use (histograms use three), to refuse clashing families. */
  readonly #samples = new Map<string, string>();
  readonly #collectors: (() => void)[] = [];

  counter<const L extends LabelNames = []>(options: MetricOptions<L>): Counter<L> {
    return this.#add(new Counter(options));
  }

  gauge<const L extends LabelNames = []>(options: MetricOptions<L>): Gauge<L> {
    return this.#add(new Gauge(options));
  }

  histogram<const L extends LabelNames = []>(options: HistogramOptions<L>): Histogram<L> {
    return this.#add(new Histogram(options));
  }

  info<const L extends LabelNames>(options: MetricOptions<L>): Info<L> {
    return this.#add(new Info(options));
  }

  /** Runs `collect` before every render: for values read on demand (memory, CPU). */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  /** The whole registry in the text exposition format 0.0.4, ending with a line feed. */
  render(): string {
    for (const collect of this.#collectors) collect();
    const out: string[] = [];
    for (const family of this.#families.values()) family.render(out);
    return out.length ? out.join("\n") + "\n" : "";
  }

  #add<F extends Renderable>(family: F): F {
    const names = [family.name, ...family.sampleNames()];
    for (const name of names) {
      const owner = this.#samples.get(name);
      if (owner !== undefined) {
        throw new MetricError(
          `Metric ${family.name} clashes with ${owner}: both would write samples named ${name}`,
        );
      }
    }
    for (const name of names) this.#samples.set(name, family.name);
    this.#families.set(family.name, family);
    return family;
  }
}
