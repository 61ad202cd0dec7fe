/**
 * The live model against the shadow model on the same stored events whose outcome is known:
 * ranking (ROC AUC), log loss, calibration of each and their difference, and how often the
 * two disagree by more than a threshold. Pure: the rows come from the database elsewhere.
 */
import { calibration, calibrationLines, logLoss, type ReliabilityBin, rocAuc } from "./_metrics.ts";

/** One event scored by both models. */
export interface ComparedScore {
  readonly eventId: string;
  readonly live: number;
  readonly liveVersion: string;
  readonly shadow: number;
  readonly shadowVersion: string;
  readonly returned: boolean;
}

/** Metrics of one model on the compared events. */
export interface ModelMetrics {
  readonly rocAuc: number;
  readonly logLoss: number;
  readonly ece: number;
  readonly meanPredicted: number;
  readonly bins: readonly ReliabilityBin[];
}

export interface Comparison {
  readonly events: number;
  readonly returned: number;
  /** Events per version, most frequent first. */
  readonly liveVersions: readonly (readonly [string, number])[];
  readonly shadowVersions: readonly (readonly [string, number])[];
  readonly live: ModelMetrics;
  readonly shadow: ModelMetrics;
  readonly threshold: number;
  /** Events where |shadow - live| > threshold. */
  readonly disagreements: number;
  readonly meanAbsoluteDifference: number;
  readonly largest?: { readonly eventId: string; readonly live: number; readonly shadow: number };
}

/** Accumulates compared rows page by page, then computes the comparison once. */
export class ComparisonBuilder {
  #live: number[] = [];
  #shadow: number[] = [];
  #labels: number[] = [];
  readonly #liveVersions = new Map<string, number>();
  readonly #shadowVersions = new Map<string, number>();
  #disagreements = 0;
  #sumAbs = 0;
  #largest: Comparison["largest"];

  constructor(readonly threshold: number) {}

  add(rows: readonly ComparedScore[]): void {
    for (const r of rows) {
      this.#live.push(r.live);
      this.#shadow.push(r.shadow);
      this.#labels.push(r.returned ? 1 : 0);
      this.#liveVersions.set(r.liveVersion, (this.#liveVersions.get(r.liveVersion) ?? 0) + 1);
      this.#shadowVersions.set(
        r.shadowVersion,
        (this.#shadowVersions.get(r.shadowVersion) ?? 0) + 1,
      );
      const gap = Math.abs(r.shadow - r.live);
      this.#sumAbs += gap;
      if (gap > this.threshold) this.#disagreements++;
      if (!this.#largest || gap > Math.abs(this.#largest.shadow - this.#largest.live)) {
        this.#largest = { eventId: r.eventId, live: r.live, shadow: r.shadow };
      }
    }
  }

  get events(): number {
    return this.#live.length;
  }

  build(): Comparison {
    const n = this.#live.length;
    const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
    return {
      events: n,
      returned: this.#labels.reduce((a, b) => a + b, 0),
      liveVersions: sorted(this.#liveVersions),
      shadowVersions: sorted(this.#shadowVersions),
      live: metricsOf(this.#live, this.#labels),
      shadow: metricsOf(this.#shadow, this.#labels),
      threshold: this.threshold,
      disagreements: this.#disagreements,
      meanAbsoluteDifference: n ? this.#sumAbs / n : 0,
      largest: this.#largest,
    };
  }
}

function metricsOf(p: readonly number[], labels: readonly number[]): ModelMetrics {
  const cal = calibration(p, labels);
  return {
    rocAuc: rocAuc(p, labels),
    logLoss: logLoss(p, labels),
    ece: cal.ece,
    meanPredicted: p.reduce((a, b) => a + b, 0) / Math.max(1, p.length),
    bins: cal.bins,
  };
}

const count = (n: number) => n.toLocaleString("en-US");
const pct = (part: number, whole: number) => whole ? `${(100 * part / whole).toFixed(1)} %` : "-";
const fixed = (x: number, digits = 4) => Number.isFinite(x) ? x.toFixed(digits) : "n/a";
const signed = (x: number, digits = 4) =>
  Number.isFinite(x) ? `${x >= 0 ? "+" : "-"}${Math.abs(x).toFixed(digits)}` : "n/a";

/** The report `deno task model compare` prints. */
export function comparisonLines(c: Comparison): string[] {
  const lines: string[] = [];
  lines.push(
    `events compared: ${count(c.events)} (returned: ${count(c.returned)}, ${
      pct(c.returned, c.events)
    })`,
  );
  for (
    const [label, versions] of [["live", c.liveVersions], ["shadow", c.shadowVersions]] as const
  ) {
    lines.push(
      `${label} model:${" ".repeat(8 - label.length)}${
        versions.map(([v, n]) => `${v} (${count(n)})`).join(", ")
      }`,
    );
  }
  lines.push("");
  lines.push(`${"".padEnd(14)}${"live".padStart(8)}  ${"shadow".padStart(8)}  shadow - live`);
  const row = (name: string, live: number, shadow: number) =>
    `${name.padEnd(14)}${fixed(live).padStart(8)}  ${fixed(shadow).padStart(8)}  ${
      signed(shadow - live).padStart(9)
    }`;
  lines.push(row("ROC AUC", c.live.rocAuc, c.shadow.rocAuc));
  lines.push(row("log loss", c.live.logLoss, c.shadow.logLoss));
  lines.push(row("ECE (10 bins)", c.live.ece, c.shadow.ece));
  lines.push(row("mean predicted", c.live.meanPredicted, c.shadow.meanPredicted));
  lines.push(row("observed rate", c.returned / c.events, c.returned / c.events));
  lines.push("");
  lines.push(
    `disagreement: ${count(c.disagreements)} of ${count(c.events)} events (${
      pct(c.disagreements, c.events)
    }) differ by more than ${c.threshold}; mean |shadow - live| ${
      fixed(c.meanAbsoluteDifference)
    }` + (c.largest
      ? `; largest ${
        fixed(Math.abs(c.largest.shadow - c.largest.live))
      } (event_id ${c.largest.eventId}: live ${fixed(c.largest.live, 3)}, shadow ${
        fixed(c.largest.shadow, 3)
      })`
      : ""),
  );
  for (const [label, m] of [["live", c.live], ["shadow", c.shadow]] as const) {
    lines.push("");
    lines.push(`calibration, ${label} model:`);
    lines.push(...calibrationLines(m.bins));
  }
  lines.push("");
  lines.push("calibration difference (observed - predicted per bin; closer to 0 is better):");
  lines.push(
    `  ${"bin".padEnd(7)}  ${"live n".padStart(7)}  ${"gap".padStart(7)}  ` +
      `${"shadow n".padStart(8)}  ${"gap".padStart(7)}  ${"|gap| change".padStart(12)}`,
  );
  for (let b = 0; b < 10; b++) {
    const from = b / 10;
    const l = c.live.bins.find((x) => Math.abs(x.from - from) < 1e-9);
    const s = c.shadow.bins.find((x) => Math.abs(x.from - from) < 1e-9);
    if (!l && !s) continue;
    const gap = (x?: ReliabilityBin) => x ? x.observedRate - x.meanPredicted : NaN;
    const change = l && s ? Math.abs(gap(s)) - Math.abs(gap(l)) : NaN;
    lines.push(
      `  ${from.toFixed(1)}-${(from + 0.1).toFixed(1)}  ${count(l?.count ?? 0).padStart(7)}  ${
        (l ? signed(gap(l), 3) : "-").padStart(7)
      }  ${count(s?.count ?? 0).padStart(8)}  ${(s ? signed(gap(s), 3) : "-").padStart(7)}  ${
        (Number.isFinite(change) ? signed(change, 3) : "-").padStart(12)
      }`,
    );
  }
  return lines;
}
