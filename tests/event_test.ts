import assert from "assert";
import { decodeJsonObject, missingRequired } from "../lib/events/mod.ts";

const limits = { maxBytes: 1024, maxDepth: 4 };
const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("decodeJsonObject() returns the object from bytes and from text", () => {
  const line = '{"event_id":"e1","order_n_items":3,"order_basket_value":12.5,"ok":true}';
  const expected = { event_id: "e1", order_n_items: 3, order_basket_value: 12.5, ok: true };
  assert.deepEqual(decodeJsonObject(bytes(line), limits), { ok: true, value: expected });
  assert.deepEqual(decodeJsonObject(line, limits), { ok: true, value: expected });
});

Deno.test("decodeJsonObject() rejects invalid UTF-8", () => {
  const bad = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
  assert.deepEqual(decodeJsonObject(bad, limits), { ok: false, reason: "invalid UTF-8" });
});

Deno.test("decodeJsonObject() accepts multi-byte UTF-8 text", () => {
  const result = decodeJsonObject(bytes('{"city":"Zürich ✓"}'), limits);
  assert.deepEqual(result, { ok: true, value: { city: "Zürich ✓" } });
});

Deno.test("decodeJsonObject() rejects input above maxBytes, counting UTF-8 bytes", () => {
  const text = `{"a":"${"é".repeat(600)}"}`; // 608 characters, 1208 bytes
  for (const input of [text, bytes(text)]) {
    const result = decodeJsonObject(input, limits);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, "message too large: 1208 bytes (max 1024)");
  }
});

Deno.test("decodeJsonObject() rejects invalid JSON with the parser's reason", () => {
  const result = decodeJsonObject('{"event_id": "e1",', limits);
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.reason : "", /^invalid JSON: /);
});

Deno.test("decodeJsonObject() rejects arrays, strings, numbers and null", () => {
  for (const text of ['[{"event_id":"e1"}]', '"text"', "42", "null", "true"]) {
    assert.deepEqual(decodeJsonObject(text, limits), { ok: false, reason: "not a JSON object" });
  }
});

Deno.test("decodeJsonObject() enforces the nesting depth, ignoring brackets in strings", () => {
  assert.equal(decodeJsonObject('{"a":{"b":{"c":[1]}}}', limits).ok, true); // depth 4
  assert.deepEqual(decodeJsonObject('{"a":{"b":{"c":[[1]]}}}', limits), {
    ok: false,
    reason: "nesting deeper than 4 levels",
  });
  assert.equal(decodeJsonObject('{"a":"[[[[[{{{{{\\"[[["}', limits).ok, true);
});

Deno.test("decodeJsonObject() detects integers beyond 2^53 instead of rounding them", () => {
  assert.deepEqual(decodeJsonObject('{"order_id":12345678901234567890}', limits), {
    ok: false,
    reason: "number beyond 2^53 in order_id",
    field: "order_id",
  });
  assert.equal(decodeJsonObject('{"n":-9007199254740993}', limits).ok, false);
  // The largest safe integer, long decimals and exponents are fine.
  const fine = decodeJsonObject(
    '{"a":9007199254740991,"b":0.12345678901234567,"c":1e300,"d":"12345678901234567890"}',
    limits,
  );
  assert.equal(fine.ok, true);
});

Deno.test("decodeJsonObject() rejects prototype keys, even behind escapes", () => {
  for (const key of ["__proto__", "constructor", "prototype", "\\u005f_proto__"]) {
    const result = decodeJsonObject(`{"event_id":"e1","nested":{"${key}":{"x":1}}}`, limits);
    assert.equal(result.ok, false, key);
    assert.match(
      !result.ok ? result.reason : "",
      /^forbidden key (__proto__|constructor|prototype)$/,
    );
  }
  const top = decodeJsonObject('{"__proto__":{"polluted":true}}', limits);
  assert.deepEqual(top, { ok: false, reason: "forbidden key __proto__", field: "__proto__" });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("missingRequired() reports absent, null and empty keys in order", () => {
  const value = { event_id: "e1", order_id: null, customer_customer_id: "", extra: 0 };
  assert.deepEqual(
    missingRequired(value, ["event_id", "order_id", "customer_customer_id", "event_time"]),
    ["order_id", "customer_customer_id", "event_time"],
  );
  assert.deepEqual(missingRequired({ event_id: 0, flag: false }, ["event_id", "flag"]), []);
  assert.deepEqual(missingRequired({}, ["toString"]), ["toString"]);
});
