import assert from "assert";
import {
  emptyStats,
  generateEvents,
  generateLines,
  OPTIONAL_FIELDS,
  trueReturnProbability,
} from "../dev/generator/mod.ts";

const REQUIRED = ["event_id", "order_id", "customer_customer_id"];
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function cents(value: unknown): number {
  assert.equal(typeof value, "number");
  const c = Math.round((value as number) * 100);
  assert.ok(
    Math.abs(c - (value as number) * 100) < 1e-6,
    `${value} is not a whole number of cents`,
  );
  return c;
}

async function runGenerate(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/generate.ts", ...args],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("generateEvents() is deterministic for a seed and differs across seeds", () => {
  const a = JSON.stringify([...generateEvents({ events: 300, seed: 7 })]);
  const b = JSON.stringify([...generateEvents({ events: 300, seed: 7 })]);
  const c = JSON.stringify([...generateEvents({ events: 300, seed: 8 })]);
  assert.equal(a, b);
  assert.notEqual(a, c);
});

Deno.test("time-ordered ids are version 7 UUIDs that sort as the events' times do", () => {
  const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const events = [...generateEvents({ events: 2000, seed: 9, ids: "time-ordered" })];
  const random = [...generateEvents({ events: 2000, seed: 9 })];
  for (const [i, e] of events.entries()) {
    assert.match(String(e.event_id), UUID_V7);
    assert.match(String(e.order_id), UUID_V7);
    assert.match(String(e.customer_customer_id), UUID_V4, "customers stay random");
    // The first 48 bits are the event's time in milliseconds.
    const ms = parseInt(String(e.event_id).replace("-", "").slice(0, 12), 16);
    assert.equal(ms, Date.parse(String(e.event_time)));
    assert.equal(e.event_time, random[i].event_time, "the rest of the stream is the same");
    if (i > 0) assert.ok(String(e.event_id) > String(events[i - 1].event_id), `${i}`);
  }
  assert.equal(new Set(events.map((e) => e.event_id)).size, events.length);
});

Deno.test("generateEvents() yields complete events whose money adds up in cents", () => {
  const events = [...generateEvents({ events: 2000, seed: 1 })];
  assert.equal(events.length, 2000);
  const ids = new Set<string>();
  let previous = "";
  for (const e of events) {
    for (const key of REQUIRED) assert.match(e[key] as string, UUID_V4, key);
    ids.add(e.event_id as string);
    assert.match(e.event_time as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.ok((e.event_time as string) >= previous, "event times never go back");
    previous = e.event_time as string;
    assert.ok(Number.isInteger(e.order_n_items) && (e.order_n_items as number) >= 1);
    const [basket, shipping, discount, total] = [
      e.order_basket_value,
      e.order_shipping_fee,
      e.order_discount,
      e.order_order_total,
    ].map(cents);
    assert.equal(basket + shipping - discount, total);
    assert.ok(discount <= basket && total >= 0);
    assert.equal(typeof e.order_is_returned, "boolean");
    assert.ok(["mobile", "desktop", "tablet"].includes(e.order_device as string));
    assert.ok(["web", "app", "marketplace"].includes(e.order_channel as string));
    assert.equal(typeof e.customer_country, "string");
  }
  assert.equal(ids.size, 2000, "event ids are unique without --duplicates");
});

Deno.test("generateEvents() has returning customers, each with one country", () => {
  const countries = new Map<string, Set<string>>();
  for (const e of generateEvents({ events: 5000, seed: 3 })) {
    const id = e.customer_customer_id as string;
    if (!countries.has(id)) countries.set(id, new Set());
    countries.get(id)!.add(e.customer_country as string);
  }
  assert.ok(countries.size < 5000 * 0.5, `${countries.size} customers for 5000 orders`);
  for (const set of countries.values()) assert.equal(set.size, 1);
});

Deno.test("returned orders follow trueReturnProbability", () => {
  const events = [...generateEvents({ events: 20000, seed: 5 })];
  const rate = events.filter((e) => e.order_is_returned).length / events.length;
  assert.ok(rate > 0.12 && rate < 0.3, `return rate ${rate}`);
  // Events in the top fifth of true probability are returned far more often than the bottom.
  const sorted = events.map((e) => [trueReturnProbability(e), e.order_is_returned ? 1 : 0])
    .sort((x, y) => x[0] - y[0]);
  const fifth = Math.floor(sorted.length / 5);
  const mean = (rows: number[][]) => rows.reduce((s, r) => s + r[1], 0) / rows.length;
  const low = mean(sorted.slice(0, fifth));
  const high = mean(sorted.slice(-fifth));
  assert.ok(high > 3 * low, `returned: bottom fifth ${low}, top fifth ${high}`);
  const expected = sorted.reduce((s, r) => s + r[0], 0) / sorted.length;
  assert.ok(Math.abs(expected - rate) < 0.02, `expected ${expected}, observed ${rate}`);
});

Deno.test("trueReturnProbability() rises with the discount ratio and is in (0, 1)", () => {
  const base = {
    order_main_category: "fashion",
    order_device: "mobile",
    order_channel: "web",
    order_basket_value: 100,
    order_n_items: 2,
  };
  const none = trueReturnProbability({ ...base, order_discount: 0 });
  const half = trueReturnProbability({ ...base, order_discount: 50 });
  assert.ok(none > 0 && half < 1 && half > none);
  assert.ok(trueReturnProbability({}) > 0 && trueReturnProbability({}) < 1);
});

Deno.test("generateLines() honours duplicate, incomplete and malformed fractions roughly", () => {
  const stats = emptyStats();
  const lines = [
    ...generateLines({
      events: 10000,
      seed: 9,
      duplicates: 0.1,
      missingOptional: 0.2,
      malformed: 0.05,
    }, stats),
  ];
  assert.equal(lines.length, 10000);
  assert.equal(stats.lines, 10000);
  assert.equal(stats.events + stats.duplicates + stats.malformed, 10000);
  const near = (n: number, f: number, total: number) =>
    assert.ok(Math.abs(n / total - f) < 0.02, `${n}/${total} is not near ${f}`);
  near(stats.malformed, 0.05, 10000);
  near(stats.duplicates, 0.1 * 0.95, 10000);
  near(stats.incomplete, 0.2, stats.events);

  let bad = 0, missing = 0;
  const seen = new Map<string, string>();
  let repeats = 0;
  for (const line of lines) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      bad++;
      continue;
    }
    if (Array.isArray(value)) {
      bad++;
      continue;
    }
    const event = value as Record<string, unknown>;
    if (REQUIRED.some((k) => !(k in event))) {
      bad++;
      continue;
    }
    if (OPTIONAL_FIELDS.some((k) => !(k in event))) missing++;
    const id = event.event_id as string;
    if (seen.has(id)) {
      repeats++;
      assert.equal(seen.get(id), line, "a duplicate repeats the same bytes");
    } else seen.set(id, line);
  }
  assert.equal(bad, stats.malformed);
  assert.equal(repeats, stats.duplicates);
  assert.ok(missing >= stats.incomplete, "every incomplete event lacks a field");
});

Deno.test("deno task generate writes byte-identical files for the same seed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await runGenerate(["--events", "500", "--seed", "11", "--out", `${dir}/a.jsonl`]);
    const b = await runGenerate(["--events", "500", "--seed", "11", "--out", `${dir}/b.jsonl`]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const bytesA = await Deno.readFile(`${dir}/a.jsonl`);
    assert.deepEqual(bytesA, await Deno.readFile(`${dir}/b.jsonl`));
    assert.equal(new TextDecoder().decode(bytesA).split("\n").length, 501);
    assert.match(a.stderr, /generated 500 lines .* 500 events, 0 duplicates/);
    assert.match(a.stderr, /returned: \d+\.\d% observed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task generate refuses to overwrite a file without --force (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/events.jsonl`;
    await Deno.writeTextFile(file, "kept\n");
    const refused = await runGenerate(["--events", "5", "--out", file]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(
      refused.stderr.trim().split("\n").filter((l) => l.startsWith("error:")).length,
      1,
      refused.stderr,
    );
    assert.match(
      refused.stderr,
      /^error: Cannot write .*events\.jsonl: the file exists; .*--force/m,
    );
    assert.equal(await Deno.readTextFile(file), "kept\n");
    const forced = await runGenerate(["--events", "5", "--out", file, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await Deno.readTextFile(file)).split("\n").length, 6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task generate rejects a fraction above 1 with exit code 2", async () => {
  const result = await runGenerate(["--malformed", "1.5", "--out", "-"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--malformed expects a fraction between 0 and 1/);
  assert.equal(result.stdout, "");
});

Deno.test("deno task generate --ids time-ordered writes version 7 ids; another kind is exit 2", async () => {
  const ordered = await runGenerate(["--ids", "time-ordered", "--events", "50", "--out", "-"]);
  assert.equal(ordered.code, 0, ordered.stderr);
  const ids = ordered.stdout.trim().split("\n").map((l) => String(JSON.parse(l).event_id));
  assert.equal(ids.length, 50);
  assert.ok(ids.every((id) => id[14] === "7"), ids.join(" "));
  assert.deepEqual(ids, [...ids].sort());
  const bad = await runGenerate(["--ids", "sequential", "--out", "-"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--ids expects random or time-ordered, got "sequential"/);
});

Deno.test("the shipped sample is the seed-42 output of 2000 clean events", async () => {
  const shipped = await Deno.readTextFile(new URL("../data/sample_events.jsonl", import.meta.url));
  const expected = [...generateLines({ events: 2000, seed: 42 })].join("\n") + "\n";
  assert.equal(shipped, expected);
});
