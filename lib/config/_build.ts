/**
 * The typed build: walks the YAML tree along the spec, checks every value, fills in defaults
 * and renames keys to camelCase, giving exactly the value the spec's type (ConfigOf) promises.
 */
import { isMap, isScalar, isSeq, type Node, type Scalar } from "yaml";
import { camelCase, expectedOf, type Spec } from "./_spec.ts";
import { pipelineSpec, type SpecConfig } from "./_pipeline_spec.ts";
import { type Env, interpolate, scalarValue } from "./_interpolate.ts";
import { maskUrl } from "./_resolve.ts";
import { type ConfigProblem, joinKey, type YamlText } from "./_yaml.ts";

/**
 * The values of pipeline.yaml read from `yaml`, or undefined when any problem was found; every
 * problem is pushed to `problems`.
 */
export function buildConfig(
  yaml: YamlText,
  env: Env,
  problems: ConfigProblem[],
): SpecConfig | undefined {
  const before = problems.length;
  const value = new Builder(yaml, env, problems).check(pipelineSpec, yaml.root, "");
  // The walk yields the shape ConfigOf describes; tests/config_test.ts reads it back.
  return problems.length === before ? value as SpecConfig : undefined;
}

class Builder {
  constructor(
    private yaml: YamlText,
    private env: Env,
    private problems: ConfigProblem[],
  ) {}

  private fail(node: Node | null | undefined, path: string, message: string): undefined {
    this.problems.push({ path, ...this.yaml.position(node), message });
    return undefined;
  }

  check(spec: Spec, node: Node | null, path: string): unknown {
    if (node === null || (isScalar(node) && node.value === null)) {
      // An optional section left empty (`shadow:`) is absent, not a section of defaults.
      if (spec.kind === "object") {
        return spec.optional ? undefined : this.checkObject(spec, null, path);
      }
      return this.fail(node, path, `missing value, expected ${expectedOf(spec)}`);
    }
    switch (spec.kind) {
      case "object":
        return this.checkObject(spec, node, path);
      case "map": {
        if (!isMap(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
        const out: Record<string, unknown> = {};
        for (const pair of node.items) {
          const key = String((pair.key as Node)?.toJSON?.() ?? pair.key);
          if (spec.key && !spec.key.test(key)) {
            this.fail(
              pair.key as Node,
              joinKey(path, key),
              `invalid name "${key}" (use snake_case)`,
            );
            continue;
          }
          // Map keys are user data (event field names): kept as written.
          out[key] = this.check(spec.of, pair.value as Node | null, joinKey(path, key));
        }
        return out;
      }
      case "list": {
        if (!isSeq(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
        if (spec.minItems && node.items.length < spec.minItems) {
          return this.fail(node, path, `expected at least ${spec.minItems} item(s)`);
        }
        return node.items.map((item, i) => this.check(spec.of, item as Node, `${path}[${i}]`));
      }
      case "union": {
        const value = isScalar(node) ? this.scalarValue(node, path) : node.toJSON();
        if (value === undefined && isScalar(node)) return undefined;
        const index = spec.pick(value);
        if (index === undefined) return this.fail(node, path, `expected ${spec.expected}`);
        return this.check(spec.options[index], node, path);
      }
      default:
        return this.checkScalar(spec, node, path);
    }
  }

  private checkObject(
    spec: Extract<Spec, { kind: "object" }>,
    node: Node | null,
    path: string,
  ): Record<string, unknown> | undefined {
    if (node !== null && !isMap(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
    const out: Record<string, unknown> = {};
    const seen = new Map<string, Node | null>();
    for (const pair of node?.items ?? []) {
      const key = String((pair.key as Node)?.toJSON?.() ?? pair.key);
      if (!(key in spec.fields)) {
        const known = Object.keys(spec.fields).join(", ");
        this.fail(pair.key as Node, joinKey(path, key), `unknown key (expected one of: ${known})`);
        continue;
      }
      seen.set(key, pair.value as Node | null);
    }
    for (const [key, sub] of Object.entries(spec.fields)) {
      const subPath = joinKey(path, key);
      const name = camelCase(key);
      if (seen.has(key)) {
        out[name] = this.check(sub, seen.get(key)!, subPath);
      } else if ("default" in sub && sub.default !== undefined) {
        out[name] = structuredClone(sub.default);
      } else if ((sub.kind === "object" || sub.kind === "map") && !sub.optional) {
        out[name] = sub.kind === "object" ? this.checkObject(sub, null, subPath) : {};
      } else if (!sub.optional) {
        this.fail(node, subPath, `missing key, expected ${expectedOf(sub)}`);
      }
    }
    return out;
  }

  /** A scalar's value after ${VAR} interpolation; undefined if a variable is unset. */
  private scalarValue(node: Node, path: string): unknown {
    const result = scalarValue(node, this.env);
    if ("value" in result) return result.value;
    return this.unset(node, path, result.missing);
  }

  private unset(node: Node, path: string, name: string): undefined {
    return this.fail(
      node,
      path,
      `environment variable ${name} is not set (set it, or write \${${name}:-default})`,
    );
  }

  /**
   * A secret as written (`password: 0123` is "0123", not the number 123), after ${VAR}
   * interpolation, whose result is never read as YAML. No message shows its value.
   */
  private secretValue(node: Scalar, path: string): string | undefined {
    const text = typeof node.value === "string" ? node.value : node.source;
    if (typeof text !== "string") return this.fail(node, path, "expected a string");
    const result = interpolate(text, this.env);
    if ("missing" in result) return this.unset(node, path, result.missing);
    return result.value || this.fail(node, path, "must not be empty");
  }

  private checkScalar(spec: Spec, node: Node, path: string): unknown {
    if (!isScalar(node)) return this.fail(node, path, `expected ${expectedOf(spec)}`);
    if (spec.kind === "string" && spec.secret) return this.secretValue(node, path);
    const value = this.scalarValue(node, path);
    if (value === undefined) return undefined;
    const bad = () => this.fail(node, path, `expected ${expectedOf(spec)}, got ${show(value)}`);
    switch (spec.kind) {
      case "string":
        if (typeof value !== "string") return bad();
        if (!value && !spec.allowEmpty) return this.fail(node, path, "must not be empty");
        if (spec.enum && !spec.enum.includes(value)) return bad();
        return value;
      case "url":
        return typeof value === "string" ? this.checkUrl(spec, value, node, path) : bad();
      case "integer":
      case "number": {
        if (typeof value !== "number" || Number.isNaN(value)) return bad();
        if (spec.kind === "integer" && !Number.isSafeInteger(value)) return bad();
        if (spec.min !== undefined && value < spec.min) return bad();
        if (spec.max !== undefined && value > spec.max) return bad();
        return value;
      }
      case "boolean":
        return typeof value === "boolean" ? value : bad();
      default:
        return bad();
    }
  }

  private checkUrl(
    spec: Extract<Spec, { kind: "url" }>,
    value: string,
    node: Node,
    path: string,
  ): string | undefined {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      // Reported below, like a URL of another scheme.
    }
    if (!url || !spec.protocols.includes(url.protocol)) {
      // The password must not reach a log, even from a URL that was rejected.
      return this.fail(node, path, `expected ${expectedOf(spec)}, got "${maskUrl(value)}"`);
    }
    if (!url.hostname) return this.fail(node, path, "URL has no host");
    if (url.pathname.length <= 1) {
      return this.fail(node, path, "URL has no database name (add /name at the end)");
    }
    return value;
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : String(value);
}
