/** Public face of this folder. */
export { decodeJsonObject, missingRequired } from "./_decode.ts";
export {
  dedupInBatch,
  extraFields,
  orderEvent,
  parseDateTime,
  validateEvent,
  validateMessage,
} from "./_validate.ts";
export type { Accepted, EventValue, OrderEvent, Rejection, ValidEvent } from "./_validate.ts";
export { DEAD_LETTER_REASONS, deadLetterReason } from "./_reasons.ts";
export type { DeadLetterReason } from "./_reasons.ts";
