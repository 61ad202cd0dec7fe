/**
 * How good a return probability is, for training, `model inspect` and `model compare`:
 * ROC AUC, log loss, calibration bins, and their text rendering (tables with bars). Pure.
 */

/** Area under the ROC curve (ties count one half); NaN when only one class is present. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]]) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (!positives || !negatives) return NaN;
  return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
}

/** Mean log loss, probabilities clipped to [1e-15, 1 - 1e-15]. */
export function logLoss(p: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    const q = Math.min(Math.max(p[i], 1e-15), 1 - 1e-15);
    sum -= labels[i] ? Math.log(q) : Math.log(1 - q);
  }
  return sum / p.length;
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  readonly from: number;
  readonly to: number;
  readonly count: number;
  readonly meanPredicted: number;
  readonly observedRate: number;
}

/** Expected calibration error over equal-width bins, with the (non-empty) bins themselves. */
export function calibration(
  p: ArrayLike<number>,
  labels: ArrayLike<number>,
  bins = 10,
): { ece: number; bins: ReliabilityBin[] } {
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < p.length; i++) {
    const b = binOf(p[i], bins);
    count[b]++;
    sumP[b] += p[i];
    sumY[b] += labels[i] ? 1 : 0;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    if (!count[b]) continue;
    const meanPredicted = sumP[b] / count[b];
    const observedRate = sumY[b] / count[b];
    ece += (count[b] / p.length) * Math.abs(meanPredicted - observedRate);
    out.push({
      from: b / bins,
      to: (b + 1) / bins,
      count: count[b],
      meanPredicted: round(meanPredicted),
      observedRate: round(observedRate),
    });
  }
  return { ece, bins: out };
}

function binOf(p: number, bins: number): number {
  return Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
}

function round(x: number, digits = 6): number {
  return Number(x.toFixed(digits));
}

/** Counts of probabilities per equal-width bin of [0, 1]. */
export function histogram(p: ArrayLike<number>, bins = 10): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < p.length; i++) counts[binOf(p[i], bins)]++;
  return counts;
}

const count = (n: number) => Math.round(n).toLocaleString("en-US");
const range = (from: number, to: number) => `${from.toFixed(1)}-${to.toFixed(1)}`;

/**
 * A text histogram of probabilities, one line per bin: `0.1-0.2   1,234  ########`; bars are
 * scaled to the largest bin. Several series (e.g. before and after) share the scale.
 */
export function histogramLines(
  series: readonly { readonly label: string; readonly counts: readonly number[] }[],
  options: { width?: number; indent?: string } = {},
): string[] {
  const width = options.width ?? 40;
  const indent = options.indent ?? "  ";
  const largest = Math.max(1, ...series.flatMap((s) => s.counts));
  const digits = Math.max(...series.flatMap((s) => s.counts.map((c) => count(c).length)), 1);
  const bins = series[0]?.counts.length ?? 0;
  const lines: string[] = [];
  if (series.length > 1) {
    lines.push(
      `${indent}${"".padEnd(7)}  ${series.map((s) => s.label.padStart(digits)).join("  ")}`,
    );
  }
  for (let b = 0; b < bins; b++) {
    const numbers = series.map((s) => count(s.counts[b]).padStart(digits)).join("  ");
    const bars = series.map((s, i) => {
      const bar = "#=*+"[i % 4].repeat(Math.round((s.counts[b] / largest) * width));
      return series.length > 1 ? bar.padEnd(width) : bar;
    }).join(" ");
    lines.push(`${indent}${range(b / bins, (b + 1) / bins)}  ${numbers}  ${bars}`.trimEnd());
  }
  return lines;
}

/**
 * A calibration table with bars: per bin the events, mean predicted probability and observed
 * rate, then a bar as long as the observed rate with `|` where the prediction is, so a
 * well-calibrated bin ends at its marker.
 */
export function calibrationLines(
  bins: readonly ReliabilityBin[],
  options: { width?: number; indent?: string } = {},
): string[] {
  const width = options.width ?? 40;
  const indent = options.indent ?? "  ";
  const digits = Math.max(6, ...bins.map((b) => count(b.count).length));
  const lines = [
    `${indent}${"bin".padEnd(7)}  ${"events".padStart(digits)}  predicted  observed  ` +
    `observed rate (#), mean prediction (|)`,
  ];
  for (const b of bins) {
    lines.push(
      `${indent}${range(b.from, b.to)}  ${count(b.count).padStart(digits)}  ` +
        `${b.meanPredicted.toFixed(3).padStart(9)}  ${b.observedRate.toFixed(3).padStart(8)}  ` +
        calibrationBar(b.meanPredicted, b.observedRate, width),
    );
  }
  return lines;
}

/** `#####|` : a bar of the observed rate with a marker at the predicted probability. */
export function calibrationBar(predicted: number, observed: number, width = 40): string {
  const bar = [..."#".repeat(Math.round(observed * width)).padEnd(width + 1, " ")];
  bar[Math.min(width, Math.round(predicted * width))] = "|";
  return bar.join("").trimEnd();
}
