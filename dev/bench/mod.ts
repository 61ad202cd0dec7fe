/** Public face of this folder. */
export { formatTable } from "./_report.ts";
export { runBenchmark } from "./_run.ts";
export type { BenchResult } from "./_run.ts";
export { curveOf, runSustained } from "./_sustained.ts";
export type { SustainedResult } from "./_sustained.ts";
export { lineChart, shortNumber, ticks } from "./_chart.ts";
