/**
 * Why the runtime records many dispatches per command buffer: the same chain of small elementwise ops,
 * submitted after every op (what a naive engine does) and in batches of increasing size. On a device that
 * executes on its own thread (lavapipe, real GPUs) moderate batches also let the GPU start while JavaScript
 * is still recording the rest, so the best batch is not always "everything at once".
 */
import { add, mul, tidy, zeros } from '../src/index.js';
import { webgpu } from '../src/tensor/engine.js';
import { timeGpu, withBaseline, type BenchRow } from './report.js';

export async function batchingSuite(options: { ops: number; elements: number; batchSizes: number[] }): Promise<BenchRow[]> {
  const rt = webgpu();
  const x = zeros([options.elements], { device: 'webgpu' });
  const chain = () => tidy(() => {
    let y = x;
    for (let i = 0; i < options.ops / 2; i++) y = mul(add(y, 1), 0.5);
  });
  const saved = rt.maxDispatchesPerSubmit;
  const rows: BenchRow[] = [];
  let perOp = 0;
  for (const size of [1, ...options.batchSizes]) {
    rt.maxDispatchesPerSubmit = size;
    const ms = await timeGpu(chain);
    if (size === 1) perOp = ms;
    const row = { suite: 'batching', name: `${options.ops} ops × ${options.elements} floats, ${size === 1 ? 'one submit per op' : `${size} dispatches per submit`}`, ms };
    rows.push(withBaseline(row, 'one submit per op', size === 1 ? null : perOp));
  }
  rt.maxDispatchesPerSubmit = saved;
  x.dispose();
  return rows;
}
