/** Public face of this folder. */
export { uniqueName, writeConfig } from "./_config.ts";
export type { Target } from "./_config.ts";
