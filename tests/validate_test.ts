import assert from "assert";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../lib/config/mod.ts";
import {
  dedupInBatch,
  orderEvent,
  parseDateTime,
  validateEvent,
  validateMessage,
} from "../lib/events/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import { guideEvent } from "./_fixtures.ts";

const config = parseConfig(
  await Deno.readTextFile(fileURLToPath(new URL("../pipeline.yaml", import.meta.url))),
  { file: fileURLToPath(new URL("../pipeline.yaml", import.meta.url)), env: () => undefined },
);
const now = new Date("2026-03-01T12:00:00.000Z");
const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
const full = guideEvent;

function rejection(value: unknown) {
  const result = validateMessage(bytes(value), config, now);
  assert.equal(result.ok, false, `expected a rejection of ${JSON.stringify(value)}`);
  return result as { reason: string; field?: string };
}

Deno.test("validateMessage() types the guide's recommended event, with nothing extra to keep", () => {
  const text = JSON.stringify(full);
  const result = validateMessage(bytes(text), config, now);
  assert.ok(result.ok);
  assert.equal(result.extraFields, null);
  assert.deepEqual(result.features, {
    ...full,
    event_time: new Date("2026-02-02T10:00:00.000Z"),
  });
  assert.ok(Object.isFrozen(result.features));
  // Every key of the guide's event has a column: the stored event holds the same values.
  assert.deepEqual(result.event, result.features);
});

Deno.test("validateMessage() keeps every key without a column in extraFields, values as received", () => {
  const { order_device: _device, ...fields } = config.events.fields;
  const custom = {
    ...config,
    events: {
      ...config.events,
      // A declared field beyond the guide's, one not sent, and order_device left undeclared.
      fields: {
        ...fields,
        coupon: { type: "string" as const, default: "none" },
        promised_at: { type: "datetime" as const, default: "now" as const },
        gift: { type: "boolean" as const, default: false },
      },
    },
  };
  const message = {
    ...full,
    coupon: "WELCOME",
    promised_at: "2026-02-04T10:00:00+02:00",
    note: null,
    tags: ["a", { b: 1.5 }],
    "clé é": "ünï 🚀",
  };
  const result = validateMessage(bytes(message), custom, now);
  assert.ok(result.ok);
  assert.equal(result.features.coupon, "WELCOME");
  assert.equal(result.features.gift, false, "declared fields not sent still get their default");
  // Only columns are in the stored event; an undeclared column field takes its column's default.
  assert.equal("coupon" in result.event, false);
  assert.equal(result.event.order_device, undefined);
  assert.deepEqual(JSON.parse(result.extraFields!), {
    order_device: "mobile",
    coupon: "WELCOME",
    promised_at: "2026-02-04T10:00:00+02:00",
    note: null,
    tags: ["a", { b: 1.5 }],
    "clé é": "ünï 🚀",
  });
  // Columns and extra fields together hold every key that was sent.
  const columns = Object.keys(full).filter((k) => k !== "order_device");
  assert.deepEqual(
    [...columns, ...Object.keys(JSON.parse(result.extraFields!))].sort(),
    Object.keys(message).sort(),
  );
  // A declared field beyond the columns is validated all the same.
  assert.deepEqual(
    validateMessage(bytes({ ...message, coupon: 5 }), custom, now),
    { ok: false, reason: "wrong type: expected a string, got number 5", field: "coupon" },
  );
});

Deno.test("validateMessage() applies defaults to absent and null optional fields", () => {
  const result = validateMessage(
    bytes({ event_id: "e2", order_id: "o2", customer_customer_id: "c2", order_device: null }),
    config,
    now,
  );
  assert.ok(result.ok);
  assert.deepEqual(result.features, {
    event_id: "e2",
    order_id: "o2",
    customer_customer_id: "c2",
    event_time: now,
    customer_country: "unknown",
    order_device: "unknown",
    order_channel: "unknown",
    order_main_category: "unknown",
    order_n_items: 0,
    order_basket_value: 0,
    order_shipping_fee: 0,
    order_discount: 0,
    order_order_total: 0,
    order_is_returned: false,
  });
});

Deno.test("validateMessage() names every missing required key", () => {
  assert.deepEqual(rejection({ event_id: "e", order_id: "" }), {
    ok: false,
    reason: "missing required key",
    field: "order_id,customer_customer_id",
  });
});

Deno.test("validateMessage() rejects wrong types, numeric strings included", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { order_n_items: "3" },
      "order_n_items",
      'wrong type: expected a JSON integer, got the string "3"',
    ],
    [{ order_n_items: 2.5 }, "order_n_items", "wrong type: expected an integer, got 2.5"],
    [{ order_basket_value: "12.5" }, "order_basket_value", "wrong type: expected a JSON number"],
    [{ order_is_returned: "false" }, "order_is_returned", "wrong type: expected true or false"],
    [{ order_is_returned: 0 }, "order_is_returned", "wrong type: expected true or false"],
    [{ customer_country: 33 }, "customer_country", "wrong type: expected a string, got number 33"],
    [{ order_device: { a: 1 } }, "order_device", "wrong type: expected a string, got an object"],
    [{ event_id: ["x"] }, "event_id", "wrong type: expected a string, got an array"],
    [{ event_time: 1767225600 }, "event_time", "wrong type: expected an ISO 8601 string"],
  ];
  for (const [change, field, reason] of cases) {
    const result = rejection({ ...full, ...change });
    assert.equal(result.field, field);
    assert.ok(result.reason.startsWith(reason), `${result.reason} should start with ${reason}`);
  }
});

Deno.test("validateMessage() rejects values out of range and strings too long", () => {
  assert.deepEqual(rejection({ ...full, order_n_items: -1 }), {
    ok: false,
    reason: "out of range: -1 < min 0",
    field: "order_n_items",
  });
  assert.deepEqual(rejection({ ...full, order_basket_value: 1e8 }), {
    ok: false,
    reason: "out of range: 100000000 > max 10000000",
    field: "order_basket_value",
  });
  assert.deepEqual(rejection(JSON.stringify(full).replace("120", "1e400")), {
    ok: false,
    reason: "out of range: not a finite number",
    field: "order_basket_value",
  });
  assert.deepEqual(rejection({ ...full, customer_country: "é".repeat(33) }), {
    ok: false,
    reason: "too long: 33 characters > max_length 32",
    field: "customer_country",
  });
  // 32 characters of 2 bytes each fit: the limit counts characters, as VARCHAR does.
  assert.ok(validateMessage(bytes({ ...full, customer_country: "é".repeat(32) }), config, now).ok);
});

Deno.test("validateMessage() rejects values that their column cannot hold", () => {
  // A config without bounds lets through values that no INT or DECIMAL(12,2) column holds.
  const { min: _min, max: _max, ...items } = config.events.fields.order_n_items;
  const unbounded = {
    ...config,
    events: {
      ...config.events,
      fields: {
        ...config.events.fields,
        order_n_items: { ...items, type: "number" as const },
        order_order_total: { type: "number" as const, default: 0 },
      },
    },
  };
  const reject = (change: Record<string, unknown>) =>
    validateMessage(bytes({ ...full, ...change }), unbounded, now);
  assert.deepEqual(reject({ order_n_items: 2.5 }), {
    ok: false,
    reason: "wrong type: expected an integer for its INT column, got 2.5",
    field: "order_n_items",
  });
  assert.deepEqual(reject({ order_n_items: 2 ** 31 }), {
    ok: false,
    reason: "out of range: 2147483648 does not fit its INT column (at most 2147483647)",
    field: "order_n_items",
  });
  assert.deepEqual(reject({ order_order_total: 9999999999.995 }), {
    ok: false,
    reason: "out of range: 9999999999.995 does not fit its DECIMAL(12,2) column " +
      "(at most 9999999999.99)",
    field: "order_order_total",
  });
  const fits = reject({ order_n_items: 2 ** 31 - 1, order_order_total: -9999999999.99 });
  assert.ok(fits.ok);
  assert.equal(fits.event.order_n_items, 2 ** 31 - 1);
  assert.equal(fits.event.order_order_total, -9999999999.99);
});

Deno.test("orderEvent() types the columns, and refuses a config giving a column another type", () => {
  const features = { ...full, event_time: new Date("2026-02-02T10:00:00Z") };
  const built = orderEvent(features, now);
  assert.ok(built.ok);
  assert.deepEqual(built.event, features);
  // Without an event_time field, the event's time is the moment it was read.
  const { event_time: _time, ...timeless } = features;
  const read = orderEvent(timeless, now);
  assert.ok(read.ok);
  assert.equal(read.event.event_time, now);
  assert.deepEqual(orderEvent({ ...features, order_id: "" }, now), {
    ok: false,
    reason: "missing required key",
    field: "order_id",
  });
  assert.throws(() => orderEvent({ ...features, order_n_items: "3" }, now), (error: Error) => {
    assert.ok(error instanceof UserError);
    assert.match(error.message, /events\.fields\.order_n_items: its values are strings/);
    assert.match(error.hint ?? "", /type: integer/);
    return true;
  });
});

Deno.test("validateMessage() passes decoding failures on with their reason", () => {
  assert.equal(rejection("{not json").reason.startsWith("invalid JSON"), true);
  assert.equal(rejection("[1,2]").reason, "not a JSON object");
  assert.deepEqual(validateMessage(new Uint8Array([0x7b, 0xff, 0x7d]), config, now), {
    ok: false,
    reason: "invalid UTF-8",
  });
  assert.deepEqual(validateMessage(null, config, now), { ok: false, reason: "empty message" });
  assert.deepEqual(
    rejection(
      '{"event_id":"e","order_id":"o","customer_customer_id":"c","order_n_items":9007199254740993}',
    ),
    { ok: false, reason: "number beyond 2^53 in order_n_items", field: "order_n_items" },
  );
});

Deno.test("validateEvent() never reads a field from the prototype chain", () => {
  const events = {
    required: ["event_id"],
    fields: {
      event_id: { type: "string" as const },
      constructor: { type: "string" as const, default: "none" },
    },
  };
  const result = validateEvent({ event_id: "e" }, events, now);
  assert.ok(result.ok);
  assert.equal(result.features.constructor, "none");
});

Deno.test("validateMessage() rejects a __proto__ key and pollutes nothing", () => {
  const text = '{"event_id":"e","order_id":"o","customer_customer_id":"c","__proto__":{"x":1}}';
  assert.equal(rejection(text).field, "__proto__");
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

Deno.test("parseDateTime() reads ISO 8601 as UTC and refuses impossible dates", () => {
  const iso = (text: string) => parseDateTime(text)?.toISOString();
  assert.equal(iso("2026-02-02T10:00:00Z"), "2026-02-02T10:00:00.000Z");
  assert.equal(iso("2026-02-02T10:00:00+02:00"), "2026-02-02T08:00:00.000Z");
  assert.equal(iso("2026-02-02T10:00:00.1234-0130"), "2026-02-02T11:30:00.123Z");
  assert.equal(iso("2026-02-02 10:00"), "2026-02-02T10:00:00.000Z");
  assert.equal(iso("2026-02-02"), "2026-02-02T00:00:00.000Z");
  for (const bad of ["2026-02-30T10:00:00Z", "2026-02-02T25:00:00Z", "yesterday", "02/02/2026"]) {
    assert.equal(parseDateTime(bad), undefined, bad);
  }
});

Deno.test("dedupInBatch() keeps the first event (skip) or the last one (update)", () => {
  const items = [{ id: "a", n: 1 }, { id: "b", n: 2 }, { id: "a", n: 3 }];
  assert.deepEqual(dedupInBatch(items, "skip"), {
    unique: [{ id: "a", n: 1 }, { id: "b", n: 2 }],
    repeated: [{ id: "a", n: 3 }],
  });
  assert.deepEqual(dedupInBatch(items, "update"), {
    unique: [{ id: "a", n: 3 }, { id: "b", n: 2 }],
    repeated: [{ id: "a", n: 1 }],
  });
});
