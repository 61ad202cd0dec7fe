/** Public face of this folder. */
export { columnNames, encodeInput, inputWidth, withDefaults } from "./_features.ts";
export type { EventRecord } from "./_features.ts";
export { cardPathFor, checkModel, loadModel, openReturnModel } from "./_session.ts";
export type { ReturnModel } from "./_session.ts";
