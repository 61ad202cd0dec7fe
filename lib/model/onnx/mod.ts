/** Public face of this folder. */
export { binaryClassifierModel, buildModel } from "./_build.ts";
export type { NodeSpec } from "./_build.ts";
export { exposeZipMapInput, formatType, readModelInfo, zipMapFor, zipMapLabels } from "./_read.ts";
export type { ModelInfo } from "./_read.ts";
