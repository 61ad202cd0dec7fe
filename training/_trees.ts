/**
 * Gradient-boosted decision trees for the return classifier (log loss, second-order steps,
 * histogram splits), exported as ai.onnx.ml TreeEnsembleRegressor + Sigmoid.
 *
 * Thresholds are float32 values taken from the (float32) training inputs, and a row goes left
 * when x <= threshold: onnxruntime compares the same float32 numbers, so a row takes the same
 * path in training and in serving.
 */
import { binaryClassifierModel } from "../lib/model/onnx/mod.ts";

/** One tree node: a leaf value, or a split on `feature` at `threshold`. */
export type TreeNode =
  | { readonly value: number }
  | {
    readonly feature: number;
    readonly threshold: number;
    readonly left: TreeNode;
    readonly right: TreeNode;
  };

/** A boosted ensemble: logit = base + sum of the trees' leaf values. */
export interface TreeEnsemble {
  readonly base: number;
  readonly trees: readonly TreeNode[];
}

/** Hyper-parameters of fitBoostedTrees. */
export interface BoostingOptions {
  readonly rows: number;
  readonly cols: number;
  readonly trees: number;
  readonly depth: number;
  readonly learningRate: number;
  /** L2 penalty on leaf values (the lambda of second-order boosting). */
  readonly l2: number;
  /** Candidate thresholds per column (quantiles of the training values). */
  readonly bins?: number;
  /** Smallest sum of hessians allowed in a child. */
  readonly minChildWeight?: number;
}

/** Fits the ensemble; deterministic (no sampling). `x` holds float32 values, row-major. */
export function fitBoostedTrees(
  x: Float32Array,
  y: ArrayLike<number>,
  options: BoostingOptions,
): TreeEnsemble {
  const { rows, cols, depth, learningRate, l2 } = options;
  const minChild = options.minChildWeight ?? 5;
  const thresholds = candidateThresholds(x, rows, cols, options.bins ?? 64);
  // Bin b of a value means thresholds[b-1] < x <= thresholds[b]; the last bin is above all.
  const bins = new Uint8Array(rows * cols);
  for (let c = 0; c < cols; c++) {
    const t = thresholds[c];
    for (let r = 0; r < rows; r++) {
      const v = x[r * cols + c];
      let lo = 0;
      let hi = t.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v <= t[mid]) hi = mid;
        else lo = mid + 1;
      }
      bins[r * cols + c] = lo;
    }
  }
  let positives = 0;
  for (let r = 0; r < rows; r++) positives += y[r] ? 1 : 0;
  const rate = Math.min(Math.max(positives / rows, 1e-6), 1 - 1e-6);
  const base = Math.log(rate / (1 - rate));
  const logit = new Float64Array(rows).fill(base);
  const g = new Float64Array(rows);
  const h = new Float64Array(rows);
  const trees: TreeNode[] = [];
  const histG = new Float64Array(256);
  const histH = new Float64Array(256);

  const grow = (members: Uint32Array, level: number): TreeNode => {
    let sumG = 0;
    let sumH = 0;
    for (const r of members) {
      sumG += g[r];
      sumH += h[r];
    }
    // Leaf values are stored as float32 in ONNX: training adds the same rounded values.
    const leaf = { value: Math.fround((-sumG / (sumH + l2)) * learningRate) };
    if (level === depth || members.length < 2) return leaf;
    const parent = (sumG * sumG) / (sumH + l2);
    let best = 1e-9;
    let bestFeature = -1;
    let bestBin = -1;
    for (let c = 0; c < cols; c++) {
      const n = thresholds[c].length;
      if (n === 0) continue;
      histG.fill(0, 0, n + 1);
      histH.fill(0, 0, n + 1);
      for (const r of members) {
        const b = bins[r * cols + c];
        histG[b] += g[r];
        histH[b] += h[r];
      }
      let leftG = 0;
      let leftH = 0;
      for (let b = 0; b < n; b++) {
        leftG += histG[b];
        leftH += histH[b];
        const rightG = sumG - leftG;
        const rightH = sumH - leftH;
        if (leftH < minChild || rightH < minChild) continue;
        const gain = (leftG * leftG) / (leftH + l2) + (rightG * rightG) / (rightH + l2) - parent;
        if (gain > best) {
          best = gain;
          bestFeature = c;
          bestBin = b;
        }
      }
    }
    if (bestFeature < 0) return leaf;
    const left: number[] = [];
    const right: number[] = [];
    for (const r of members) (bins[r * cols + bestFeature] <= bestBin ? left : right).push(r);
    return {
      feature: bestFeature,
      threshold: thresholds[bestFeature][bestBin],
      left: grow(Uint32Array.from(left), level + 1),
      right: grow(Uint32Array.from(right), level + 1),
    };
  };

  const everyone = Uint32Array.from({ length: rows }, (_, i) => i);
  for (let t = 0; t < options.trees; t++) {
    for (let r = 0; r < rows; r++) {
      const p = 1 / (1 + Math.exp(-logit[r]));
      g[r] = p - (y[r] ? 1 : 0);
      h[r] = p * (1 - p);
    }
    const tree = grow(everyone, 0);
    trees.push(tree);
    for (let r = 0; r < rows; r++) logit[r] += leafOf(tree, x, r * cols);
  }
  return { base: Math.fround(base), trees };
}

/** Up to `bins` distinct float32 quantiles of each column, below its largest value. */
function candidateThresholds(
  x: Float32Array,
  rows: number,
  cols: number,
  bins: number,
): Float32Array[] {
  const out: Float32Array[] = [];
  const column = new Float32Array(rows);
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++) column[r] = x[r * cols + c];
    column.sort();
    const max = column[rows - 1];
    const picked = new Set<number>();
    for (let q = 1; q < bins; q++) {
      const v = column[Math.floor((q * rows) / bins)];
      if (v < max) picked.add(v);
    }
    // 255 thresholds at most, so that a bin index fits in a byte.
    out.push(Float32Array.from([...picked].sort((a, b) => a - b).slice(0, 255)));
  }
  return out;
}

function leafOf(tree: TreeNode, x: ArrayLike<number>, offset: number): number {
  let node = tree;
  while (!("value" in node)) {
    node = x[offset + node.feature] <= node.threshold ? node.left : node.right;
  }
  return node.value;
}

/** The probability the ensemble gives one row, computed in float64 (for checks). */
export function ensembleProbability(model: TreeEnsemble, row: ArrayLike<number>): number {
  let s = model.base;
  for (const tree of model.trees) s += leafOf(tree, row, 0);
  return 1 / (1 + Math.exp(-s));
}

/** Number of splits of the ensemble (its size). */
export function splitCount(model: TreeEnsemble): number {
  const count = (n: TreeNode): number => "value" in n ? 0 : 1 + count(n.left) + count(n.right);
  return model.trees.reduce((sum, t) => sum + count(t), 0);
}

/**
 * The ONNX graph of an ensemble: float32 input `[N, D]` -> TreeEnsembleRegressor (sum of
 * leaves + base) -> Cast to float64 -> Sigmoid -> `[N, 2]` probabilities, the returned class
 * in column `returnedColumn`. A regressor plus Sigmoid states the binary case plainly,
 * where TreeEnsembleClassifier's two-class conventions vary between runtimes.
 */
export function ensembleOnnx(model: TreeEnsemble, options: {
  input: string;
  output: string;
  returnedColumn: 0 | 1;
  cols: number;
  docString?: string;
  metadata?: Record<string, string>;
}): Uint8Array {
  const n = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    features: [] as number[],
    values: [] as number[],
    modes: [] as string[],
    trueIds: [] as number[],
    falseIds: [] as number[],
  };
  const leaves = { treeIds: [] as number[], nodeIds: [] as number[], weights: [] as number[] };
  for (const [treeId, tree] of model.trees.entries()) {
    let next = 0;
    const visit = (node: TreeNode): number => {
      const id = next++;
      const at = n.treeIds.length;
      n.treeIds.push(treeId);
      n.nodeIds.push(id);
      if ("value" in node) {
        n.features.push(0);
        n.values.push(0);
        n.modes.push("LEAF");
        n.trueIds.push(0);
        n.falseIds.push(0);
        leaves.treeIds.push(treeId);
        leaves.nodeIds.push(id);
        leaves.weights.push(node.value);
        return id;
      }
      n.features.push(node.feature);
      n.values.push(node.threshold);
      n.modes.push("BRANCH_LEQ");
      n.trueIds.push(0);
      n.falseIds.push(0);
      n.trueIds[at] = visit(node.left);
      n.falseIds[at] = visit(node.right);
      return id;
    };
    visit(tree);
  }
  return binaryClassifierModel({
    ...options,
    inputType: "float32",
    opsets: { "": 17, "ai.onnx.ml": 3 },
    initializers: [],
    body: [
      {
        op: "TreeEnsembleRegressor",
        domain: "ai.onnx.ml",
        inputs: [options.input],
        outputs: ["logit32"],
        attrs: {
          n_targets: { int: 1 },
          aggregate_function: { string: "SUM" },
          post_transform: { string: "NONE" },
          base_values: { floats: [model.base] },
          nodes_treeids: { ints: n.treeIds },
          nodes_nodeids: { ints: n.nodeIds },
          nodes_featureids: { ints: n.features },
          nodes_values: { floats: n.values },
          nodes_modes: { strings: n.modes },
          nodes_truenodeids: { ints: n.trueIds },
          nodes_falsenodeids: { ints: n.falseIds },
          target_treeids: { ints: leaves.treeIds },
          target_nodeids: { ints: leaves.nodeIds },
          target_ids: { ints: leaves.treeIds.map(() => 0) },
          target_weights: { floats: leaves.weights },
        },
      },
      { op: "Cast", inputs: ["logit32"], outputs: ["logit"], attrs: { to: { int: 11 } } },
    ],
  });
}
