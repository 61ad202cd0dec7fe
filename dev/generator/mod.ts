/**
 * Synthetic order events for demos, tests, training and benchmarks.
 *
 * Everything is drawn from a seeded generator: the same options give byte-identical output.
 * Whether an order is returned is drawn from a documented ground-truth probability
 * (trueReturnProbability) so that a trained model can be compared with the best achievable.
 */
import { mix32, Random } from "./_random.ts";

/** What to generate. Fractions are probabilities per line, between 0 and 1. */
export interface GenerateOptions {
  /** Number of lines (for generateEvents: records) to produce. */
  readonly events: number;
  readonly seed: number;
  /** Size of the customer pool; default: 40% of the event count. */
  readonly customers?: number;
  /** Fraction of lines that repeat an earlier event exactly (same event_id, same bytes). */
  readonly duplicates?: number;
  /** Fraction of events that lack one to three optional fields. */
  readonly missingOptional?: number;
  /** Fraction of lines that are malformed (invalid JSON, an array, a required key missing). */
  readonly malformed?: number;
  /**
   * How event_id and order_id are made: "random" (version 4 UUIDs, the default) or
   * "time-ordered" (version 7: the event's time first, as producers that mint ids for
   * database keys often do). Customer ids stay random: customers come back at any time.
   */
  readonly ids?: IdKind;
}

/** How generated event and order ids are made. */
export type IdKind = "random" | "time-ordered";

/** The id kinds, as flags name them. */
export const ID_KINDS: readonly IdKind[] = ["random", "time-ordered"];

/** Counts of what was generated. */
export interface GenerateStats {
  lines: number;
  events: number;
  duplicates: number;
  incomplete: number;
  malformed: number;
  returned: number;
  /** Sum of trueReturnProbability over new events (mean = sum / events). */
  probabilitySum: number;
  bytes: number;
}

const COUNTRIES = {
  FR: 30,
  DE: 15,
  ES: 10,
  IT: 10,
  GB: 8,
  BE: 7,
  NL: 7,
  US: 7,
  CH: 3,
  PT: 3,
} as const;
const DEVICES = { mobile: 55, desktop: 35, tablet: 10 } as const;
const CHANNELS = { web: 50, app: 30, marketplace: 20 } as const;
const CATEGORIES = {
  fashion: 28,
  home: 16,
  electronics: 14,
  beauty: 12,
  sports: 10,
  books: 10,
  toys: 10,
} as const;
/** Median unit price per category, in euros. */
const UNIT_PRICE: Record<keyof typeof CATEGORIES, number> = {
  fashion: 35,
  home: 45,
  electronics: 120,
  beauty: 20,
  sports: 40,
  books: 14,
  toys: 25,
};
/** Chance of buying one more item, per category (books and fashion come in bigger baskets). */
const MORE_ITEMS: Record<keyof typeof CATEGORIES, number> = {
  fashion: 0.55,
  home: 0.4,
  electronics: 0.25,
  beauty: 0.5,
  sports: 0.4,
  books: 0.55,
  toys: 0.45,
};
const FAR_COUNTRIES = new Set(["GB", "US", "CH"]);

/** Fields an "incomplete" event may lack (never the required keys nor the label). */
export const OPTIONAL_FIELDS = [
  "event_time",
  "customer_country",
  "order_device",
  "order_channel",
  "order_main_category",
  "order_n_items",
  "order_shipping_fee",
  "order_discount",
] as const;

/**
 * Coefficients of the ground-truth return model: a logistic function
 *   p = 1 / (1 + exp(-z)),
 *   z = intercept + category + device + channel + country
 *       + basketLog * ln(max(basket, 1) / 50)
 *       + perExtraItem * min(n_items - 1, 10)
 *       + discountRatio * (discount / basket)
 *       + fashionMobile   (if category = fashion and device = mobile)
 *       + electronicsMarketplace (if category = electronics and channel = marketplace)
 *       + fashionDiscountRatio * (discount / basket) (if category = fashion).
 * Unknown or missing values contribute 0 (n_items missing counts as 1, basket as 50).
 * With the generator's distributions the mean return rate is about 20%.
 */
export const RETURN_MODEL = {
  intercept: -2.4,
  category: {
    fashion: 0.9,
    electronics: 0.2,
    home: -0.1,
    beauty: -0.6,
    sports: 0.3,
    books: -1.2,
    toys: -0.4,
  } as Record<string, number>,
  device: { mobile: 0.25, desktop: 0, tablet: 0.1 } as Record<string, number>,
  channel: { web: 0, app: -0.3, marketplace: 0.45 } as Record<string, number>,
  country: { DE: 0.35, NL: 0.15, GB: 0.1, US: -0.2 } as Record<string, number>,
  basketLog: 0.45,
  perExtraItem: 0.15,
  discountRatio: 2.0,
  fashionMobile: 0.35,
  electronicsMarketplace: 0.6,
  fashionDiscountRatio: 1.0,
} as const;

/** The ground-truth probability that an order is returned, from its other fields. */
export function trueReturnProbability(event: Readonly<Record<string, unknown>>): number {
  const m = RETURN_MODEL;
  const text = (key: string) => typeof event[key] === "string" ? event[key] as string : "";
  const num = (key: string, fallback: number) =>
    typeof event[key] === "number" && Number.isFinite(event[key]) ? event[key] as number : fallback;
  const category = text("order_main_category");
  const device = text("order_device");
  const channel = text("order_channel");
  const basket = num("order_basket_value", 50);
  const items = num("order_n_items", 1);
  const discount = num("order_discount", 0);
  const ratio = basket > 0 ? Math.min(discount / basket, 1) : 0;
  let z = m.intercept +
    (m.category[category] ?? 0) +
    (m.device[device] ?? 0) +
    (m.channel[channel] ?? 0) +
    (m.country[text("customer_country")] ?? 0) +
    m.basketLog * Math.log(Math.max(basket, 1) / 50) +
    m.perExtraItem * Math.min(Math.max(items - 1, 0), 10) +
    m.discountRatio * ratio;
  if (category === "fashion" && device === "mobile") z += m.fashionMobile;
  if (category === "electronics" && channel === "marketplace") z += m.electronicsMarketplace;
  if (category === "fashion") z += m.fashionDiscountRatio * ratio;
  return 1 / (1 + Math.exp(-z));
}

/** Default end of the event period: a fixed date moved by the seed, never "now". */
function periodEnd(seed: number): number {
  return Date.UTC(2026, 0, 1) + (mix32(seed, 0xda7e) % 180) * 86_400_000;
}

const PERIOD_MS = 90 * 86_400_000;

function money(cents: number): number {
  return cents / 100;
}

/** Streams of randomness kept apart so one fraction does not shift the others' draws. */
interface Streams {
  core: Random;
  duplicate: Random;
  incomplete: Random;
}

/** A customer's id and country, derived from its index alone: no pool is kept in memory. */
function customer(seed: number, index: number): { id: string; country: string } {
  const rng = new Random(seed, 0xc057, index);
  return { id: rng.uuid(), country: rng.weighted(COUNTRIES) };
}

/** One new, complete event at position `index` of `total`. */
function newEvent(
  rng: Random,
  options: { seed: number; index: number; total: number; customers: number; ids?: IdKind },
): Record<string, unknown> {
  const start = periodEnd(options.seed) - PERIOD_MS;
  // Times rise with the index (the file reads like a log); jitter stays within one slot.
  const slot = PERIOD_MS / options.total;
  const time = Math.floor((start + (options.index + rng.next()) * slot) / 1000) * 1000;
  // u^1.3 favours low indices: a few customers order often, most order once or twice.
  const who = customer(
    options.seed,
    Math.min(options.customers - 1, Math.floor(options.customers * rng.next() ** 1.3)),
  );
  const id = () => options.ids === "time-ordered" ? rng.uuidV7(time) : rng.uuid();
  const device = rng.weighted(DEVICES);
  let channel: keyof typeof CHANNELS = rng.weighted(CHANNELS);
  if (channel === "app" && device === "desktop") channel = "web";
  const category = rng.weighted(CATEGORIES);
  let items = 1;
  while (items < 20 && rng.chance(MORE_ITEMS[category])) items++;
  let basketCents = 0;
  for (let i = 0; i < items; i++) {
    basketCents += Math.max(99, Math.round(rng.logNormal(UNIT_PRICE[category], 0.55) * 100));
  }
  let shippingCents: number;
  if (channel === "marketplace") shippingCents = rng.pick([299, 399, 499, 699]);
  else if (FAR_COUNTRIES.has(who.country)) shippingCents = basketCents >= 10000 ? 0 : 1299;
  else shippingCents = basketCents >= 5000 ? 0 : 499;
  let discountCents = 0;
  if (rng.chance(0.3)) {
    discountCents = rng.chance(0.7)
      ? Math.round(basketCents * rng.pick([5, 10, 15, 20, 30]) / 100)
      : Math.min(basketCents, rng.pick([500, 1000]));
  }
  const event: Record<string, unknown> = {
    event_id: id(),
    event_time: new Date(time).toISOString().replace(".000Z", "Z"),
    order_id: id(),
    customer_customer_id: who.id,
    customer_country: who.country,
    order_device: device,
    order_channel: channel,
    order_main_category: category,
    order_n_items: items,
    order_basket_value: money(basketCents),
    order_shipping_fee: money(shippingCents),
    order_discount: money(discountCents),
    order_order_total: money(basketCents + shippingCents - discountCents),
    order_is_returned: false,
  };
  event.order_is_returned = rng.next() < trueReturnProbability(event);
  return event;
}

function fraction(value: number | undefined): number {
  return Math.min(Math.max(value ?? 0, 0), 1);
}

interface Drawn {
  event: Record<string, unknown>;
  kind: "new" | "duplicate" | "incomplete";
}

function customerPool(options: GenerateOptions): number {
  return Math.max(1, Math.floor(options.customers ?? Math.ceil(Math.max(1, options.events) * 0.4)));
}

/** The unbounded event stream behind generateEvents and generateLines. */
function* drawEvents(options: GenerateOptions): Generator<Drawn> {
  const total = Math.max(1, options.events);
  const customers = customerPool(options);
  const duplicates = fraction(options.duplicates);
  const missing = fraction(options.missingOptional);
  const streams: Streams = {
    core: new Random(options.seed, 0xe7e7),
    duplicate: new Random(options.seed, 0xd0b1),
    incomplete: new Random(options.seed, 0x1ac4),
  };
  // A short window of recent events to repeat: duplicates are usually re-sends of recent ones.
  const recent: Record<string, unknown>[] = [];
  for (let index = 0;; index++) {
    if (recent.length > 0 && streams.duplicate.next() < duplicates) {
      yield { event: streams.duplicate.pick(recent), kind: "duplicate" };
      continue;
    }
    let event = newEvent(streams.core, {
      seed: options.seed,
      index,
      total,
      customers,
      ids: options.ids,
    });
    let kind: Drawn["kind"] = "new";
    if (streams.incomplete.next() < missing) {
      event = dropFields(event, streams.incomplete);
      kind = "incomplete";
    }
    recent.push(event);
    if (recent.length > 64) recent.shift();
    yield { event, kind };
  }
}

function dropFields(event: Record<string, unknown>, rng: Random): Record<string, unknown> {
  const copy = { ...event };
  const count = rng.int(1, 3);
  for (let i = 0; i < count; i++) delete copy[rng.pick(OPTIONAL_FIELDS)];
  return copy;
}

/** Generates `events` records (duplicates and incomplete events included as asked). Pure. */
export function* generateEvents(options: GenerateOptions): Generator<Record<string, unknown>> {
  let left = options.events;
  if (left <= 0) return;
  for (const { event } of drawEvents(options)) {
    yield event;
    if (--left <= 0) return;
  }
}

const MALFORMED_KINDS = ["invalid JSON", "JSON array", "missing required key"] as const;
const REQUIRED = ["event_id", "order_id", "customer_customer_id"] as const;

/** Generates JSON Lines (without newline), malformed ones included, updating `stats`. */
export function* generateLines(
  options: GenerateOptions,
  stats: GenerateStats = emptyStats(),
): Generator<string> {
  const malformed = fraction(options.malformed);
  const total = Math.max(1, options.events);
  const bad = new Random(options.seed, 0xbad1);
  const customers = customerPool(options);
  const events = drawEvents(options);
  for (let i = 0; i < options.events; i++) {
    stats.lines++;
    if (bad.next() < malformed) {
      stats.malformed++;
      // Drawn from its own stream so that it never shadows an event a duplicate could repeat.
      const good = JSON.stringify(
        newEvent(bad, { seed: options.seed, index: i, total, customers, ids: options.ids }),
      );
      const kind = bad.pick(MALFORMED_KINDS);
      if (kind === "invalid JSON") yield good.slice(0, bad.int(1, good.length - 1));
      else if (kind === "JSON array") yield `[${good}]`;
      else {
        const event = JSON.parse(good);
        delete event[bad.pick(REQUIRED)];
        yield JSON.stringify(event);
      }
      continue;
    }
    const { event, kind } = events.next().value!;
    if (kind === "duplicate") stats.duplicates++;
    else {
      stats.events++;
      if (kind === "incomplete") stats.incomplete++;
      if (event.order_is_returned === true) stats.returned++;
      stats.probabilitySum += trueReturnProbability(event);
    }
    yield JSON.stringify(event);
  }
}

/** Zeroed counters. */
export function emptyStats(): GenerateStats {
  return {
    lines: 0,
    events: 0,
    duplicates: 0,
    incomplete: 0,
    malformed: 0,
    returned: 0,
    probabilitySum: 0,
    bytes: 0,
  };
}

/**
 * Writes generated lines to a file (or stdout for "-") in constant memory. An existing file
 * is replaced only with `overwrite`; otherwise Deno.errors.AlreadyExists is thrown and the
 * file is left as it was.
 */
export async function writeEventsFile(
  path: string,
  options: GenerateOptions,
  { overwrite = false }: { overwrite?: boolean } = {},
): Promise<GenerateStats> {
  const stats = emptyStats();
  const toStdout = path === "-";
  const file = toStdout ? Deno.stdout : await Deno.open(
    path,
    overwrite ? { write: true, create: true, truncate: true } : { write: true, createNew: true },
  );
  const encoder = new TextEncoder();
  const writeAll = async (bytes: Uint8Array) => {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
    stats.bytes += bytes.length;
  };
  try {
    let chunk = "";
    for (const line of generateLines(options, stats)) {
      chunk += line + "\n";
      if (chunk.length >= 1 << 16) {
        await writeAll(encoder.encode(chunk));
        chunk = "";
      }
    }
    if (chunk) await writeAll(encoder.encode(chunk));
  } finally {
    if (!toStdout) file.close();
  }
  return stats;
}

export { Random } from "./_random.ts";
