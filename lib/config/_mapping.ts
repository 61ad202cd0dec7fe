/**
 * The model mapping's own consistency (model.inputs against events.fields), checked at load.
 * What needs the model file (its inputs, shapes and outputs) is checked when it is loaded.
 */
import type { SpecConfig } from "./_pipeline_spec.ts";
import type { Report } from "./_checks.ts";

type Feature = SpecConfig["model"]["inputs"][number]["features"][number];

const numericTypes = ["integer", "number", "boolean"];

type Inputs = SpecConfig["model"]["inputs"];

/** The live model's mapping and, when there is one, the shadow model's. */
export function checkMapping(config: SpecConfig, report: Report): void {
  checkInputs(config.model.inputs, ["model"], config.events.fields, report);
  const { shadow } = config.model;
  if (shadow) checkInputs(shadow.inputs, ["model", "shadow"], config.events.fields, report);
}

function checkInputs(
  inputs: Inputs,
  section: readonly string[],
  fields: SpecConfig["events"]["fields"],
  report: Report,
): void {
  const where = section.join(".");
  for (const [i, input] of inputs.entries()) {
    for (const [j, feature] of input.features.entries()) {
      const at = [...section, "inputs", i, "features", j];
      const field = Object.hasOwn(fields, feature.field) ? fields[feature.field] : undefined;
      if (!field) {
        report([...at, "field"], `"${feature.field}" is not declared under events.fields`);
        continue;
      }
      const { encode } = feature;
      const stringTensor = input.type === "string";
      if (stringTensor !== (encode === "string")) {
        report(
          [...at, "encode"],
          stringTensor
            ? `a ${input.type} input takes encode: string`
            : `encode: string needs an input of type string, not ${input.type}`,
        );
      }
      const scaled = typeof encode === "object" && "scale" in encode;
      if ((encode === "number" || scaled) && !numericTypes.includes(field.type)) {
        report([...at, "encode"], `field "${feature.field}" is a ${field.type}, not numeric`);
      }
      if (input.type === "int64") {
        if (scaled) {
          report([...at, "encode"], "an int64 input cannot take scaled (fractional) values");
        } else if (encode === "number" && field.type === "number") {
          report(
            [...at, "encode"],
            `field "${feature.field}" is a number; an int64 input takes integer or boolean fields`,
          );
        }
      }
      const missing = missingProblem(feature, input.type);
      if (missing) report([...at, "missing"], missing);
      if (typeof encode === "object" && "oneHot" in encode) {
        for (const [k, value] of encode.oneHot.entries()) {
          if (encode.oneHot.indexOf(value) !== k) {
            report([...at, "encode", "one_hot", k], `"${value}" is listed twice`);
          }
        }
      }
    }
  }
  const names = inputs.map((input) => input.name);
  for (const [i, name] of names.entries()) {
    if (names.indexOf(name) !== i) {
      report(
        [...section, "inputs", i, "name"],
        `model input "${name}" is listed more than once under ${where}.inputs`,
      );
    }
  }
}

/** A `missing` value the feature's encoding cannot turn into a tensor value. */
function missingProblem(feature: Feature, tensor: string): string | undefined {
  const { missing, encode } = feature;
  if (missing === undefined || typeof missing === "boolean") return undefined;
  if (encode === "string" || typeof encode === "object" && "oneHot" in encode) return undefined;
  if (typeof missing !== "number") return "expected a number or true/false for a numeric encoding";
  if (tensor === "int64" && encode === "number" && !Number.isInteger(missing)) {
    return "expected an integer for an int64 input";
  }
  return undefined;
}
