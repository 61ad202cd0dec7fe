/** A throw-away database per test. */
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { type Database, openDatabase, type OpenOptions } from "../lib/db/mod.ts";
import { dropDatabase, uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

/** Opens a database of its own (named `<prefix>_...`) for `run` and drops it after. */
export async function withTestDatabase(
  prefix: string,
  run: (db: Database, config: PipelineConfig, name: string) => Promise<void>,
  options: OpenOptions = {},
): Promise<void> {
  await ensureServices();
  const name = uniqueName(prefix);
  const config = await loadConfig(await writeTestConfig({ database: name }));
  const db = await openDatabase(config, options);
  try {
    await run(db, config, name);
  } finally {
    await db.close();
    await dropDatabase(name);
  }
}
