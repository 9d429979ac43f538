/**
 * A model summary, as `smpr info` prints it: parameter elements per part (trainable, frozen, buffers), the
 * authors' counts beside them where the config is one of their architectures, and every pyramid level's map at
 * an input size. Level sizes come from the config's arithmetic (levelShapes), which the model tests check
 * against the network's own outputs, so no forward pass is needed.
 */
import { FrozenBatchNorm2d } from '../nn/norm.js';
import type { Module } from '../nn/module.js';
import { levelShapes } from './config.js';
import { authorsParameters, type ParameterBreakdown, type SmprModel } from './model.js';

export interface PartCount {
  /** All parameter elements, as PyTorch's sum(p.numel() for p in parameters()). */
  parameters: number;
  trainable: number;
  frozen: number;
  /** BN running means and variances. */
  buffers: number;
}

export interface LevelSummary {
  name: string;
  stride: number;
  /** The neck's feature map [C, H, W] for one image. */
  features: [number, number, number];
  locations: number;
}

export interface ModelSummary {
  config: string;
  input: [number, number];
  parts: Record<'backbone' | 'neck' | 'head' | 'total', PartCount>;
  /** The authors' parameter counts for this architecture, or null when it is not one of theirs. */
  authors: ParameterBreakdown | null;
  /** BN layers: PyTorch's state dict also holds one num_batches_tracked element per BN, not counted above. */
  batchNorms: number;
  levels: LevelSummary[];
  /** The heatmap branch's output [K, H, W] on P3 (training only). */
  heatmap: [number, number, number];
}

function partCount(m: Module): PartCount {
  const { parameters, trainable, buffers } = m.parameterCount();
  return { parameters, trainable, frozen: parameters - trainable, buffers };
}

export function modelSummary(model: SmprModel, height: number, width: number): ModelSummary {
  const { config } = model;
  const shapes = levelShapes(config, height, width);
  const levels = config.levels.map((level, i): LevelSummary => {
    const [h, w] = shapes[i];
    return { name: `P${Math.log2(level.stride)}`, stride: level.stride, features: [config.width, h, w], locations: h * w };
  });
  return {
    config: config.name,
    input: [height, width],
    parts: { backbone: partCount(model.backbone), neck: partCount(model.neck), head: partCount(model.head), total: partCount(model) },
    authors: authorsParameters(config),
    batchNorms: [...model.namedModules()].filter(([, m]) => m instanceof FrozenBatchNorm2d).length,
    levels,
    heatmap: [config.keypoints.names.length, shapes[0][0], shapes[0][1]],
  };
}

const n = (v: number): string => v.toLocaleString('en-US');

/** The summary as aligned text tables. */
export function formatModelSummary(s: ModelSummary): string {
  const table = (rows: string[][]): string[] => {
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
  };
  const parts = ['backbone', 'neck', 'head', 'total'] as const;
  const header = ['', 'parameters', 'trainable', 'frozen', 'buffers', ...(s.authors ? ["authors'"] : [])];
  const partRows = parts.map((p) => {
    const c = s.parts[p];
    return [p, n(c.parameters), n(c.trainable), n(c.frozen), n(c.buffers), ...(s.authors ? [n(s.authors[p])] : [])];
  });
  const [k, hh, hw] = s.heatmap;
  const levelRows = [
    ['level', 'stride', 'features', 'locations'],
    ...s.levels.map((l) => [l.name, String(l.stride), l.features.join('×'), n(l.locations)]),
    ['all', '', '', n(s.levels.reduce((a, l) => a + l.locations, 0))],
  ];
  const match = s.authors && parts.every((p) => s.authors![p] === s.parts[p].parameters);
  return [
    `${s.config}, input ${s.input[0]}×${s.input[1]}`,
    '',
    ...table([header, ...partRows]),
    `(buffers: BN running statistics; a PyTorch state dict adds one num_batches_tracked per BN, ${s.batchNorms} here` +
      (s.authors ? `; authors': worked out from their architecture, ${match ? 'equal part by part' : 'DIFFERENT'})` : ')'),
    '',
    ...table(levelRows),
    `per level: cls 1, initial pose 34, refined pose 34, pose score 1 channels; heatmap ${k}×${hh}×${hw} on P3 in training`,
  ].join('\n');
}
