/** The kinds of reasons a record is dead-lettered for: a closed set, for counting. */

/**
 * Why a record was dead-lettered, as a closed set of kinds: the validator's free-text reason
 * ("out of range: 120 > max 100") would make one series per distinct value.
 */
export const DEAD_LETTER_REASONS = [
  "empty_message",
  "too_large",
  "invalid_utf8",
  "too_deep",
  "invalid_json",
  "not_object",
  "forbidden_key",
  "unsafe_integer",
  "missing_required",
  "wrong_type",
  "too_long",
  "out_of_range",
  "invalid_datetime",
  "database_rejected",
  "model_rejected",
  "other",
] as const;
export type DeadLetterReason = typeof DEAD_LETTER_REASONS[number];

// The fixed beginnings of the validator's reasons, each with its kind.
const REASON_PREFIXES: readonly (readonly [string, DeadLetterReason])[] = [
  ["empty message", "empty_message"],
  ["message too large", "too_large"],
  ["invalid UTF-8", "invalid_utf8"],
  ["nesting deeper than", "too_deep"],
  ["invalid JSON", "invalid_json"],
  ["not a JSON object", "not_object"],
  ["forbidden key", "forbidden_key"],
  ["number beyond 2^53", "unsafe_integer"],
  ["missing required key", "missing_required"],
  ["wrong type", "wrong_type"],
  ["too long", "too_long"],
  ["out of range", "out_of_range"],
  ["invalid datetime", "invalid_datetime"],
  // The consumer's own, for a record the database or the model refused alone.
  ["database rejected", "database_rejected"],
  ["model rejected", "model_rejected"],
];

/** The kind of a validator reason; a reason no prefix matches counts as "other". */
export function deadLetterReason(reason: string): DeadLetterReason {
  for (const [prefix, kind] of REASON_PREFIXES) if (reason.startsWith(prefix)) return kind;
  return "other";
}
