/** Public face of this folder. */
export { columnNames, encodeInput, inputWidth, withDefaults } from "./_features.ts";
export type { EventRecord } from "./_features.ts";
export { cardPathFor, checkModel, loadModel, openReturnModel } from "./_session.ts";
export type { ReturnModel } from "./_session.ts";
export {
  calibration,
  calibrationBar,
  calibrationLines,
  histogram,
  histogramLines,
  logLoss,
  rocAuc,
} from "./_metrics.ts";
export type { ReliabilityBin } from "./_metrics.ts";
export { ModelHolder, openModelHolder } from "./_holder.ts";
export type {
  HolderNotices,
  HolderOptions,
  HolderStats,
  ModelLease,
  ModelSpec,
} from "./_holder.ts";
export { openShadowScorer, ShadowScorer } from "./_shadow.ts";
export type { ShadowScore, ShadowStats } from "./_shadow.ts";
export { ComparisonBuilder, comparisonLines } from "./_compare.ts";
export type { ComparedScore, Comparison, ModelMetrics } from "./_compare.ts";
