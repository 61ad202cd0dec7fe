/** Rewrites README.md's configuration reference from the config spec: deno task docs */
import { configReference, replaceSection } from "../lib/config/mod.ts";

const path = new URL("../README.md", import.meta.url).pathname;
await Deno.writeTextFile(
  path,
  replaceSection(await Deno.readTextFile(path), "config-reference", configReference()),
);
// The table is padded as deno fmt --check expects it.
const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).output();
if (!fmt.success) throw new Error(`Cannot format ${path}: ${new TextDecoder().decode(fmt.stderr)}`);
console.error("README.md: configuration reference written");
