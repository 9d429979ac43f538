/**
 * Pairwise OKS (formula in reference/pairwise-oks.ts): one invocation per (image, pose, person) output, which
 * walks the K keypoints itself. The composed version materialised five [N, L, P, K] intermediates (differences,
 * squared distances, scaled, exponentiated, weighted); this reads each input once per output and writes only
 * [N, L, P]. No tiling: the P people of an image are a few dozen rows that every pose of the image reads, so
 * they stay in cache; adjacent invocations are adjacent people of one pose.
 */
import type { DeviceInfo, Program } from '../program.js';
import type { PairwiseOksDims } from '../reference/pairwise-oks.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

/** Bindings: poses, people, visible, area, valid, kappa, out. */
export function pairwiseOksKernel({ batch, poses, people, keypoints }: PairwiseOksDims, device: DeviceInfo): Program {
  const n = batch * poses * people;
  const code = `
struct Params { n: u32, poses: u32, people: u32, keypoints: u32 }
${['poses', 'people', 'visible', 'area', 'valid', 'kappa'].map((name, k) => storage(k, name, 'float32')).join('\n')}
${storage(6, 'out', 'float32', true)}
${uniform(7)}
${kernel1d('p.n', `
  let person = i % p.people;
  let image = i / (p.poses * p.people);
  let row = image * p.people + person;
  if (valid[row] == 0.0) {
    out[i] = -1.0;
    continue;
  }
  let pose = (i / p.people) * p.keypoints * 2u;
  var similarity = 0.0;
  var labelled = 0.0;
  for (var k = 0u; k < p.keypoints; k++) {
    let dx = poses[pose + 2u * k] - people[(row * p.keypoints + k) * 2u];
    let dy = poses[pose + 2u * k + 1u] - people[(row * p.keypoints + k) * 2u + 1u];
    let v = visible[row * p.keypoints + k];
    similarity += v * exp(-((dx * dx + dy * dy) / (area[row] * kappa[k])));
    labelled += v;
  }
  out[i] = similarity / max(labelled, 1.0);`)}`;
  return { label: 'pairwiseOks', code, params: new ParamWriter().u32(n, poses, people, keypoints).finish(), workgroups: gridStride1d(n, device) };
}
