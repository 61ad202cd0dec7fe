import assert from "assert";
import type { FieldConfig, ModelInputConfig } from "../lib/config/mod.ts";
import { columnNames, encodeInput, inputWidth, withDefaults } from "../lib/model/mod.ts";

const fields: Record<string, FieldConfig> = {
  order_basket_value: { type: "number", default: 0 },
  order_n_items: { type: "integer", default: 0 },
  order_device: { type: "string", default: "unknown" },
  order_is_returned: { type: "boolean", default: false },
  event_time: { type: "datetime", default: "now" },
  order_id: { type: "string" },
};

const floatInput: ModelInputConfig = {
  name: "features",
  type: "float32",
  features: [
    { field: "order_basket_value", encode: "number" },
    { field: "order_n_items", encode: { scale: { mean: 2, std: 4 } } },
    { field: "order_device", encode: { oneHot: ["mobile", "desktop"] } },
    { field: "order_is_returned", encode: "number" },
  ],
};

Deno.test("inputWidth() and columnNames() count one-hot values as columns", () => {
  assert.equal(inputWidth(floatInput), 5);
  assert.deepEqual(columnNames(floatInput), [
    "order_basket_value",
    "order_n_items",
    "order_device=mobile",
    "order_device=desktop",
    "order_is_returned",
  ]);
});

Deno.test("encodeInput() writes number, scale, one-hot and boolean columns row by row", () => {
  const values = encodeInput(
    [
      {
        order_basket_value: 12.5,
        order_n_items: 6,
        order_device: "desktop",
        order_is_returned: true,
      },
      { order_basket_value: 0, order_n_items: 2, order_device: "tv", order_is_returned: false },
    ],
    floatInput,
    fields,
  );
  assert.ok(values instanceof Float32Array);
  assert.deepEqual([...values], [12.5, 1, 0, 1, 1, 0, 0, 0, 0, 0]);
});

Deno.test("encodeInput() uses `missing`, else the field default, for an absent or null value", () => {
  const input: ModelInputConfig = {
    name: "x",
    type: "float64",
    features: [
      { field: "order_basket_value", encode: "number", missing: 50 },
      { field: "order_n_items", encode: "number" },
      { field: "order_device", encode: { oneHot: ["unknown"] } },
    ],
  };
  const values = encodeInput([{ order_basket_value: null }], input, fields);
  assert.ok(values instanceof Float64Array);
  assert.deepEqual([...values], [50, 0, 1]);
});

Deno.test("encodeInput() fills string and int64 tensors", () => {
  const strings = encodeInput(
    [{ order_device: "mobile" }, { order_device: "tablet" }],
    { name: "d", type: "string", features: [{ field: "order_device", encode: "string" }] },
    fields,
  );
  assert.deepEqual(strings, ["mobile", "tablet"]);
  const ints = encodeInput(
    [{ order_n_items: 3 }, { order_n_items: 7 }],
    { name: "n", type: "int64", features: [{ field: "order_n_items", encode: "number" }] },
    fields,
  );
  assert.ok(ints instanceof BigInt64Array);
  assert.deepEqual([...ints], [3n, 7n]);
});

Deno.test("encodeInput() refuses values it cannot encode rather than guess", () => {
  assert.throws(
    () => encodeInput([{ order_basket_value: "12" }], floatInput, fields),
    /Cannot encode field "order_basket_value": "12" is not a number/,
  );
  assert.throws(
    () =>
      encodeInput(
        [{ order_n_items: 2.5 }],
        { name: "n", type: "int64", features: [{ field: "order_n_items", encode: "number" }] },
        fields,
      ),
    /Cannot encode field "order_n_items": 2\.5 is not an integer/,
  );
  assert.throws(
    () =>
      encodeInput(
        [{}],
        { name: "id", type: "string", features: [{ field: "order_id", encode: "string" }] },
        fields,
      ),
    /Cannot encode field "order_id": value missing and no default/,
  );
});

Deno.test("withDefaults() fills absent and null fields as validation does, keeping the others", () => {
  const out = withDefaults({ order_basket_value: null, order_device: "app", extra: 1 }, fields);
  assert.equal(out.order_basket_value, 0);
  assert.equal(out.order_device, "app");
  assert.equal(out.order_n_items, 0);
  assert.equal(out.extra, 1);
  assert.equal("order_id" in out, false);
});
