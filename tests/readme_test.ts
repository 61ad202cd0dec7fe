import assert from "assert";
import { configReference, readSection } from "../lib/config/mod.ts";
import { dirname, join } from "node:path";
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

/** Lines outside fenced code blocks, with inline code blanked out (links there are examples). */
function proseLines(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line.replace(/`[^`]*`/g, (code) => " ".repeat(code.length));
  });
}

/** GitHub's anchors for a document's headings: text lowercased, punctuation dropped, spaces -. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!heading) continue;
    const text = heading[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link's text only
      .replace(/<[^>]+>/g, "")
      .toLowerCase();
    const base = text.replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "").replaceAll(" ", "-");
    // Repeated headings get -1, -2, ... as on GitHub.
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

Deno.test("headingAnchors() makes GitHub's slugs", () => {
  const anchors = headingAnchors(
    [
      "# Order events → Kafka → MySQL, with scores",
      "### Docker: compose.yaml",
      "### `deno task demo`",
      "## Troubleshooting (the guide's §9)",
      "```",
      "# not a heading",
      "```",
      "## Notes",
      "## Notes",
    ].join("\n"),
  );
  assert.deepEqual([...anchors], [
    "order-events--kafka--mysql-with-scores",
    "docker-composeyaml",
    "deno-task-demo",
    "troubleshooting-the-guides-9",
    "notes",
    "notes-1",
  ]);
});

Deno.test("every relative link in README.md and docs/*.md reaches a file and a heading", async () => {
  const files = ["README.md"];
  for await (const entry of Deno.readDir(`${repoRoot}/docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) files.push(`docs/${entry.name}`);
  }
  const broken: string[] = [];
  for (const file of files.sort()) {
    const text = await Deno.readTextFile(`${repoRoot}/${file}`);
    proseLines(text).forEach((line, index) => {
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split("#", 2);
        const where = `${file}:${index + 1}: ${target}`;
        const resolved = path ? join(dirname(`${repoRoot}/${file}`), path) : `${repoRoot}/${file}`;
        let linked: string;
        try {
          linked = Deno.statSync(resolved).isFile ? Deno.readTextFileSync(resolved) : "";
        } catch {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor !== undefined && !headingAnchors(linked).has(anchor)) {
          broken.push(`${where}: no heading makes #${anchor}`);
        }
      }
    });
  }
  assert.deepEqual(broken, []);
});
