/**
 * Operability: the consumer's Prometheus metrics and the HTTP endpoint serving them with
 * health and readiness probes. No dependency beyond Deno itself.
 */
export {
  type AppliedBatch,
  createPipelineMetrics,
  DEAD_LETTER_REASONS,
  type DeadLetterReason,
  deadLetterReason,
  PipelineMetrics,
  RETRY_CAUSES,
  type RetryCause,
  type Stage,
  STAGES,
} from "./_pipeline.ts";
export {
  Counter,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  Gauge,
  Histogram,
  type HistogramOptions,
  Info,
  type LabelNames,
  type Labels,
  MetricError,
  type MetricOptions,
  Registry,
} from "./_registry.ts";
export { registerProcessMetrics } from "./_process.ts";
export {
  type HttpEndpoint,
  type HttpOptions,
  ListenError,
  METRICS_CONTENT_TYPE,
  type Readiness,
  startHttp,
} from "./_server.ts";
