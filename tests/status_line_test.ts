import assert from "assert";
import {
  LiveLine,
  Progress,
  RateWindow,
  renderStatus,
  StatusLine,
  truncate,
} from "../lib/log/mod.ts";

const CLEAR = "\r\x1b[K";

Deno.test("renderStatus() shows applied of known, rate, lag, ETA and dead letters", () => {
  const line = renderStatus(
    { applied: 12_345, lag: 37_655, rate: 2_500, deadLetters: 3 },
    200,
  );
  assert.equal(
    line,
    "[######..................]  25% 12,345 of 50,000 applied, 2,500 msg/s, lag 37,655, " +
      "ETA 16s, 3 dead letters",
  );
});

Deno.test("renderStatus() says what it does not know yet, and when it has caught up", () => {
  assert.equal(
    renderStatus({ applied: 0, lag: undefined, rate: undefined, deadLetters: 0 }, 200),
    "0 applied, ? msg/s, lag ?, ETA ?, 0 dead letters",
  );
  assert.equal(
    renderStatus({ applied: 10, lag: 5, rate: 0, deadLetters: 1 }, 200),
    "[################........]  67% 10 of 15 applied, 0 msg/s, lag 5, ETA ?, 1 dead letter",
  );
  assert.equal(
    renderStatus({ applied: 900, lag: 0, rate: 12.4, deadLetters: 0 }, 200),
    "[########################] 100% 900 of 900 applied, 12 msg/s, lag 0, caught up, " +
      "0 dead letters",
  );
  assert.match(
    renderStatus({ applied: 1, lag: 7_200_000, rate: 1000, deadLetters: 0 }, 200),
    /ETA 2h00m/,
  );
});

Deno.test("renderStatus() fits the terminal: the bar goes first, then the text is cut", () => {
  const state = { applied: 12_345, lag: 37_655, rate: 2_500, deadLetters: 3 };
  const full = renderStatus(state, 1000);
  for (let columns = 0; columns <= full.length + 2; columns++) {
    const line = renderStatus(state, columns);
    assert.ok(line.length <= Math.max(columns - 1, 0), `${columns} columns: ${line}`);
  }
  const narrow = renderStatus(state, 80);
  assert.ok(!narrow.startsWith("["), "no room for the bar at 80 columns");
  assert.ok(narrow.startsWith("12,345 of 50,000 applied"));
  assert.equal(renderStatus(state, full.length + 1), full);
});

Deno.test("RateWindow gives the rate over the last window, not since the start", () => {
  const window = new RateWindow(10_000);
  assert.equal(window.rate(), undefined);
  window.add(0, 0);
  assert.equal(window.rate(), undefined);
  // 1,000 events/s for 20 s, then 100 events/s for 20 s.
  let total = 0;
  for (let t = 1000; t <= 20_000; t += 1000) window.add(t, total += 1000);
  assert.equal(window.rate(), 1000);
  for (let t = 21_000; t <= 40_000; t += 1000) window.add(t, total += 100);
  assert.equal(window.rate(), 100, "the fast start no longer counts");
  // A window never shorter than asked: one sample before its start is kept.
  window.add(40_500, total += 500);
  assert.equal(window.rate(), (10 * 100 + 500) / 10.5);
  assert.throws(() => new RateWindow(0), /rate window must be > 0 ms, got 0/);
});

Deno.test("RateWindow keeps memory bounded under many samples", () => {
  const window = new RateWindow(1000);
  for (let t = 0; t < 1_000_000; t++) window.add(t, t * 2);
  assert.equal(window.rate(), 2000);
});

Deno.test("StatusLine redraws in place at most every intervalMs and clears at the end", () => {
  const writes: string[] = [];
  let now = 0;
  const status = new StatusLine({
    terminal: true,
    intervalMs: 250,
    windowMs: 10_000,
    write: (text) => writes.push(text),
    columns: () => 120,
    now: () => now,
  });
  status.update({ applied: 0, lag: 1000, deadLetters: 0 });
  for (now = 10; now <= 1000; now += 10) {
    status.update({ applied: now, lag: 1000 - now, deadLetters: 0 });
  }
  // Drawn at 0, 250, 500, 750 and 1000 ms: 101 updates, 5 redraws.
  assert.equal(writes.length, 5);
  for (const w of writes) {
    assert.ok(w.startsWith(CLEAR), JSON.stringify(w));
    assert.ok(!w.includes("\n"));
    assert.ok(w.length - CLEAR.length <= 119);
  }
  assert.equal(
    writes.at(-1),
    `${CLEAR}[########################] 100% 1,000 of 1,000 applied, 1,000 msg/s, lag 0, ` +
      "caught up, 0 dead letters",
  );
  status.message("Joined group");
  assert.deepEqual(writes.slice(-2), [CLEAR, "Joined group\n"]);
  status.finish();
  status.finish();
  assert.equal(writes.length, 7, "nothing to clear after a message");
  now += 1000;
  status.update({ applied: 1000, lag: 0, deadLetters: 0 });
  status.finish();
  assert.equal(writes.at(-1), CLEAR);
});

Deno.test("StatusLine writes nothing off a terminal but still passes messages on", () => {
  const writes: string[] = [];
  const status = new StatusLine({ terminal: false, write: (text) => writes.push(text) });
  status.update({ applied: 5, lag: 5, deadLetters: 0 });
  status.finish();
  assert.deepEqual(writes, []);
  status.message("hello");
  assert.deepEqual(writes, ["hello\n"]);
});

Deno.test("LiveLine cuts to one column less than the terminal, by code points", () => {
  const writes: string[] = [];
  let columns = 10;
  const line = new LiveLine({ write: (t) => writes.push(t), columns: () => columns });
  line.draw("abcdefghijklmnop");
  assert.equal(writes.at(-1), `${CLEAR}abcdefghi`);
  columns = 4; // the terminal was resized
  line.draw("😀😀😀😀");
  assert.equal(writes.at(-1), `${CLEAR}😀😀😀`);
  assert.equal(truncate("ab", 5), "ab");
  assert.equal(truncate("abc", 0), "");
});

Deno.test("Progress draws its bar through the same line writer, cut to the terminal", () => {
  const writes: string[] = [];
  const progress = new Progress({
    totalBytes: 1000,
    terminal: true,
    intervalMs: 0,
    write: (t) => writes.push(t),
    columns: () => 40,
  });
  progress.update({ lines: 10, bytes: 500, sent: 10, skipped: 0 });
  assert.equal(writes.length, 1);
  assert.equal(writes[0], `${CLEAR}[############............]  50% 10 line`);
  progress.finish();
  assert.equal(writes.at(-1), CLEAR);
});
