/** Renders the pipeline.yaml reference (README's "Configuration reference") from the spec. */
import { expectedOf, type Spec } from "./_spec.ts";
import { pipelineSpec } from "./_pipeline_spec.ts";

/** Markdown table rows, one per key, in spec order. */
export function configReference(spec: Spec = pipelineSpec): string {
  const rows: string[] = [
    "| key | type | default | description |",
    "|---|---|---|---|",
  ];
  const visit = (s: Spec, path: string) => {
    if (s.kind === "object" && path !== "") {
      if (!s.description || Object.values(s.fields).every((f) => !f.description)) {
        rows.push(row(path, s));
        return;
      }
      // An optional section's own row says that it may be left out.
      if (s.optional) rows.push(row(path, s));
    }
    // A union whose mapping is a set of optional settings (tls) lists them; in the others
    // (encode) the mapping is a shape that the union's own description shows.
    const settings = s.kind === "union" &&
      s.options.find((o) =>
        o.kind === "object" && Object.values(o.fields).every((f) => f.optional || "default" in f)
      );
    if (settings && settings.kind === "object") {
      rows.push(row(path, s));
      for (const [key, sub] of Object.entries(settings.fields)) visit(sub, `${path}.${key}`);
      return;
    }
    if (s.kind === "object") {
      // An optional section says so, and what it is for, before its keys.
      if (s.optional) rows.push(row(path, s));
      for (const [key, sub] of Object.entries(s.fields)) visit(sub, path ? `${path}.${key}` : key);
      return;
    }
    if (s.kind === "map") {
      rows.push(row(path, s));
      if (s.of.kind === "object") {
        for (const [key, sub] of Object.entries(s.of.fields)) visit(sub, `${path}.<name>.${key}`);
      }
      return;
    }
    if (s.kind === "list" && s.of.kind === "object" && Object.keys(s.of.fields).length) {
      rows.push(row(path, s));
      for (const [key, sub] of Object.entries(s.of.fields)) visit(sub, `${path}[].${key}`);
      return;
    }
    rows.push(row(path, s));
  };
  visit(spec, "");
  return rows.join("\n") + "\n";
}

function row(path: string, spec: Spec): string {
  const dflt = "default" in spec && spec.default !== undefined
    ? `\`${JSON.stringify(spec.default)}\``
    : spec.optional
    ? "(optional)"
    : spec.kind === "object" || spec.kind === "map"
    ? ""
    : "(required)";
  const type = expectedOf(spec).replace(/\|/g, "\\|");
  return `| \`${path}\` | ${type} | ${dflt} | ${spec.description.replace(/\|/g, "\\|")} |`;
}

function markers(text: string, name: string): [number, number] {
  const start = `<!-- ${name}:start -->\n`;
  const from = text.indexOf(start);
  const to = text.indexOf(`<!-- ${name}:end -->`, from);
  if (from < 0 || to < 0) throw new Error(`Cannot find the ${name} markers`);
  return [from + start.length, to];
}

/** The text between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export function readSection(text: string, name: string): string {
  const [from, to] = markers(text, name);
  return text.slice(from, to);
}

/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export function replaceSection(text: string, name: string, content: string): string {
  const [from, to] = markers(text, name);
  return text.slice(0, from) + content + text.slice(to);
}
