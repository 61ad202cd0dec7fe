/** A small SVG line chart: several curves on shared axes, for before/after comparisons. */

/** One curve: its legend text and its (x, y) points in drawing order. */
export interface Curve {
  readonly label: string;
  readonly points: readonly (readonly [number, number])[];
}

/** What to draw. */
export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly curves: readonly Curve[];
  readonly width?: number;
  readonly height?: number;
}

/** Distinguishable on white, also when printed in grey (dark to light). */
const COLORS = ["#1f4e9c", "#d1495b", "#2a9d5c", "#edae49", "#6b3fa0", "#00798c", "#8c564b"];

/** "Nice" tick values (1, 2, 5 × 10^k) from 0 to at least `max`, about `count` of them. */
export function ticks(max: number, count = 6): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const values: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) values.push(Number(v.toPrecision(12)));
  if (values[values.length - 1] < max) values.push(Number((values.length * step).toPrecision(12)));
  return values;
}

/** 1,500 -> "1.5k", 1,000,000 -> "1M": short axis labels. */
export function shortNumber(n: number): string {
  const abs = Math.abs(n);
  const fmt = (v: number, unit: string) => `${Number(v.toFixed(2))}${unit}`;
  if (abs >= 1e6) return fmt(n / 1e6, "M");
  if (abs >= 1e3) return fmt(n / 1e3, "k");
  return String(Number(n.toFixed(2)));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** The chart as a standalone SVG document (axes from 0, a legend in the upper right). */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 820;
  const height = spec.height ?? 460;
  const margin = { left: 78, right: 24, top: 44, bottom: 58 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = spec.curves.flatMap((c) => c.points);
  const xTicks = ticks(Math.max(0, ...all.map(([x]) => x)));
  const yTicks = ticks(Math.max(0, ...all.map(([, y]) => y)));
  const xMax = xTicks[xTicks.length - 1];
  const yMax = yTicks[yTicks.length - 1];
  const px = (x: number) => margin.left + (x / xMax) * plotW;
  const py = (y: number) => margin.top + plotH - (y / yMax) * plotH;
  const f = (n: number) => n.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">` +
    `${escapeXml(spec.title)}</text>`,
  ];
  for (const t of yTicks) {
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(py(t))}" y2="${f(py(t))}" ` +
        `stroke="#e3e3e3"/>`,
      `<text x="${margin.left - 8}" y="${f(py(t) + 4)}" text-anchor="end">${shortNumber(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(
      `<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${margin.top}" y2="${margin.top + plotH}" ` +
        `stroke="#f0f0f0"/>`,
      `<text x="${f(px(t))}" y="${margin.top + plotH + 18}" text-anchor="middle">` +
        `${shortNumber(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" ` +
      `stroke="#555555"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 14}" text-anchor="middle">` +
      `${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" ` +
      `text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  spec.curves.forEach((curve, i) => {
    const color = COLORS[i % COLORS.length];
    const path = curve.points.map(([x, y], j) => `${j ? "L" : "M"}${f(px(x))} ${f(py(y))}`);
    if (path.length) {
      parts.push(
        `<path d="${path.join(" ")}" fill="none" stroke="${color}" stroke-width="2.2" ` +
          `stroke-linejoin="round"/>`,
        ...curve.points.map(([x, y]) =>
          `<circle cx="${f(px(x))}" cy="${f(py(y))}" r="2.6" fill="${color}"/>`
        ),
      );
    }
    const ly = margin.top + 16 + i * 18;
    const lx = margin.left + plotW - 12;
    parts.push(
      `<line x1="${lx - 24}" x2="${lx}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" ` +
        `stroke-width="2.2"/>`,
      `<text x="${lx - 30}" y="${ly}" text-anchor="end">${escapeXml(curve.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
