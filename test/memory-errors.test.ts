// GPU memory discipline (tidy scopes, pooling, batching) and the errors users see for bad input.
import { describe, expect, test } from 'vitest';
import * as T from '../src/index.js';
import { webgpu } from '../src/tensor/engine.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';
import { MAX_BIND_GROUPS } from '../src/backend/webgpu-runtime.js';
import { expectClose } from './util.js';

describe('memory', () => {
  test('a tidy scope returns bytes and buffers in use to where they started', async () => {
    const w = T.randn([16, 8], { device: 'webgpu', requiresGrad: true });
    const x = T.randn([4, 16], { device: 'webgpu' });
    const step = () => T.tidy(() => {
      const loss = T.mean(T.square(T.relu(T.matmul(x, w))));
      loss.backward();
      return loss;
    });
    const warm = step(); // the first step also allocates w.grad, which outlives the scope
    await warm.toArray();
    warm.dispose();
    const before = T.memory();
    for (let i = 0; i < 5; i++) {
      const loss = step();
      await loss.toArray();
      loss.dispose();
    }
    const after = T.memory();
    expect(after.bytesInUse).toBe(before.bytesInUse);
    expect(after.buffersInUse).toBe(before.buffersInUse);
  });

  // Outside tidy, without a graph, an op's hidden intermediates (reshaped views, broadcasts, the tensor a plain
  // number becomes, the parts of a composite op) must go with it: disposing the inputs and the result frees all.
  const g = { device: 'webgpu' } as const;
  const opsWithoutGraph: Record<string, (r: (shape: number[]) => T.Tensor, own: (t: T.Tensor) => T.Tensor) => T.Tensor> = {
    'matmul': (r) => T.matmul(r([4, 5]), r([5, 6])),
    'matmul, broadcast batch': (r) => T.matmul(r([3, 4, 5]), r([5, 6])),
    'add a number': (r) => T.add(r([4]), 1),
    'a number times': (r) => T.mul(2, r([4])),
    'pow': (r) => T.pow(r([3]), 2),
    'maximum with a number': (r) => T.maximum(r([3]), 0.5),
    'clamp': (r) => T.clamp(r([3]), -0.5, 0.5),
    'where with numbers': (r) => T.where(r([3]), 1, 0),
    'sum': (r) => T.sum(r([2, 3, 4]), [0, 2]),
    'mean': (r) => T.mean(r([2, 3, 4]), 1),
    'max': (r) => T.max(r([2, 3, 4]), [0, 2]),
    'sumTo': (r) => T.sumTo(r([2, 3]), [1, 3]),
    'stack': (r) => T.stack([r([2]), r([2])], 1),
    'concat': (r) => T.concat([r([2, 3]), r([2, 1])], 1),
    'flip': (r) => T.flip(r([2, 3]), [1]),
    'pad': (r) => T.pad(r([1, 2, 2]), [[0, 0], [1, 1], [1, 1]]),
    'conv2d with bias': (r) => T.conv2d(r([1, 2, 5, 5]), r([3, 2, 3, 3]), r([3]), { padding: 1 }),
    'groupNorm': (r) => T.groupNorm(r([1, 4, 3, 3]), 2, r([4]), r([4])),
    'maxPool2d': (r) => T.maxPool2d(r([1, 2, 4, 4]), { kernelSize: 2, stride: 2 }),
    'upsampleBilinear2d': (r) => T.upsampleBilinear2d(r([1, 2, 2, 2]), { size: [4, 4] }),
    'bceWithLogits, weighted': (r) => T.bceWithLogits(r([4]), r([4]), { weight: r([4]) }),
    'l1Loss, weighted': (r) => T.l1Loss(r([4]), r([4]), { weight: r([4]) }),
    'sigmoidFocalLoss, mean': (r) => T.sigmoidFocalLoss(r([4, 3]), r([4, 3]), { reduction: 'mean' }),
    'cast to its own dtype': (r) => T.cast(r([3]), 'float32'),
    'transpose': (r) => T.transpose(r([2, 3])),
    'narrow': (r) => T.narrow(r([4, 2]), 0, 1, 2),
    'indexSelect': (r, own) => T.indexSelect(r([4, 2]), 0, own(T.tensor([3, 0, 3], { ...g, dtype: 'int32' }))),
    'upsampleNearest2d': (r) => T.upsampleNearest2d(r([1, 2, 2, 2]), 2),
    'avgPool2d': (r) => T.avgPool2d(r([1, 2, 4, 4]), { kernelSize: 2, stride: 2 }),
    'deformConv2d': (r) => T.deformConv2d(r([1, 2, 4, 4]), r([1, 18, 4, 4]), r([3, 2, 3, 3]), r([3]), { padding: 1, mask: r([1, 9, 4, 4]) }),
    'clipScale': (r) => T.clipScale([r([3]), r([2, 2])], 1),
  };
  for (const [name, op] of Object.entries(opsWithoutGraph)) {
    test(`${name}, outside tidy and without a graph, frees everything with its inputs and result`, async () => {
      const made: T.Tensor[] = [];
      const own = (t: T.Tensor) => {
        made.push(t);
        return t;
      };
      const settled = T.zeros([1], g);
      await settled.toArray(); // earlier tests' buffers are released at a submit
      settled.dispose();
      const before = T.memory().buffersInUse;
      const out = op((shape) => own(T.rand(shape, g)), own);
      await out.toArray();
      out.dispose();
      for (const t of made) t.dispose();
      expect(T.memory().buffersInUse).toBe(before);
    });
  }

  test('tidy keeps what it returns and what is kept, disposes the rest', () => {
    let inner!: T.Tensor;
    let kept!: T.Tensor;
    const out = T.tidy(() => {
      inner = T.ones([2]);
      kept = T.keep(T.zeros([2]));
      return { result: [T.add(inner, 1)] };
    });
    expect(inner.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(out.result[0].disposed).toBe(false);
  });

  test('dispose frees tensors alone or nested in arrays and plain objects, skips null and undefined, and refuses anything else', () => {
    const [a, b, c, d] = [T.ones([2]), T.ones([2]), T.ones([2]), T.ones([2])];
    T.dispose([a, null, undefined, [b, { c, grad: null }]]);
    T.dispose(d);
    expect([a, b, c, d].map((t) => t.disposed)).toEqual([true, true, true, true]);
    // Both were taken without a word, and freed nothing; keep(3) returned 3 as if it were a tensor.
    const e = T.ones([2]);
    expect(() => T.dispose([e, 3])).toThrow('dispose: expected tensors, alone or in arrays and plain objects, got the number 3 at [1]');
    expect(e.disposed).toBe(false); // refused before anything is freed
    expect(() => T.dispose({ loss: e, parts: [new Map()] })).toThrow('dispose: expected tensors, alone or in arrays and plain objects, got a Map at .parts[0]');
    expect(() => T.dispose('x')).toThrow('dispose: expected tensors, alone or in arrays and plain objects, got the string "x"');
    expect(() => T.keep(3 as unknown as T.Tensor)).toThrow('keep: its argument must be a Tensor, got the number 3');
    expect(() => T.keep(null as unknown as T.Tensor)).toThrow('keep: its argument must be a Tensor, got null');
    T.dispose(e);
  });

  test('a tidy whose function throws disposes what it made, pops its scope and passes the error on', () => {
    let made!: T.Tensor;
    expect(() => T.tidy(() => {
      made = T.ones([2]);
      throw new Error('inside tidy');
    })).toThrow('inside tidy');
    expect(made.disposed).toBe(true);
    // Nested: were the failed inner scope left on the stack, the outer tidy would close that one instead of its
    // own, and what the outer function made before the failure would outlive it.
    let early!: T.Tensor;
    T.tidy(() => {
      early = T.ones([2]);
      try {
        T.tidy(() => {
          T.zeros([2]);
          throw new Error('inner');
        });
      } catch {
        // expected: only the scopes matter here
      }
    });
    expect(early.disposed).toBe(true);
  });

  test('released buffers are reused from the pool after a submit', async () => {
    const rt = webgpu();
    const a = T.zeros([1000], { device: 'webgpu' });
    await a.toArray();
    a.dispose();
    rt.flush();
    const pooled = T.memory().bytesPooled;
    expect(pooled).toBeGreaterThan(0);
    const b = T.zeros([1000], { device: 'webgpu' });
    expect(T.memory().bytesPooled).toBeLessThan(pooled);
    b.dispose();
  });

  test('trim gives the pooled buffers back and leaves those in use', async () => {
    const rt = webgpu();
    const kept = T.ones([256], { device: 'webgpu' });
    const freed = T.ones([1000], { device: 'webgpu' });
    await freed.toArray();
    freed.dispose();
    rt.flush();
    expect(T.memory().bytesPooled).toBeGreaterThan(0);
    const inUse = T.memory().bytesInUse;
    rt.trim();
    expect(T.memory().bytesPooled).toBe(0);
    expect(T.memory().bytesInUse).toBe(inUse);
    expect(Array.from(await kept.toArray()).every((v) => v === 1)).toBe(true);
    kept.dispose();
  });

  test('many ops are recorded into one submit; reading back submits', async () => {
    const x = T.ones([64], { device: 'webgpu' });
    await x.toArray();
    const before = T.memory();
    let y = x;
    for (let i = 0; i < 50; i++) y = T.add(y, 1);
    expect(T.memory().submits).toBe(before.submits);
    expect(T.memory().dispatches - before.dispatches).toBe(50);
    expect((await y.toArray())[0]).toBe(51);
    expect(T.memory().submits).toBe(before.submits + 1);
  });

  test('a training step repeated takes the buffers it took before and makes no new bind group', async () => {
    const random = new T.Random(3);
    const w1 = T.randn([8, 3, 3, 3], { device: 'webgpu', requiresGrad: true, random });
    const w2 = T.randn([8, 8, 3, 3], { device: 'webgpu', requiresGrad: true, random });
    const x = T.randn([2, 3, 12, 12], { device: 'webgpu', random });
    const params = [w1, w2].map((tensor, i) => ({ name: `w${i}`, group: 'weight' as const, tensor }));
    const sgd = new T.SGD(params, { lr: 1e-3, momentum: 0.9 });
    const step = async () => {
      T.tidy(() => {
        const h = T.relu(T.groupNorm(T.conv2d(x, w1, null, { padding: 1 }), 4));
        T.mean(T.square(T.conv2d(h, w2, null, { padding: 1 }))).backward();
        sgd.step(T.clipScale(params.map((p) => p.tensor.grad!), 1));
        sgd.zeroGrad();
      });
      await webgpu().sync();
      return T.memory();
    };
    // From the SPECIALISE_AFTER-th step on, the pooling and gather kernels are their specialised programs (program-cache.ts).
    for (let i = 1; i < SPECIALISE_AFTER; i++) await step();
    const settled = await step();
    expect(settled.bindGroups).toBeGreaterThan(0);
    for (let i = 1; i <= 3; i++) {
      const next = await step();
      expect(next.dispatches).toBeGreaterThan(settled.dispatches);
      expect(next.bindGroups, `step ${SPECIALISE_AFTER + i} made bind groups`).toBe(settled.bindGroups);
    }
    sgd.dispose();
    for (const t of [w1, w2, x]) t.dispose();
  });

  test('backward frees what a fused rule computes for inputs that need no gradient (dx for a constant x)', () => {
    const values = (shape: number[]) => T.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + 1)), shape, { device: 'webgpu' });
    const cases: [string, () => { leaf: T.Tensor; loss: T.Tensor }][] = [
      ['groupNorm, weight only', () => { const w = T.ones([4], { device: 'webgpu', requiresGrad: true }); return { leaf: w, loss: T.sum(T.mul(T.groupNorm(values([2, 4, 3]), 2, w, null), values([2, 4, 3]))) }; }],
      ['deformConv2d, weight only', () => { const w = T.ones([3, 2, 3, 3], { device: 'webgpu', requiresGrad: true }); return { leaf: w, loss: T.sum(T.deformConv2d(values([1, 2, 5, 5]), T.mul(values([1, 18, 3, 3]), 0.5), w)) }; }],
    ];
    for (const [name, make] of cases) {
      const { leaf, loss } = make();
      const before = T.memory().buffersInUse;
      loss.backward();
      // Only the leaf's new .grad is left.
      expect(T.memory().buffersInUse - before, name).toBe(1);
      T.dispose([leaf, leaf.grad!, loss]);
    }
  });

  test('past its bound the bind-group cache starts again, and what it binds after is still right', async () => {
    // A bind group's key holds its uniform slot, and a submit's outputs each get a buffer of their own: 9000 adds
    // of 20 tensors make more distinct keys than the cache keeps.
    const xs = Array.from({ length: 20 }, (_, i) => T.full([4], i, { device: 'webgpu' }));
    let most = 0;
    let wrong = 0;
    for (let i = 0; i < 9000; i++) {
      const [a, b] = [i % 20, Math.floor(i / 20) % 20];
      const y = T.add(xs[a]!, xs[b]!);
      most = Math.max(most, T.memory().bindGroups);
      if (i % 997 === 0 && (await y.toArray())[3] !== a + b) wrong += 1;
      y.dispose();
    }
    expect(most).toBe(MAX_BIND_GROUPS);
    expect(T.memory().bindGroups).toBeLessThan(most);
    expect(wrong).toBe(0);
    T.dispose(xs);
  });

  test('pipelines are compiled once per kernel variant', async () => {
    const x = T.ones([10], { device: 'webgpu' });
    T.exp(x);
    // Counted as compiled, not as kept: past MAX_PIPELINES a compile evicts one, and the number kept stays.
    const before = T.memory().pipelinesCompiled;
    T.exp(T.ones([37], { device: 'webgpu' }));
    expect(T.memory().pipelinesCompiled).toBe(before);
  });

  test("a tensor made from a typed array holds its own copy on both devices: changing the array after leaves it", async () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      for (const values of [Float32Array.of(1, 2, 3), Int32Array.of(1, 2, 3)]) {
        const t = T.tensor(values, { device });
        values[0] = 7;
        expect(Array.from(await t.toArray()), `${device} ${t.dtype}`).toEqual([1, 2, 3]);
        t.dispose();
      }
    }
  });

  test('past its bound the pipeline cache evicts the least recently dispatched, and what runs after is still right', async () => {
    const rt = webgpu();
    const bound = rt.maxPipelines;
    const x = T.tensor([0.25, 0.5, 2], { device: 'webgpu' });
    const ops = [T.exp, T.log, T.sqrt, T.abs, T.sign, T.tanh, T.sigmoid, T.neg];
    const kept = () => T.exp(x);
    try {
      kept().dispose();
      rt.maxPipelines = 2; // below what is cached now: the next compile evicts all but exp's
      const compiled = T.memory().pipelinesCompiled;
      const outputs: T.Tensor[] = [];
      for (const op of ops.slice(1)) {
        outputs.push(op(x), kept());
        expect(T.memory().pipelines).toBeLessThanOrEqual(rt.maxPipelines);
      }
      // exp was dispatched after every other op's compile, so it was never the least recent: compiled once, before.
      expect(T.memory().pipelinesCompiled - compiled).toBe(ops.length - 1);
      outputs.push(T.log(x)); // evicted by the ops after it: compiled again
      expect(T.memory().pipelinesCompiled - compiled).toBe(ops.length);
      const cpu = T.tensor([0.25, 0.5, 2]);
      const expected = [...ops.slice(1).flatMap((op) => [op(cpu), T.exp(cpu)]), T.log(cpu)];
      // The unary kernels' own accuracy is tested against the reference elsewhere (elementwise.test.ts): 1e-6 here.
      for (const [i, y] of outputs.entries()) expectClose(await y.toArray(), expected[i]!.toArraySync(), { atol: 1e-6, rtol: 1e-6 }, `output ${i}`);
      T.dispose(outputs);
    } finally {
      rt.maxPipelines = bound;
      x.dispose();
    }
  });
});

describe('bad input', () => {
  test('broadcasting mismatch names the op and both shapes', () => {
    expect(() => T.add(T.zeros([2, 3]), T.zeros([4]))).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
  });
  test('dtype mismatch', () => {
    expect(() => T.mul(T.zeros([2]), T.zeros([2], { dtype: 'int32' }))).toThrow(/mul: dtypes differ \(float32 and int32\)/);
  });
  test('float-only ops reject integer tensors', () => {
    expect(() => T.exp(T.zeros([2], { dtype: 'int32' }))).toThrow(/exp: needs a floating-point dtype, got int32/);
  });
  test('axis out of range', () => {
    expect(() => T.sum(T.zeros([2, 3]), 2)).toThrow(/sum: axis 2 is out of range for a tensor of rank 2/);
    expect(() => T.permute(T.zeros([2, 3]), [0, 0])).toThrow(/permute: \[0,0\] is not a permutation/);
  });
  test('mixing devices', () => {
    expect(() => T.add(T.zeros([2]), T.zeros([2], { device: 'webgpu' }))).toThrow(/add: all inputs must be on one device; got \[2\] on cpu, \[2\] on webgpu/);
  });
  test('use after dispose', () => {
    const x = T.zeros([2, 2]);
    x.dispose();
    expect(() => T.relu(x)).toThrow(/relu: tensor #\d+ \(full, shape \[2, 2\]\) was already disposed/);
  });
  test('backward through a graph whose intermediates a tidy scope freed names backward and the tensor, not the op inside a rule', () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      const w = T.ones([2], { device, requiresGrad: true });
      // The rule's own error was "mul: tensor #… (exp) was already disposed": an op the user never called.
      const y = T.tidy(() => T.sum(T.exp(w)));
      expect(() => y.backward()).toThrow(/^backward: the gradient of 'exp' needs tensor #\d+ \(exp, shape \[2\]\), which was disposed \(a tidy scope frees the intermediates of a graph made in it: call backward\(\) inside that scope\)$/);
      expect(() => T.tidy(() => T.sum(T.mul(w, 2))).backward()).toThrow(/^backward: the gradient of 'mul' needs tensor #\d+ \(full, shape \[\]\), which was disposed/);
      // A rule's own error is its own, even where some input it does not need was disposed (legal: add's rule needs neither).
      const [a, b] = [T.tensor([1, 2], { device, requiresGrad: true }), T.tensor([3, 4], { device })];
      const y2 = T.groupNorm(T.reshape(T.add(a, b), [1, 2, 1]), 1, null, b);
      b.dispose();
      expect(() => T.grad(T.sum(y2), [a], { createGraph: true })).toThrow(/^groupNorm: double backward is not supported/);
      const inside = T.tidy(() => {
        T.sum(T.exp(w)).backward();
        return w.grad!;
      });
      expect(inside.shape).toEqual([2]);
    }
  });
  test('float64 on webgpu', () => {
    expect(() => T.zeros([2], { device: 'webgpu', dtype: 'float64' })).toThrow(/float64 is not available on the webgpu device/);
  });
  test('reshape to the wrong size', () => {
    expect(() => T.reshape(T.zeros([2, 3]), [4, 2])).toThrow(/reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
  });
  test('matmul inner dimensions', () => {
    expect(() => T.matmul(T.zeros([2, 3]), T.zeros([4, 5]))).toThrow(/matmul: inner dimensions differ/);
  });
  test('backward of a non-scalar without a seed', () => {
    const x = T.zeros([3], { requiresGrad: true });
    expect(() => T.mul(x, 2).backward()).toThrow(/backward: a seed gradient is required for a non-scalar tensor of shape \[3\]/);
  });
  test('a seed of another shape than the tensor', () => {
    // Checked before anything runs: a leaf would otherwise take a [3] gradient for its [2] values without a word.
    const x = T.zeros([2], { requiresGrad: true });
    expect(() => T.mul(x, 2).backward(T.zeros([3]))).toThrow('backward: seed shape [3] does not match tensor shape [2]');
    expect(() => x.backward(T.zeros([3]))).toThrow('backward: seed shape [3] does not match tensor shape [2]');
    expect(x.grad).toBeNull();
  });
  test('max, min and argmax refuse an empty axis (no value to take), as torch.amax does; other axes may be empty', () => {
    const empty = T.zeros([2, 0]);
    for (const op of ['max', 'min', 'argmax'] as const) {
      expect(() => T[op](empty, 1)).toThrow(`${op}: cannot reduce an empty axis of shape [2, 0]`);
    }
    expect(T.max(empty, 0).shape).toEqual([0]);
  });
  test('indexSelect on the CPU refuses an index equal to the axis size (one past the last row)', () => {
    expect(() => T.indexSelect(T.zeros([2, 3]), 1, T.tensor([3], { dtype: 'int32' }))).toThrow('indexSelect: index 3 is out of range for axis 1 of size 3 (shape [2, 3])');
    expect(Array.from(T.indexSelect(T.tensor([[1, 2, 3], [4, 5, 6]]), 1, T.tensor([2], { dtype: 'int32' })).toArraySync())).toEqual([3, 6]);
  });
  test('indexSelect on the GPU, which cannot check its indices without a readback, reads all bits set for one out of range: NaN, −1', async () => {
    const g = { device: 'webgpu' } as const;
    // Rows of the next block (index 3 of rows 0..2 lands on row 0 of the second block) and below the first.
    const index = T.tensor([3, 1, -1], { ...g, dtype: 'int32' });
    const x = T.tensor([[1, 2, 3], [4, 5, 6]], { ...g, requiresGrad: true });
    const picked = T.indexSelect(x, 1, index);
    expect(Array.from(await picked.toArray())).toEqual([NaN, 2, NaN, NaN, 5, NaN]);
    expect(Array.from(await T.indexSelect(T.tensor([[1, 2, 3], [4, 5, 6]], { ...g, dtype: 'int32' }), 1, index).toArray())).toEqual([-1, 2, -1, -1, 5, -1]);
    T.sum(T.mul(picked, T.tensor([0, 1, 0, 0, 1, 0], [2, 3], g))).backward(); // the NaNs times 0 are NaN: take the good column's
    expect(Array.from(await x.grad!.toArray()), 'the gradient drops the indices out of range').toEqual([0, 1, 0, 0, 1, 0]);
  });
  test("a kernel that does not compile is named in the error, not the kernel dispatched before it", async () => {
    const rt = webgpu();
    await T.exp(T.ones([4], { device: 'webgpu' })).toArray(); // a kernel that works, dispatched first
    rt.dispatch({ label: 'not-wgsl', code: 'this is not WGSL' }, { workgroups: [1], buffers: [] });
    await expect(T.zeros([1], { device: 'webgpu' }).toArray()).rejects.toThrow(/^webgpu: kernel "not-wgsl": /);
  });

  test('API misuse names the op or the value instead of failing deep inside or returning garbage', () => {
    expect(() => T.ones([2], { dtype: 'float16' as T.DType })).toThrow("dtype 'float16' is not one of float32, float64, int32, uint32");
    expect(() => T.cast(T.ones([2]), 'bool' as T.DType)).toThrow("dtype 'bool' is not one of float32, float64, int32, uint32");
    expect(() => T.zeros([2], { device: 'cuda' as T.Device })).toThrow("device 'cuda' is not one of cpu, webgpu");
    expect(() => T.tensor(['a', 'b'] as unknown as number[])).toThrow('tensor: values must be numbers in nested arrays, got string "a"');
    expect(() => T.manualSeed(Number.NaN)).toThrow('manualSeed: the seed must be an integer in [0, 2^32), got NaN');
    expect(() => T.slice(T.zeros([2, 4]), [null, [0.5, 2]])).toThrow('slice: range [0.5,2] of dimension 1 must be two integers');
    expect(() => T.narrow(T.zeros([2, 4]), 1, 0, -1)).toThrow('narrow: length must be an integer ≥ 0, got -1');
    expect(() => T.indexSelect(T.zeros([4, 2]), 0, T.tensor([1, 9], { dtype: 'int32' }))).toThrow('indexSelect: index 9 is out of range for axis 0 of size 4 (shape [4, 2])');
    expect(() => T.maxPool2d(T.zeros([1, 1, 4, 4]), { kernel: 2 } as unknown as T.Pool2dOptions)).toThrow('maxPool2d: options.kernelSize is required');
    expect(() => (T.avgPool2d as (x: T.Tensor) => T.Tensor)(T.zeros([1, 1, 4, 4]))).toThrow('avgPool2d: options.kernelSize is required');
    expect(() => T.tensor([1, [2]] as unknown as number[])).toThrow('tensor: ragged nested array (an array at depth 1, numbers at 1)');
    expect(() => T.arange(10, { device: 'cpu' } as unknown as number)).toThrow('arange: start, end and step are numbers; options come fourth');
    expect(() => T.pad(T.zeros([2, 2]), [[0.5, 0]])).toThrow('pad: pads[0] must be a pair [before, after] of integers, got [0.5,0]');
    expect(() => T.pad(T.zeros([2, 2]), [-5, -5] as unknown as [number, number][])).toThrow('pad: pads[0] must be a pair [before, after] of integers, got -5');
    expect(() => T.manualSeed(-1)).toThrow('manualSeed: the seed must be an integer in [0, 2^32), got -1');
    expect(() => T.setDefaultDevice('tpu' as T.Device)).toThrow("device 'tpu' is not one of cpu, webgpu");
  });
  test('broadcastTo refuses a size no tensor has, which broadcasting alone let through (the GPU hung on [-2], the CPU made a [2.5] tensor)', () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      expect(() => T.broadcastTo(T.zeros([1], { device }), [-2])).toThrow('broadcastTo: shape [-2] must hold non-negative integers');
      expect(() => T.broadcastTo(T.zeros([1], { device }), [2.5])).toThrow('broadcastTo: shape [2.5] must hold non-negative integers');
    }
    expect(T.broadcastTo(T.zeros([1]), [0]).shape).toEqual([0]);
  });
  test('concat refuses scalars, as torch.cat does (the CPU returned one scalar, the GPU failed to dispatch); stack joins them', async () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      const [a, b] = [T.tensor([1], { device }), T.tensor([2], { device })].map((t) => T.reshape(t, []));
      expect(() => T.concat([a!, b!])).toThrow('concat: tensor 0 is a scalar (shape []), which has no axis to concatenate along; stack scalars instead');
      expect(Array.from(await T.stack([a!, b!]).toArray())).toEqual([1, 2]);
    }
  });
  test('arange refuses non-finite bounds and more elements than a tensor holds (a [NaN]-shaped tensor, a RangeError, a failed buffer before)', () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      expect(() => T.arange(0, Number.NaN, 1, { device })).toThrow('arange: start, end and step must be finite, got 0, NaN, 1');
      expect(() => T.arange(0, 5, Number.NaN, { device })).toThrow('arange: start, end and step must be finite, got 0, 5, NaN');
      expect(() => T.arange(0, Infinity, 1, { device })).toThrow('arange: start, end and step must be finite');
      expect(() => T.arange(0, 1e12, 1, { device })).toThrow('arange: shape [1000000000000] has 1.00e+12 elements, more than one tensor can hold');
    }
  });
  test('random samples refuse an integer dtype (they were truncated to mostly zeros) and a reversed or NaN range', () => {
    expect(() => T.randn([4], { dtype: 'int32' })).toThrow('randn: samples need a floating-point dtype, got int32');
    expect(() => T.rand([4], { dtype: 'uint32', device: 'webgpu' })).toThrow('rand: samples need a floating-point dtype, got uint32');
    expect(() => T.rand([4], { low: 2, high: 1 })).toThrow('rand: needs finite low ≤ high, got low 2, high 1');
    expect(() => T.rand([4], { low: Number.NaN })).toThrow('rand: needs finite low ≤ high, got low NaN, high 1');
    expect(T.rand([2], { dtype: 'float64', low: 1, high: 1 }).toArraySync()).toEqual(new Float64Array([1, 1]));
  });
  test('a number that an integer tensor would truncate is refused (int32 + 1.5 gave 2, not 2.5); integers still join', async () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      const ints = T.tensor([1, 2], { dtype: 'int32', device });
      expect(() => T.add(ints, 1.5)).toThrow(/^add: the number 1\.5 is not a value of int32, the dtype of the tensor it meets; cast that tensor first$/);
      expect(() => T.mul(0.5, ints)).toThrow('mul: the number 0.5 is not a value of int32, the dtype of the tensor it meets; cast that tensor first');
      expect(() => T.where(ints, ints, Number.NaN)).toThrow('where: the number NaN is not a value of int32, the dtype of the tensor it meets; cast that tensor first');
      // −1 became 4294967295 in a uint32 tensor.
      expect(() => T.add(T.tensor([1], { dtype: 'uint32', device }), -1)).toThrow('add: the number -1 is not a value of uint32, the dtype of the tensor it meets; cast that tensor first');
      expect(Array.from(await T.add(ints, 2).toArray())).toEqual([3, 4]);
    }
  });
  test('full refuses a value its integer dtype does not hold, as torch.full refuses the overflow: NaN became 0 and −1 became 4294967295', () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      expect(() => T.full([2], Number.NaN, { dtype: 'int32', device })).toThrow('full: the number NaN is not a value of int32, the dtype asked for');
      expect(() => T.full([2], -1, { dtype: 'uint32', device })).toThrow('full: the number -1 is not a value of uint32, the dtype asked for');
      expect(() => T.full([2], 2 ** 31, { dtype: 'int32', device })).toThrow('full: the number 2147483648 is not a value of int32, the dtype asked for');
      expect(() => T.full([2], undefined as unknown as number, { device })).toThrow('full: the value must be a number, got undefined');
    }
    expect(Array.from(T.full([2], 2 ** 32 - 1, { dtype: 'uint32' }).toArraySync())).toEqual([2 ** 32 - 1, 2 ** 32 - 1]);
  });
  test("pad's fill value and clamp's bounds must be values of the tensor's dtype (pad filled an int32 tensor with 1 for 1.5)", () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      expect(() => T.pad(T.zeros([2], { dtype: 'int32', device }), [[1, 1]], 1.5)).toThrow('pad: the number 1.5 is not a value of int32, the dtype of the tensor padded');
      expect(() => T.pad(T.zeros([2], { dtype: 'uint32', device }), [[1, 1]], -1)).toThrow('pad: the number -1 is not a value of uint32, the dtype of the tensor padded');
      // The error named maximum, which clamp is made of.
      expect(() => T.clamp(T.zeros([2], { dtype: 'int32', device }), 0.5, 3)).toThrow('clamp: the number 0.5 is not a value of int32, the dtype of the tensor clamped');
      expect(() => T.clamp(T.zeros([2], { device }), undefined as unknown as number, 3)).toThrow('clamp: the bounds must be numbers, got undefined');
    }
  });
  test('shapes and operands of the wrong JavaScript type name the op instead of a TypeError from inside it', () => {
    expect(() => T.zeros(3 as unknown as number[])).toThrow('full: shape must be an array of sizes, got number 3');
    expect(() => T.randn(3 as unknown as number[])).toThrow('randn: shape must be an array of sizes, got number 3');
    expect(() => T.add(T.zeros([2]), null as unknown as number)).toThrow('add: operands must be tensors or numbers, got null');
    expect(() => T.mul(undefined as unknown as number, T.zeros([2]))).toThrow('mul: operands must be tensors or numbers, got undefined');
  });
  test('an unknown dtype is refused on the GPU as on the CPU, before any kernel (it was a WGSL compile error at the next read)', async () => {
    expect(() => T.cast(T.ones([2], { device: 'webgpu' }), 'float16' as T.DType)).toThrow("dtype 'float16' is not one of float32, float64, int32, uint32");
    await expect(T.zeros([1], { device: 'webgpu' }).toArray()).resolves.toEqual(new Float32Array([0]));
  });
  test('a Random seed that is not an integer is refused: NaN and 1.5 were silently the seeds 0 and 1', () => {
    expect(() => new T.Random(Number.NaN)).toThrow('Random: the seed must be an integer, got NaN');
    expect(() => new T.Random(1.5)).toThrow('Random: the seed must be an integer, got 1.5');
    expect(new T.Random(-1).next()).toBe(new T.Random(2 ** 32 - 1).next()); // any integer, mod 2³²
  });
  test('noGrad refuses an async function: gradients were off only until its first await, and recorded after it', () => {
    expect(() => T.noGrad(async () => 1)).toThrow('noGrad: the function returned a Promise; noGrad is synchronous');
  });
  test('grad refuses an output or inputs that are not tensors, naming the position: grad(y, [3]) returned [null]', () => {
    const x = T.ones([2], { requiresGrad: true });
    const y = T.sum(T.mul(x, x));
    expect(() => T.grad(y, [3 as unknown as T.Tensor])).toThrow('grad: inputs[0] must be a Tensor, got the number 3');
    expect(() => T.grad(y, [x, undefined as unknown as T.Tensor])).toThrow('grad: inputs[1] must be a Tensor, got undefined');
    expect(() => T.grad(y, x as unknown as T.Tensor[])).toThrow('grad: inputs must be an array of tensors, got a Tensor');
    expect(() => T.grad(3 as unknown as T.Tensor, [x])).toThrow('grad: the output to differentiate must be a Tensor, got the number 3');
    T.dispose([x, y]);
  });
  test('mean refuses an integer dtype, as torch.mean does: the division truncated (mean of [1, 2] was 1)', () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      expect(() => T.mean(T.tensor([1, 2], { dtype: 'int32', device }))).toThrow('mean: needs a floating-point dtype, got int32; cast the tensor first');
    }
  });
  test('a scalar to squeeze, an axis that is not a number and tensors not in an array name the op (an undefined size, TypeErrors before)', () => {
    // torch.squeeze(scalar, 0) and (scalar, -1) are the scalar; any other axis is out of range.
    for (const axis of [0, -1]) expect(T.squeeze(T.tensor(7), axis).shape).toEqual([]);
    expect(() => T.squeeze(T.zeros([]), 1)).toThrow('squeeze: a scalar has no axis 1 to squeeze');
    expect(() => T.sum(T.zeros([2, 3]), '1' as unknown as number)).toThrow('sum: axis must be a number or an array of them, got string 1');
    expect(() => T.concat(T.zeros([2, 3]) as unknown as T.Tensor[])).toThrow('concat: needs an array of at least one tensor');
    expect(() => T.stack(T.zeros([2, 3]) as unknown as T.Tensor[])).toThrow('stack: needs an array of at least one tensor');
  });
  test("setNanCheck refuses a mode it does not know: 'yes' silently turned on the plain check", () => {
    expect(() => T.setNanCheck('yes' as unknown as boolean)).toThrow(`setNanCheck: mode must be true, false or 'each-op', got "yes"`);
  });
  test('ragged nested arrays and wrong value counts', () => {
    expect(() => T.tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => T.tensor(new Float32Array(5), [2, 3])).toThrow(/5 values do not fill shape \[2, 3\]/);
  });
  test("the per-op NaN check names the op where NaN first appeared, not the one read ('each-op')", async () => {
    T.setNanCheck('each-op');
    try {
      const carried = T.mul(T.add(T.log(T.tensor([1, -1], { device: 'webgpu' })), 1), 2);
      await expect(carried.toArray()).rejects.toThrow(/nan check: op 'log' was the first to produce NaN or ±Inf \(found when reading a tensor of op 'mul', shape \[2\]\)/);
      await expect(T.mul(T.tensor([1, 2], { device: 'webgpu' }), 2).toArray()).resolves.toBeDefined();
      expect(() => T.sqrt(T.tensor([4, -4]))).toThrow("nan check: op 'sqrt' produced NaN at flat index 1 of its output [2]");
    } finally {
      T.setNanCheck(false);
    }
  });
  test('the opt-in NaN check names the op that produced the NaN', async () => {
    T.setNanCheck(true);
    try {
      const bad = T.log(T.tensor([1, -1], { device: 'webgpu' }));
      await expect(bad.toArray()).rejects.toThrow(/nan check: tensor from op 'log' \(shape \[2\]\) holds NaN at flat index 1/);
      await expect(T.log(T.tensor([1, 2], { device: 'webgpu' })).toArray()).resolves.toBeDefined();
    } finally {
      T.setNanCheck(false);
    }
  });
});

test('seeded random tensors are reproducible', () => {
  T.manualSeed(42);
  const a = T.randn([5]).toArraySync();
  T.manualSeed(42);
  const b = T.randn([5]).toArraySync();
  expect(Array.from(a)).toEqual(Array.from(b));
  const c = T.randn([5], { random: new T.Random(7) }).toArraySync();
  expect(Array.from(c)).not.toEqual(Array.from(a));
});

test('shuffle draws each of the 3! orders of three items equally often', () => {
  // 6000 shuffles: each order's count is Binomial(6000, 1/6), mean 1000, σ ≈ 28.9. A bound of ±200 is 6.9 σ: by
  // the exact binomial tails a fair shuffle breaks it for any of the six orders with probability 5e-11, whatever
  // the seed. A shuffle that skips its last swap (i > 1) reaches only three orders.
  const random = new T.Random(5);
  const counts = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const order = random.shuffle([0, 1, 2]).join('');
    counts.set(order, (counts.get(order) ?? 0) + 1);
  }
  expect([...counts.keys()].sort()).toEqual(['012', '021', '102', '120', '201', '210']);
  for (const [order, n] of counts) expect(Math.abs(n - 1000), order).toBeLessThan(200);
});

test('backward outside any tidy scope leaves only the leaf gradients behind', async () => {
  const w = T.randn([8], { device: 'webgpu', requiresGrad: true });
  const y = T.sum(T.mul(w, w));
  const before = T.memory().buffersInUse;
  y.backward();
  await w.grad!.toArray();
  // +1: w.grad. Every intermediate gradient (and any helper constant) is gone.
  expect(T.memory().buffersInUse).toBe(before + 1);
});
