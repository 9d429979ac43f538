/**
 * The one GEMM template: C[z] = A[z] · B[z] with A M×K, B K×N, for z over a batch. Matmul and the three conv2d
 * kernels (forward, input gradient, weight gradient; all implicit GEMMs, no im2col buffer) are instances of it:
 * an instance only says, in WGSL, how one element of A and of B is fetched and where one element of C goes.
 *
 * Every invocation accumulates an RM×RN block of C in registers; per step of k it needs RM values of A and RN of
 * B for RM·RN multiply-adds. The schedule decides who fetches those values:
 *   'workgroup' (GPUs) — WX×WY invocations own a (WY·RM)×(WX·RN) tile. k is walked TK at a time: the workgroup
 *       stages a slab of A and of B in workgroup memory, each element fetched once, then every invocation reads
 *       its fragments there as vec4s. An invocation's rows are quads of 4 adjacent rows, the quads of
 *       neighbouring invocations adjacent (likewise columns), so that neighbours read neighbouring words. TK is
 *       sized from the adapter's workgroup storage limit.
 *   'subgroup' (CPU adapters: lavapipe) — there a workgroup runs as SIMD lanes, and every memory access, to
 *       workgroup memory or not, costs one scalar load per lane plus a branch, while arithmetic runs SIMD-wide.
 *       Staging through workgroup memory would add accesses, not save them. Instead a workgroup is one subgroup of
 *       L lanes owning RM rows × L·RN columns: the RM values of A that all lanes need are fetched once, spread
 *       over the lanes (RM/L each), and handed to every lane with subgroupBroadcast, a register shuffle; each
 *       lane fetches only the RN values of B that are its own (columns lane + c·L). On lavapipe this runs
 *       2–3× faster than the best workgroup-memory tiling we measured there.
 * Split-K: z runs over batch × splits; split s reduces k in [s·kChunk, (s+1)·kChunk) and stores its partial C at
 * batch index s·batch + z. Only instances whose C is laid out canonically ((z·M + row)·N + col) can split: the
 * partials then form a [splits, batch·M·N] tensor that one sum over its first axis turns into C.
 * Rows and columns past M or N are clamped on load (their results are never stored), so instances handle only
 * padding of their own (conv borders) and never see an out-of-range row, column or k.
 */
import type { DeviceInfo, Program } from '../program.js';
import { ParamWriter } from './common.js';

export interface GemmShape {
  batch: number;
  m: number;
  n: number;
  k: number;
}

/** An instance of the template: WGSL bodies for the three functions the schedule calls. */
export interface GemmOperands {
  label: string;
  /** Storage buffers in binding order; the last `written` (default 1) are written (C, or the split-K partials). */
  buffers: string[];
  written?: number;
  /** Module-scope WGSL the functions use (constants, helpers). */
  decls?: string;
  /** More u32 fields of the `Params` uniform, after the template's own, with their values. */
  params?: readonly (readonly [name: string, value: number])[];
  /** WGSL run first in `main` (filling private variables from those params). */
  setup?: string;
  /** Body of `fn loadA(z: u32, row: u32, k: u32) -> f32`. */
  loadA: string;
  /** Body of `fn loadB(z: u32, k: u32, col: u32) -> f32`. */
  loadB: string;
  /** Body of `fn storeC(z: u32, row: u32, col: u32, v: f32)`; z counts splits × batch. */
  storeC: string;
  /** storeC writes C[z][row][col] at (z·M + row)·N + col, so that split-K partials can be summed. */
  canonicalC: boolean;
}

export interface GemmTile {
  staging: 'workgroup' | 'subgroup';
  /** Invocations per workgroup along columns and rows ('subgroup': the lanes, and 1). */
  wx: number;
  wy: number;
  rm: number;
  rn: number;
  /** k per workgroup-memory slab ('workgroup' staging; 1 otherwise). */
  tk: number;
  splits: number;
}

/** What the tile choice depends on: `gemmTarget(device)`, or a target of their own where tests force a schedule. */
export interface GemmTarget {
  /** A CPU adapter: memory accesses cost per SIMD lane. */
  cpu: boolean;
  /** The device has the WGSL `subgroups` extension. */
  subgroups: boolean;
  /** Its smallest subgroup size: the lanes of one 'subgroup' workgroup. */
  lanes: number;
  maxWorkgroupStorage: number;
  maxInvocations: number;
  /** 'subgroup': the most accumulators per invocation (RM·RN); 128 unless given. */
  maxBlock?: number;
}

/**
 * SwiftShader (Chromium's software adapter) compiles a 128-accumulator block in 6–10 s: the first step of
 * training the tiny SMPR, 123 pipelines, took 150 s there, against 2–3 s on lavapipe. With at most 64 it took 8 s,
 * and the kernels ran as fast or faster (later steps 2.2 s against 2.8 s; inference 123–152 ms against
 * 130–140 ms), so SwiftShader gets 64; lavapipe keeps 128.
 */
const SWIFTSHADER_MAX_BLOCK = 64;

export function gemmTarget(device: DeviceInfo): GemmTarget {
  return {
    cpu: device.cpu,
    subgroups: device.subgroups && device.lanes > 0,
    lanes: device.lanes,
    maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize,
    maxInvocations: device.limits.maxComputeInvocationsPerWorkgroup,
    maxBlock: device.architecture === 'swiftshader' ? SWIFTSHADER_MAX_BLOCK : 128,
  };
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const pow2ceil = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/**
 * Picks the schedule and tile for a shape; `canSplit`: the instance writes C canonically.
 *
 * 'subgroup' (CPU adapters with subgroups): among blocks of up to `maxBlock` accumulators (128: bigger ones
 * compile for seconds on lavapipe; 64 on SwiftShader, above), the cheapest by a cost model measured on lavapipe —
 * one per-invocation load costs about 12 SIMD multiply-adds, a broadcast about one — counting the work wasted where M and N end inside a tile.
 * 'workgroup': 16×16 invocations (fewer along a skinny M, more along N); 8×8 blocks (128×128 tiles) when the
 * storage limit is at least 32 KiB and the shape is big, else 4×4; TK as large as fits in half the storage,
 * leaving room for a second resident workgroup.
 * Both: K is split when the output tiles cannot keep the device busy and K is long (kSplits).
 */
export function chooseTile(shape: GemmShape, canSplit: boolean, target: GemmTarget): GemmTile {
  const { m, n } = shape;
  let tile: GemmTile;
  if (target.cpu && target.subgroups) {
    const lanes = target.lanes;
    const maxBlock = target.maxBlock ?? 128;
    let best = { cost: Infinity, rm: 1, rn: 1 };
    for (const rm of [1, 2, 4, 8, 16, 32]) {
      for (const rn of [1, 2, 4, 8]) {
        if (rm * rn > maxBlock) continue;
        const tiles = ceilDiv(m, rm) * ceilDiv(n, lanes * rn);
        const cost = tiles * (12 * (ceilDiv(rm, lanes) + rn) + rm + rm * rn);
        if (cost < best.cost) best = { cost, rm, rn };
      }
    }
    tile = { staging: 'subgroup', wx: lanes, wy: 1, rm: best.rm, rn: best.rn, tk: 1, splits: 1 };
  } else {
    const big = target.maxWorkgroupStorage >= 32768 && m >= 128 && n >= 128;
    const r = big ? 8 : 4;
    const side = Math.min(16, 2 ** Math.floor(Math.log2(Math.sqrt(target.maxInvocations))));
    const wy = Math.min(side, pow2ceil(ceilDiv(m, r)));
    const wx = Math.min((side * side) / wy, Math.max(side, pow2ceil(ceilDiv(n, r))));
    const bytesPerK = 4 * (wy + wx) * r;
    const tk = [32, 16, 8, 4].find((t) => t * bytesPerK <= target.maxWorkgroupStorage / 2) ?? 4;
    tile = { staging: 'workgroup', wx, wy, rm: r, rn: r, tk, splits: 1 };
  }
  return canSplit ? { ...tile, splits: kSplits(shape, tile) } : tile;
}

/**
 * How many ways to split k for a tile: enough to keep the device busy (16 workgroups in flight on a CPU adapter,
 * 128 on a GPU) when the output tiles alone cannot, each split keeping at least 256 steps of k so that its
 * partial is worth writing and summing.
 */
export function kSplits(shape: GemmShape, tile: GemmTile): number {
  const busy = tile.staging === 'subgroup' ? 16 : 128;
  const groups = shape.batch * ceilDiv(shape.m, tile.wy * tile.rm) * ceilDiv(shape.n, tile.wx * tile.rn);
  return groups < busy ? Math.max(1, Math.min(ceilDiv(busy, groups), Math.floor(shape.k / 256), 64)) : 1;
}

/** k steps per split, rounded so that split boundaries fall on TK slabs. */
function kChunk(k: number, tile: GemmTile): number {
  return ceilDiv(ceilDiv(k, tile.splits), tile.tk) * tile.tk;
}

const lines = (count: number, f: (i: number) => string) => Array.from({ length: count }, (_, i) => f(i)).join('\n');

/**
 * The WGSL and dispatch of one instance. Past `maxGroupsPerDim` tile columns (WebGPU guarantees 65535 workgroups
 * per grid dimension; a conv over a large batch of large images has more output pixels than that × 64), tile
 * columns wrap onto extra grid rows.
 */
export function gemmKernel(ops: GemmOperands, shape: GemmShape, tile: GemmTile, maxGroupsPerDim = 65535): Program {
  const { wx, wy, rm, rn } = tile;
  const bm = wy * rm;
  const bn = wx * rn;
  const tilesX = ceilDiv(shape.n, bn);
  const fold = ceilDiv(tilesX, maxGroupsPerDim);
  const gridX = ceilDiv(tilesX, fold);
  if (tile.splits > 1 && !ops.canonicalC) throw new Error(`${ops.label}: split-K needs a canonically laid-out C`);
  const subgroup = tile.staging === 'subgroup';
  const firstWritten = ops.buffers.length - (ops.written ?? 1);
  const bindings = ops.buffers.map((name, i) =>
    `@group(0) @binding(${i}) var<storage, ${i >= firstWritten ? 'read_write' : 'read'}> ${name}: array<f32>;`).join('\n');
  // Row r and column c of an invocation's block (r, c: WGSL u32 expressions). 'workgroup' blocks are made of
  // quads of 4 adjacent rows (columns), interleaved over the workgroup so that one vec4 read fetches a quad.
  const row = (r: string) => (subgroup ? `tileRow + ${r}` : `tileRow + (${r}) / 4u * ${4 * wy}u + lid.y * 4u + (${r}) % 4u`);
  const col = (c: string) => (subgroup ? `tileCol + lane + ${c} * ${wx}u` : `tileCol + (${c}) / 4u * ${4 * wx}u + lid.x * 4u + (${c}) % 4u`);
  // The multiply-adds are unrolled (registers need constant indices); loads and stores outside the inner loop
  // are WGSL loops. On lavapipe every memory access expands to a branch per lane, and a loop the compiler
  // unrolls costs seconds of compile time: there ('subgroup') the store loop runs to `p.block` (= RM·RN), a
  // bound it cannot see. GPU compilers ('workgroup') get the constant, unroll, and keep the block in registers.
  const fmas = lines(rm * rn, (i) => `    acc[${i}] = fma(a${Math.floor(i / rn)}, b${i % rn}, acc[${i}]);`);
  const code = `// ${ops.label}: ${tile.staging} schedule, ${bm}×${bn} tile, ${rm}×${rn} per invocation${subgroup ? '' : `, k slabs of ${tile.tk}`}
${subgroup ? 'enable subgroups;\n' : ''}struct Params { m: u32, n: u32, k: u32, kChunk: u32, batch: u32, block: u32${(ops.params ?? []).map(([name]) => `, ${name}: u32`).join('')} }
${bindings}
@group(0) @binding(${ops.buffers.length}) var<uniform> p: Params;
${ops.decls ?? ''}
fn loadA(z: u32, row: u32, k: u32) -> f32 {
${ops.loadA}
}
fn loadB(z: u32, k: u32, col: u32) -> f32 {
${ops.loadB}
}
fn storeC(z: u32, row: u32, col: u32, v: f32) {
${ops.storeC}
}
${subgroup ? '' : `var<workgroup> tileA: array<vec4<f32>, ${(tile.tk * bm) / 4}>;  // [k][row quad]
var<workgroup> tileB: array<vec4<f32>, ${(tile.tk * bn) / 4}>;  // [k][column quad]
`}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, ${subgroup ? '@builtin(subgroup_invocation_id) lane: u32' : `@builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32`}) {${ops.setup ? `\n${ops.setup}` : ''}
  let z = wid.z % p.batch;
  let kBegin = (wid.z / p.batch) * p.kChunk;
  let kEnd = min(p.k, kBegin + p.kChunk);
${fold === 1 ? `  let tileRow = wid.y * ${bm}u;
  let tileCol = wid.x * ${bn}u;` : `  let tileRow = wid.y / ${fold}u * ${bm}u;
  let tileCol = (wid.x + wid.y % ${fold}u * ${gridX}u) * ${bn}u;
  if (tileCol >= p.n) { return; }  // the grid's last row of wrapped tiles may run past N`}
  var acc: array<f32, ${rm * rn}>;
${subgroup ? subgroupLoop(tile, col, fmas) : workgroupLoop(tile, fmas)}
  for (var i = 0u; i < ${subgroup ? 'p.block' : `${rm * rn}u`}; i++) {
    let row = ${row(`(i / ${rn}u)`)};
    let col = ${col(`(i % ${rn}u)`)};
    if (row < p.m && col < p.n) { storeC(wid.z, row, col, acc[i]); }
  }
}`;
  const params = new ParamWriter().u32(shape.m, shape.n, shape.k, kChunk(shape.k, tile), shape.batch, rm * rn, ...(ops.params ?? []).map(([, value]) => value)).finish();
  return { label: ops.label, code, params, workgroups: [gridX, ceilDiv(shape.m, bm) * fold, shape.batch * tile.splits] };
}

function subgroupLoop(tile: GemmTile, col: (c: string) => string, fmas: string): string {
  const lanes = tile.wx;
  const shared = ceilDiv(tile.rm, lanes); // rows of A each lane fetches for the whole subgroup
  return `${lines(shared, (j) => `  let rowIn${j} = min(tileRow + lane + ${j * lanes}u, p.m - 1u);`)}
${lines(tile.rn, (c) => `  let colIn${c} = min(${col(`${c}u`)}, p.n - 1u);`)}
  for (var k = kBegin; k < kEnd; k++) {
${lines(shared, (j) => `    let aLane${j} = loadA(z, rowIn${j}, k);`)}
${lines(tile.rn, (c) => `    let b${c} = loadB(z, k, colIn${c});`)}
${lines(tile.rm, (r) => `    let a${r} = subgroupBroadcast(aLane${Math.floor(r / lanes)}, ${r % lanes}u);`)}
${fmas}
  }`;
}

function workgroupLoop(tile: GemmTile, fmas: string): string {
  const { wx, wy, rm, rn, tk } = tile;
  const bm = wy * rm;
  const bn = wx * rn;
  const threads = wx * wy;
  // Consecutive invocations stage consecutive k of A and consecutive column quads of B: the contiguous directions
  // of row-major operands, so that the loads coalesce. Each stages a whole quad (a partial vec4 write would race).
  const quad = (load: (i: number) => string, valid: (i: number) => string) =>
    `vec4<f32>(${[0, 1, 2, 3].map((i) => `select(0.0, ${load(i)}, ${valid(i)})`).join(',\n        ')})`;
  return `  for (var k0 = kBegin; k0 < kEnd; k0 += ${tk}u) {
    for (var e = li; e < ${(tk * bm) / 4}u; e += ${threads}u) {
      let row = tileRow + e / ${tk}u * 4u;
      let k = k0 + e % ${tk}u;
      tileA[(e % ${tk}u) * ${bm / 4}u + e / ${tk}u] = ${quad(
        (i) => `loadA(z, min(row + ${i}u, p.m - 1u), min(k, p.k - 1u))`, (i) => `row + ${i}u < p.m && k < kEnd`)};
    }
    for (var e = li; e < ${(tk * bn) / 4}u; e += ${threads}u) {
      let col = tileCol + e % ${bn / 4}u * 4u;
      let k = k0 + e / ${bn / 4}u;
      tileB[e] = ${quad((i) => `loadB(z, min(k, p.k - 1u), min(col + ${i}u, p.n - 1u))`, (i) => `col + ${i}u < p.n && k < kEnd`)};
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${tk}u; kk++) {
${lines(rm / 4, (q) => `      let aQuad${q} = tileA[kk * ${bm / 4}u + ${q * wy}u + lid.y];`)}
${lines(rn / 4, (q) => `      let bQuad${q} = tileB[kk * ${bn / 4}u + ${q * wx}u + lid.x];`)}
${lines(rm, (r) => `      let a${r} = aQuad${Math.floor(r / 4)}[${r % 4}];`)}
${lines(rn, (c) => `      let b${c} = bQuad${Math.floor(c / 4)}[${c % 4}];`)}
${fmas.replace(/^ {4}/gm, '      ')}
    }
    workgroupBarrier();
  }`;
}
