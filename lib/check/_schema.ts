/**
 * The live database schema against the one the pipeline writes (lib/db/_schema.ts): what
 * would make a write fail or change its meaning is a problem, a harmless drift a note. Pure.
 */
import type { PipelineConfig } from "../config/mod.ts";
import type { SchemaColumn, SchemaSnapshot } from "../db/mod.ts";

export interface Finding {
  readonly level: "ok" | "note" | "problem";
  /** What was checked: "config", "model", "database", "topic", ... */
  readonly area: string;
  readonly text: string;
}

const problem = (text: string): Finding => ({ level: "problem", area: "database", text });
const note = (text: string): Finding => ({ level: "note", area: "database", text });

function varcharLength(type: string): number | undefined {
  const m = /^varchar\((\d+)\)$/.exec(type);
  return m ? Number(m[1]) : undefined;
}

/** Problems and notes, one per difference; empty when the schemas agree. */
export function compareSchemas(
  expected: SchemaSnapshot,
  live: SchemaSnapshot,
  fields: PipelineConfig["events"]["fields"],
): Finding[] {
  const findings: Finding[] = [];
  const liveTables = new Set(live.tables);
  const liveColumn = new Map(live.columns.map((c) => [`${c.table}.${c.name}`, c]));
  for (const table of expected.tables) {
    if (!liveTables.has(table)) {
      findings.push(problem(`table ${table} is missing: the pipeline writes it`));
      continue;
    }
    const wanted = expected.columns.filter((c) => c.table === table);
    for (const want of wanted) {
      const have = liveColumn.get(`${table}.${want.name}`);
      if (!have) findings.push(problem(`${table}.${want.name} is missing: the pipeline writes it`));
      else findings.push(...compareColumn(want, have, fields));
    }
    const names = new Set(wanted.map((c) => c.name));
    for (const extra of live.columns.filter((c) => c.table === table && !names.has(c.name))) {
      if (!extra.nullable && !extra.hasDefault) {
        findings.push(
          problem(
            `${table}.${extra.name} (${extra.type}) is NOT NULL without a default and not ` +
              "written by the pipeline: every insert into the table would fail",
          ),
        );
      }
    }
  }
  for (const fk of expected.foreignKeys) {
    if (!liveTables.has(fk.table) || !liveTables.has(fk.refTable)) continue;
    const found = live.foreignKeys.some((k) =>
      k.table === fk.table && k.refTable === fk.refTable &&
      k.columns.join() === fk.columns.join() && k.refColumns.join() === fk.refColumns.join()
    );
    if (!found) {
      findings.push(
        problem(
          `foreign key ${fk.name} (${fk.table}.${fk.columns.join(",")} -> ` +
            `${fk.refTable}.${fk.refColumns.join(",")}) is missing: rows could lose their parent`,
        ),
      );
    }
  }
  return findings;
}

function compareColumn(
  want: SchemaColumn,
  have: SchemaColumn,
  fields: PipelineConfig["events"]["fields"],
): Finding[] {
  const at = `${want.table}.${want.name}`;
  const findings: Finding[] = [];
  const field = Object.hasOwn(fields, want.name) ? fields[want.name] : undefined;
  if (want.type !== have.type) {
    const wantLength = varcharLength(want.type);
    const haveLength = varcharLength(have.type);
    if (wantLength !== undefined && haveLength !== undefined) {
      if (haveLength > wantLength) {
        findings.push(
          note(`${at} is ${have.type}, wider than the ${want.type} the pipeline writes`),
        );
      } else if (field?.type === "string" && (field.maxLength ?? Infinity) <= haveLength) {
        findings.push(
          note(
            `${at} is ${have.type}, narrower than the ${want.type} of the migrations, but ` +
              `events.fields.${want.name}.max_length (${field.maxLength}) fits it`,
          ),
        );
      } else {
        const allowed = field?.type === "string"
          ? `events.fields.${want.name}.max_length allows ${field.maxLength ?? "any length"}`
          : `the pipeline writes up to ${wantLength} characters`;
        findings.push(
          problem(
            `${at} is ${have.type}, the pipeline writes ${want.type} (${allowed}): longer ` +
              `values would be refused by the database and their events dead-lettered; restore ` +
              `${want.type} or lower the limit`,
          ),
        );
      }
    } else {
      findings.push(problem(`${at} is ${have.type}, the pipeline writes ${want.type}`));
    }
  }
  if (want.nullable && !have.nullable) {
    findings.push(problem(`${at} is NOT NULL, but the pipeline writes NULL into it`));
  }
  if (want.collation && have.collation !== want.collation) {
    findings.push(
      problem(
        `${at} has collation ${have.collation ?? "none"}, the pipeline needs ${want.collation}: ` +
          'identifiers must compare byte for byte ("A1", "a1" and "a1 " are three events)',
      ),
    );
  } else if (!want.collation && have.charset && have.charset !== "utf8mb4") {
    findings.push(
      problem(
        `${at} has character set ${have.charset}: text outside it would be refused (use utf8mb4)`,
      ),
    );
  }
  return findings;
}
