import assert from "assert";
import { configReference, readSection } from "../lib/config/mod.ts";
import { repoRoot } from "./_helpers.ts";

const readme = await Deno.readTextFile(`${repoRoot}/README.md`);

/** Table rows as trimmed cells: deno fmt pads markdown tables, which changes no content. */
function cells(table: string): string[][] {
  return table.split("\n").filter((line) => line.startsWith("|")).map((line) =>
    line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/^-+$/, "-"))
  );
}

Deno.test("README's configuration reference is the one the config spec generates", () => {
  assert.deepEqual(
    cells(readSection(readme, "config-reference")),
    cells(configReference()),
    "README.md is out of date: run deno task docs",
  );
});

Deno.test("the guide's §8.2 query appears verbatim in README", () => {
  assert.ok(readme.includes(
    "SELECT event_id, order_id, customer_customer_id, return_proba\nFROM table_predictions\n" +
      "ORDER BY event_id DESC\nLIMIT 10;",
  ));
});
