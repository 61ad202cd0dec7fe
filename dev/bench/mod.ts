/** Public face of this folder. */
export { formatTable } from "./_report.ts";
export { runBenchmark } from "./_run.ts";
export type { BenchResult } from "./_run.ts";
