/**
 * conv2d's three passes on WebGPU, each one launch of a GEMM program (kernels/wgsl/conv2d.ts says how a
 * convolution is a GEMM); the weight gradient's split-K partials are summed by one more reduction.
 */
import { gpuDevice, launch } from '../backend/launch.js';
import { specialisedProgram } from '../backend/program-cache.js';
import { emptyGpu, webgpuBackend } from '../backend/webgpu-backend.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { forwardOperands, forwardShape, inputGradOperands, inputGradShape, weightGradOperands, weightGradShape } from '../kernels/wgsl/conv2d.js';
import { chooseTile, gemmKernel, gemmTarget, type GemmOperands, type GemmShape, type GemmTarget, type GemmTile } from '../kernels/wgsl/gemm.js';
import type { Program, ProgramForm } from '../kernels/program.js';
import type { Tensor } from '../tensor/tensor.js';
import { view } from './shape.js';

/** How a pass picks its tile: `canSplit` when its C may be split along k. */
export type TileChooser = (shape: GemmShape, canSplit: boolean) => GemmTile;

/** The chooser for a target: tests pass one to force a schedule, benchmarks a fixed tile to compare tiles. */
export const tilesFor = (target: GemmTarget): TileChooser => (shape, canSplit) => chooseTile(shape, canSplit, target);

/**
 * The program of a pass in both forms (kernels/wgsl/conv2d.ts): the general one for a shape's first uses, the one
 * with the geometry written in from the SPECIALISE_AFTER-th on (program-cache.ts).
 */
function passProgram(key: string, operands: (form: ProgramForm) => GemmOperands, shape: GemmShape, tile: GemmTile): Program {
  return specialisedProgram(gpuDevice(), key, () => gemmKernel(operands('general'), shape, tile), () => gemmKernel(operands('specialised'), shape, tile));
}

/** The cache key of a pass: everything of the geometry, the tile and the epilogue (bias, ReLU) that its WGSL depends on. */
function passKey(pass: string, g: ConvGeometry, t: GemmTile, bias = false, relu = false): string {
  const geometry = [g.batch, g.inChannels, g.height, g.width, g.outChannels, g.kernelH, g.kernelW, g.outH, g.outW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.groups];
  return `conv2d ${pass}|${geometry.join(',')}|${t.staging},${t.wx},${t.wy},${t.rm},${t.rn},${t.tk},${t.splits}|${bias ? 'bias' : ''}${relu ? '+relu' : ''}`;
}

const deviceTiles: TileChooser = (shape, canSplit) => chooseTile(shape, canSplit, gemmTarget(gpuDevice()));

/** The forward pass, relu(conv2d(x, w) + bias) when `relu`. */
export function conv2dForwardGpu(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, relu = false, tiles = deviceTiles): Tensor {
  const y = emptyGpu([g.batch, g.outChannels, g.outH, g.outW], x.dtype, relu ? 'conv2dRelu' : 'conv2d');
  const shape = forwardShape(g);
  const tile = tiles(shape, false);
  const program = passProgram(passKey('forward', g, tile, bias !== null, relu), (form) => forwardOperands(g, bias !== null, relu, form), shape, tile);
  launch(program, bias ? [x, weight, bias, y] : [x, weight, y]);
  return y;
}

export function conv2dInputGradGpu(dy: Tensor, weight: Tensor, g: ConvGeometry, tiles = deviceTiles): Tensor {
  const dx = emptyGpu([g.batch, g.inChannels, g.height, g.width], dy.dtype, 'conv2d input grad');
  const shape = inputGradShape(g);
  const tile = tiles(shape, false);
  launch(passProgram(passKey('input grad', g, tile), (form) => inputGradOperands(g, form), shape, tile), [dy, weight, dx]);
  return dx;
}

export function conv2dWeightGradGpu(dy: Tensor, x: Tensor, g: ConvGeometry, tiles = deviceTiles): Tensor {
  const shape = weightGradShape(g);
  const tile = tiles(shape, true);
  const wShape = [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW];
  const size = g.outChannels * shape.n;
  const out = emptyGpu(tile.splits > 1 ? [tile.splits, size] : wShape, dy.dtype, 'conv2d weight grad');
  launch(passProgram(passKey('weight grad', g, tile), (form) => weightGradOperands(g, form), shape, tile), [dy, x, out]);
  if (tile.splits === 1) return out;
  const summed = webgpuBackend.reduce('sum', out, 0);
  out.dispose();
  const dw = view(summed, wShape);
  summed.dispose();
  return dw;
}
