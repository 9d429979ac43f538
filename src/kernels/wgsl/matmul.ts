/**
 * Batched matrix product C[b] = op(A[b]) · op(B[b]), op = optional transpose.
 *
 * Tiling: each 16×16 workgroup owns a 64×64 tile of C; each invocation accumulates a 4×4 block of it in
 * registers. The K dimension is walked 16 at a time: the workgroup stages a 64×16 slab of A and a 16×64 slab
 * of B in workgroup memory (8 KiB, inside lavapipe's 16 KiB), then every invocation reads 4 values of A and 4
 * of B per k step for 16 multiply-adds. Bounds are checked on load, so any M, N, K works.
 */
import type { MatmulDims } from '../reference/matmul.js';
import { ParamWriter } from './common.js';

const TILE = 64;
const TK = 16;

export function matmulKernel(d: MatmulDims) {
  const params = new ParamWriter().u32(d.m, d.n, d.k).finish();
  // Element (row, col) of op(A) and op(B) within one batch.
  const aAt = d.transA ? '(col) * p.m + (row)' : '(row) * p.k + (col)';
  const bAt = d.transB ? '(col) * p.k + (row)' : '(row) * p.n + (col)';
  const code = `
struct Params { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> tileA: array<array<f32, ${TILE}>, ${TK}>;  // [k][m]
var<workgroup> tileB: array<array<f32, ${TILE}>, ${TK}>;  // [k][n]

fn loadA(base: u32, row: u32, col: u32) -> f32 {
  if (row >= p.m || col >= p.k) { return 0.0; }
  return a[base + ${aAt}];
}
fn loadB(base: u32, row: u32, col: u32) -> f32 {
  if (row >= p.k || col >= p.n) { return 0.0; }
  return b[base + ${bAt}];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let batch = wid.z;
  let aBase = batch * p.m * p.k;
  let bBase = batch * p.k * p.n;
  let row0 = wid.y * ${TILE}u;
  let col0 = wid.x * ${TILE}u;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += ${TK}u) {
    // 256 invocations load 64×16 = 1024 values of each operand: 4 apiece.
    for (var t = 0u; t < 4u; t++) {
      let e = li + t * 256u;
      let kk = e % ${TK}u;
      let mm = e / ${TK}u;
      tileA[kk][mm] = loadA(aBase, row0 + mm, k0 + kk);
      let nn = e % ${TILE}u;
      let kb = e / ${TILE}u;
      tileB[kb][nn] = loadB(bBase, k0 + kb, col0 + nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var r = 0u; r < 4u; r++) {
        av[r] = tileA[kk][lid.y + r * 16u];
        bv[r] = tileB[kk][lid.x + r * 16u];
      }
      for (var r = 0u; r < 4u; r++) {
        for (var s = 0u; s < 4u; s++) { acc[r][s] += av[r] * bv[s]; }
      }
    }
    workgroupBarrier();
  }
  let cBase = batch * p.m * p.n;
  for (var r = 0u; r < 4u; r++) {
    let row = row0 + lid.y + r * 16u;
    for (var s = 0u; s < 4u; s++) {
      let col = col0 + lid.x + s * 16u;
      if (row < p.m && col < p.n) { c[cBase + row * p.n + col] = acc[r][s]; }
    }
  }
}`;
  return { code, params, workgroups: [Math.ceil(d.n / TILE), Math.ceil(d.m / TILE), d.batch] as [number, number, number] };
}
