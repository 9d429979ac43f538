// Reading PyTorch checkpoints: files written by torch.save itself (test/fixtures/pth/make.py says how) must give
// PyTorch's values exactly, and nothing a file holds may get code run or crash the reader with anything but a
// one-line UserError.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { UserError } from '../src/errors.js';
import { PLAIN_GLOBALS, unpickle, type PyValue } from '../src/io/pickle.js';
import { loadPth, parsePth, stateDictOf } from '../src/io/pth.js';
import { loadTensorFile } from '../src/io/tensor-file.js';
import { ZipArchive } from '../src/io/zip.js';
import { smprConfig } from '../src/smpr/config.js';
import { SmprModel } from '../src/smpr/model.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'pth');
const fixture = (name: string) => join(FIXTURES, name);
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'smpr-pth-'));

/** The engine dtype each PyTorch dtype is read as. */
const ENGINE_DTYPE: Record<string, string> = { float32: 'float32', float64: 'float64', float16: 'float32', bfloat16: 'float32' };

function expectTensors(actual: Record<string, { dtype: string; shape: readonly number[]; data: ArrayLike<number> }>, wanted: Record<string, { dtype: string; shape: number[]; values: number[] }>) {
  expect(Object.keys(actual)).toEqual(Object.keys(wanted));
  for (const [name, want] of Object.entries(wanted)) {
    const got = actual[name]!;
    expect({ name, dtype: got.dtype, shape: [...got.shape], values: Array.from(got.data) }).toEqual({
      name, dtype: ENGINE_DTYPE[want.dtype] ?? 'int32', shape: want.shape, values: want.values,
    });
  }
}

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** ((7j + i) % 251 − 125) / 1024 for tensor i, element j: the fixtures' pattern (make.py). */
const pattern = (i: number, n: number) => Float32Array.from({ length: n }, (_, j) => (((7 * j + i) % 251) - 125) / 1024);

describe('values equal PyTorch', () => {
  for (const file of ['tensors.pth', 'tensors-p4.pth', 'tensors-legacy.pth']) {
    test(`${file}: every dtype, strided views, shared storage, 0-d and empty tensors, a Parameter`, () => {
      const read = loadPth(fixture(file));
      expectTensors(read.tensors, expected.tensors);
      expect(read.converted).toEqual({ float16: 1, bfloat16: 1, int64: 1, int16: 1, int8: 1, uint8: 1, bool: 1 });
      expect(read.meta).toBeUndefined();
    });
  }

  test("an nn.Module's state dict (OrderedDict with _metadata, BatchNorm's counter)", () => {
    const read = loadPth(fixture('module.pth'));
    expectTensors(read.tensors, expected.module);
    expect(Array.from(read.tensors['1.num_batches_tracked']!.data)).toEqual([12]);
  });

  test("an mmdetection checkpoint: the state dict and meta are taken, the optimizer's state is left", () => {
    const read = loadPth(fixture('mmdet-tiny.pth'));
    expect(Object.keys(read.tensors)).toEqual(expected.mmdet.keys);
    Object.values(read.tensors).forEach((t, i) => {
      expect([...t.shape]).toEqual(expected.mmdet.shapes[i]);
      expect(bytesOf(t.data).equals(bytesOf(pattern(i, t.data.length))), expected.mmdet.keys[i]).toBe(true);
    });
    expect(JSON.parse(read.meta!)).toEqual(expected.mmdet.meta);
  });

  test("the authors' mmdet names are the model's own: their SMPR in the tiny sizes has exactly our keys and shapes", () => {
    const ours = [...new SmprModel(smprConfig('tiny'), { device: 'cpu' }).stateDict()].map(([k, t]) => [k, [...t.shape]]);
    const theirs = expected.mmdet.keys.map((k: string, i: number) => [k, expected.mmdet.shapes[i]]);
    expect(new Map(theirs)).toEqual(new Map(ours));
  });

  test('deflated entries (re-zipped checkpoints) read like stored ones', () => {
    const zip = new ZipArchive(readFileSync(fixture('backbone-tiny.pth')), 'backbone-tiny.pth');
    expect(zip.names()).toContain('backbone-tiny/data.pkl');
    const read = loadPth(fixture('backbone-tiny.pth'));
    expect(Object.keys(read.tensors)).toEqual(expected.backbone.keys);
    expect(read.converted).toEqual({ int64: 12 });
  });

  test('an int64 that does not fit in int32 is refused, naming the tensor', () => {
    expect(() => loadPth(fixture('int64-overflow.pth'))).toThrow(/int64-overflow\.pth: tensor 'counter': int64 value 1099511627776 does not fit in int32/);
  });
});

describe('plain pickles', () => {
  /** The fixture's plain value as make.py wrote it into expected.json. */
  function asExpected(value: PyValue): unknown {
    if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, asExpected(v)]));
    if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
    if (Array.isArray(value)) return value.map(asExpected);
    return value;
  }

  for (const protocol of [2, 3, 4, 5]) {
    test(`protocol ${protocol}: strings, bytes, ints of every size, floats, tuples, nesting, shared objects`, () => {
      const bytes = readFileSync(fixture(`plain-p${protocol}.pkl`));
      // Protocol 2 spells bytes as _codecs.encode(text, 'latin1').
      const { value, end } = unpickle(bytes, { source: 'p', findGlobal: (module, name) => PLAIN_GLOBALS[`${module}.${name}`] });
      expect(end).toBe(bytes.byteLength);
      const plain = asExpected(value) as Record<string, unknown>;
      expect({ ...plain, ints: (plain.ints as unknown[]).map(String), floats: (plain.floats as number[]).map((f) => (f === Infinity ? 'inf' : f)) }).toEqual(expected.plain);
      const tuple = (value as Map<string, PyValue>).get('tuple');
      expect(Object.isFrozen(tuple)).toBe(true);
      expect(Object.isFrozen((value as Map<string, PyValue>).get('ints'))).toBe(false);
    });
  }
});

describe('nothing is executed', () => {
  test("a pickle calling posix.system is refused by the global's name", () => {
    expect(() => loadPth(fixture('evil.pth'))).toThrow(
      "evil.pth: refusing to load global 'posix.system': .pth files may run code; only tensors, dicts, lists, numbers and strings are read",
    );
  });

  test('STACK_GLOBAL (protocol 4) goes through the same allowlist', () => {
    // PROTO 4, 'builtins', 'eval', STACK_GLOBAL, ('1+1',), REDUCE, STOP
    const evil = Uint8Array.from([0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93, 0x8c, 3, ...Buffer.from('1+1'), 0x85, 0x52, 0x2e]);
    expect(() => unpickle(evil, { source: 'x.pkl', findGlobal: () => undefined })).toThrow(/x\.pkl: refusing to load global 'builtins\.eval'/);
  });

  test('opcodes that need Python (INST, OBJ, the extension registry) are refused', () => {
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x28, 0x69, ...Buffer.from('os\nsystem\n'), 0x2e]), { source: 'x', findGlobal: () => undefined })).toThrow(/opcode INST is not supported/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x82, 1, 0x2e]), { source: 'x', findGlobal: () => undefined })).toThrow(/opcode EXT1 is not supported/);
  });
});

describe('damaged and foreign files are one-line user errors', () => {
  const errorOf = (f: () => unknown): Error => {
    try {
      f();
    } catch (error) {
      return error as Error;
    }
    throw new Error('did not throw');
  };

  for (const file of ['tensors.pth', 'tensors-legacy.pth', 'mmdet-tiny.pth']) {
    test(`${file} cut short anywhere`, () => {
      const bytes = readFileSync(fixture(file));
      const step = Math.max(1, Math.floor(bytes.byteLength / 97));
      for (let n = 0; n < bytes.byteLength; n += step) {
        const error = errorOf(() => stateDictOf(parsePth(bytes.subarray(0, n), `cut-${n}`), `cut-${n}`));
        expect(error, `cut at ${n}: ${error.stack}`).toBeInstanceOf(UserError);
        expect(error.message).toMatch(new RegExp(`^cut-${n}: `));
        expect(error.message).not.toContain('\n');
      }
    });
  }

  test('a truncated torch.save names the file and the missing part', () => {
    const bytes = readFileSync(fixture('tensors.pth'));
    writeFileSync(join(dir, 'cut.pth'), bytes.subarray(0, bytes.byteLength - 30));
    expect(() => loadPth(join(dir, 'cut.pth'))).toThrow(/cut\.pth: not a readable zip archive: .*truncated/);
    const legacy = readFileSync(fixture('tensors-legacy.pth'));
    writeFileSync(join(dir, 'cut-legacy.pth'), legacy.subarray(0, legacy.byteLength - 1));
    expect(() => loadPth(join(dir, 'cut-legacy.pth'))).toThrow(/cut-legacy\.pth: truncated \(storage '\d+' lacks its last 1 byte\)/);
  });

  test('a PNG, a zip without data.pkl, a plain pickle, a pickle that is not a dict', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    writeFileSync(join(dir, 'image.png'), png);
    expect(() => loadPth(join(dir, 'image.png'))).toThrow(/image\.png: not a PyTorch checkpoint \(expected a zip archive, or a pickle for the pre-1\.6 format\)/);
    expect(() => loadTensorFile(join(dir, 'image.png'))).toThrow(/image\.png: neither a safetensors file nor a PyTorch checkpoint/);
    // The same archive with its pickle renamed: a zip, but not torch's.
    const renamed = Buffer.from(readFileSync(fixture('tensors.pth')).toString('latin1').replaceAll('tensors/data.pkl', 'tensors/data.txt'), 'latin1');
    expect(() => parsePth(renamed, 'renamed.pth')).toThrow("renamed.pth: a zip archive but not a PyTorch checkpoint (expected one NAME/data.pkl entry, found none)");
    expect(() => parsePth(readFileSync(fixture('plain-p2.pkl')), 'plain.pkl')).toThrow(/plain\.pkl: a pickle, but not a PyTorch checkpoint/);
    expect(() => stateDictOf([1, 2], 'list.pth')).toThrow(/list\.pth: holds a list, not a state dict/);
    expect(() => stateDictOf(new Map<PyValue, PyValue>([['epoch', 3]]), 'x.pth')).toThrow(/x\.pth: 'epoch' in the state dict is a number, not a tensor \(its keys: epoch; a checkpoint needs its tensors under 'state_dict'\)/);
  });

  test('missing files', () => {
    expect(() => loadPth(join(dir, 'nope.pth'))).toThrow(/cannot read .*nope\.pth: ENOENT/);
    expect(() => loadTensorFile(join(dir, 'nope.pth'))).toThrow(/cannot read .*nope\.pth: ENOENT/);
  });
});
