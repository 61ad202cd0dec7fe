/** Integration tests call ensureServices() first: Kafka and MariaDB answer afterwards. */
import { loadConfig } from "../lib/config/mod.ts";
import { servicesUp } from "../dev/services/mod.ts";
import { repoConfigPath } from "./_helpers.ts";

const ready = new Map<string, Promise<void>>();

/**
 * Does what `deno task services up` does (reuse what answers, start what is missing), once
 * per test process and config file.
 */
export function ensureServices(configPath: string = repoConfigPath): Promise<void> {
  let promise = ready.get(configPath);
  if (!promise) {
    promise = loadConfig(configPath).then((config) => servicesUp(config));
    ready.set(configPath, promise);
  }
  return promise;
}
