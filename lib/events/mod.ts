/** Public face of this folder. */
export { decodeJsonObject, missingRequired } from "./_decode.ts";
export {
  dedupInBatch,
  extraFields,
  parseDateTime,
  validateEvent,
  validateMessage,
} from "./_validate.ts";
export type { EventValue, ValidEvent } from "./_validate.ts";
