/** `${VAR}` and `${VAR:-default}` in the values of pipeline.yaml. */
import { isScalar, type Node, parseDocument } from "yaml";

/** Reads one environment variable; undefined when it is not set. */
export type Env = (name: string) => string | undefined;

/** Replaces ${VAR} and ${VAR:-default}; `$$` is a literal `$`. An empty variable counts as unset. */
export function interpolate(text: string, env: Env): { value: string } | { missing: string } {
  let missing: string | undefined;
  const value = text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, name?: string, fallback?: string) => {
      if (match === "$$") return "$";
      const found = env(name!);
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      missing ??= name;
      return "";
    },
  );
  return missing ? { missing } : { value };
}

/**
 * The value of a scalar node after interpolation. A plain (unquoted) scalar that changed is
 * read as YAML would read the substituted text, so `${PARTS:-5}` is the number 5.
 */
export function scalarValue(node: Node, env: Env): { value: unknown } | { missing: string } {
  if (!isScalar(node)) return { value: node.toJSON() };
  if (typeof node.value !== "string") return { value: node.value };
  const result = interpolate(node.value, env);
  if ("missing" in result || result.value === node.value || node.type !== "PLAIN") return result;
  const reparsed = parseDocument(result.value).contents;
  return { value: isScalar(reparsed) && reparsed.value !== null ? reparsed.value : result.value };
}
