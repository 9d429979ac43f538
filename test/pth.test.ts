// Reading PyTorch checkpoints: files written by torch.save itself (test/fixtures/pth/make.py says how) must give
// PyTorch's values exactly, and nothing a file holds may get code run or crash the reader with anything but a
// one-line UserError.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { smpr } from './cli-run.js';
import { Random } from '../src/index.js';
import { writeSynthDataset } from '../src/data/synth/write.js';
import { UserError } from '../src/errors.js';
import { PLAIN_GLOBALS, unpickle, type PyValue } from '../src/io/pickle.js';
import { loadPth, parsePth, stateDictOf } from '../src/io/pth.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { loadTensorFile } from '../src/io/tensor-file.js';
import { ZipArchive } from '../src/io/zip.js';
import { smprConfig } from '../src/smpr/config.js';
import { SmprModel } from '../src/smpr/model.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { loadBackboneWeights } from '../src/train/pretrained.js';

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

/** The entries of a zip archive, by name, in its order. */
function entriesOf(bytes: Uint8Array): [string, Uint8Array][] {
  const zip = new ZipArchive(bytes, 'entries');
  return zip.names().map((name) => [name, zip.read(name)]);
}

/**
 * A zip archive of `entries`, each deflated, as a re-zipping tool writes one. With `zip64`, every entry's size and
 * compressed size are 0xffffffff in its headers and stand in a zip64 extra field (id 1) instead, in the order of
 * APPNOTE 4.5.3: the size, then the compressed size. With `zip64Offset`, the central directory's local header
 * offset is 0xffffffff too and follows them in its extra field. `comment` gives each central entry that file
 * comment; `encrypted` sets general-purpose flag bit 0 (the data stays plain deflate).
 */
function zipOf(entries: [string, Uint8Array | string][], { zip64 = false, zip64Offset = false, comment = '', encrypted = false } = {}): Buffer {
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;
  for (const [name, contents] of entries) {
    const data = typeof contents === 'string' ? Buffer.from(contents) : contents;
    const packed = deflateRawSync(data);
    const nameBytes = Buffer.from(name);
    const extra = Buffer.alloc(zip64 ? 20 : 0);
    if (zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(data.byteLength), 4);
      extra.writeBigUInt64LE(BigInt(packed.byteLength), 12);
    }
    const centralExtra = Buffer.concat([extra, Buffer.alloc(zip64Offset ? 8 : 0)]);
    if (zip64Offset) {
      centralExtra.writeUInt16LE(24, 2);
      centralExtra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const commentBytes = Buffer.from(comment);
    const [size, compressedSize] = zip64 ? [0xffffffff, 0xffffffff] : [data.byteLength, packed.byteLength];
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4); // version needed
    local.writeUInt16LE(encrypted ? 1 : 0, 6); // flags
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(compressedSize, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(zip64 ? 45 : 20, 4); // version made by
    central.writeUInt16LE(zip64 ? 45 : 20, 6); // version needed
    central.writeUInt16LE(encrypted ? 1 : 0, 8); // flags
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(compressedSize, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt16LE(centralExtra.length, 30);
    central.writeUInt16LE(commentBytes.length, 32);
    central.writeUInt32LE(zip64Offset ? 0xffffffff : offset, 42);
    parts.push(local, nameBytes, extra, packed);
    directory.push(central, nameBytes, centralExtra, commentBytes);
    offset += local.length + nameBytes.length + extra.length + packed.length;
  }
  const directoryBytes = Buffer.concat(directory);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directoryBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directoryBytes, end]);
}

describe('values equal PyTorch', () => {
  for (const file of ['tensors.pth', 'tensors-p4.pth', 'tensors-legacy.pth']) {
    test(`${file}: every dtype, strided and broadcast views, shared storage, 0-d and empty tensors, a Parameter`, () => {
      const read = loadPth(fixture(file));
      expectTensors(read.tensors, expected.tensors);
      expect(read.converted).toEqual({
        'float16 → float32': 1, 'bfloat16 → float32': 1, 'int64 → int32': 1, 'int16 → int32': 1, 'int8 → int32': 1, 'uint8 → int32': 1, 'bool → int32': 1,
      });
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
    const ours = [...new SmprModel(smprConfig('tiny'), { device: 'cpu' }).stateDict()].map(([k, t]): [string, number[]] => [k, [...t.shape]]);
    const theirs = expected.mmdet.keys.map((k: string, i: number): [string, number[]] => [k, expected.mmdet.shapes[i]]);
    expect(new Map(theirs)).toEqual(new Map(ours));
  });

  test('deflated entries (re-zipped checkpoints) read like stored ones', () => {
    const zip = new ZipArchive(readFileSync(fixture('backbone-tiny.pth')), 'backbone-tiny.pth');
    expect(zip.names()).toContain('backbone-tiny/data.pkl');
    const read = loadPth(fixture('backbone-tiny.pth'));
    expect(Object.keys(read.tensors)).toEqual(expected.backbone.keys);
    expect(read.converted).toEqual({ 'int64 → int32': 12 });
  });

  test('zip64 sizes in the order the spec gives, the size before the compressed size (tensors.pth re-zipped so)', () => {
    // Deflate makes the two differ in every entry: read in the other order, an entry's bytes would be cut or overrun.
    const entries = entriesOf(readFileSync(fixture('tensors.pth')));
    const zip64 = zipOf(entries, { zip64: true });
    const asBuffers = (list: [string, Uint8Array][]) => list.map(([name, data]) => [name, Buffer.from(data)]);
    expect(asBuffers(entriesOf(zip64))).toEqual(asBuffers(entries));
    expectTensors(stateDictOf(parsePth(zip64, 'zip64.pth'), 'zip64.pth').tensors, expected.tensors);
  });

  test('a zip64 local header offset, after the sizes in the same extra field, says where each entry starts', () => {
    // Read as the offset 0xffffffff it replaces, every entry would have no local header.
    const entries = entriesOf(readFileSync(fixture('tensors.pth')));
    const zip64 = zipOf(entries, { zip64: true, zip64Offset: true });
    const asBuffers = (list: [string, Uint8Array][]) => list.map(([name, data]) => [name, Buffer.from(data)]);
    expect(asBuffers(entriesOf(zip64))).toEqual(asBuffers(entries));
  });

  test('central directory entries with file comments: each comment is skipped to reach the next entry', () => {
    const entries = entriesOf(readFileSync(fixture('tensors.pth')));
    const commented = zipOf(entries, { comment: 'made by a re-zipping tool' });
    expect(new ZipArchive(commented, 'commented.pth').names()).toEqual(entries.map(([name]) => name));
    expectTensors(stateDictOf(parsePth(commented, 'commented.pth'), 'commented.pth').tensors, expected.tensors);
  });

  test('an encrypted entry (general-purpose flag bit 0) is refused as such, not read as plain data', () => {
    const encrypted = zipOf([['x/data.pkl', 'secret']], { encrypted: true });
    expect(() => new ZipArchive(encrypted, 'locked.zip').read('x/data.pkl')).toThrow("locked.zip: not a readable zip archive: entry 'x/data.pkl' is encrypted");
    expect(new TextDecoder().decode(new ZipArchive(zipOf([['x/data.pkl', 'secret']]), 'open.zip').read('x/data.pkl'))).toBe('secret');
  });

  test("a legacy storage view (make-views.py) starts at its offset in elements, as torch.load reads it", () => {
    // ('root.view', 2, 4) of the 8-element float32 storage [-1, -0.75, ..., 0.75]: its elements 2 to 5, not bytes 2 to 17.
    const read = loadPth(fixture('legacy-view.pth'));
    expect(Array.from(read.tensors.whole!.data)).toEqual([-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75]);
    expect({ shape: [...read.tensors.view!.shape], values: Array.from(read.tensors.view!.data) }).toEqual({ shape: [4], values: [-0.5, -0.25, 0, 0.25] });
  });

  test('dtypes and layouts the engine has no place for are refused as such', () => {
    expect(() => loadPth(fixture('complex.pth'))).toThrow(/complex\.pth: holds a torch\.ComplexFloatStorage, which is not read \(readable dtypes: float32, float64, float16, bfloat16, int64/);
    expect(() => loadPth(fixture('sparse.pth'))).toThrow(/sparse\.pth: holds a tensor that torch\._utils\._rebuild_sparse_tensor would rebuild; only dense tensors are read/);
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

  test('a pickle that stops with a MARK still open is refused, not read as the items after the mark', () => {
    // PROTO 2, MARK, BININT1 1, STOP: no pickler writes this; a reader popping through the open mark would give 1.
    expect(() => unpickle(Uint8Array.of(0x80, 2, 0x28, 0x4b, 1, 0x2e), { source: 'open.pkl', findGlobal: () => undefined })).toThrow(
      'open.pkl: not a readable pickle: a mark is still open at STOP',
    );
  });

  test("torch's names count only in torch's modules: a storage type or a tensor rebuild of another module is refused by name", () => {
    // The archive's pickle with one GLOBAL's module renamed. Matched by the name alone, 'evil.FloatStorage' would be
    // taken as a storage type and 'evil._rebuild_tensor_v2' answered as a sparse-tensor refusal, not as the stranger it is.
    const entries = entriesOf(readFileSync(fixture('tensors.pth')));
    const renamed = (from: string, to: string) => {
      const edited = entries.map(([name, data]): [string, Uint8Array] => {
        if (!name.endsWith('data.pkl')) return [name, data];
        const text = Buffer.from(data).toString('latin1');
        expect(text.split(from)).toHaveLength(2); // the fixture has exactly one such GLOBAL
        return [name, Buffer.from(text.replace(from, to), 'latin1')];
      });
      return () => stateDictOf(parsePth(zipOf(edited), 'renamed.pth'), 'renamed.pth');
    };
    expect(renamed('torch\nFloatStorage\n', 'evil\nFloatStorage\n')).toThrow("renamed.pth: refusing to load global 'evil.FloatStorage'");
    expect(renamed('torch._utils\n_rebuild_tensor_v2\n', 'evil\n_rebuild_tensor_v2\n')).toThrow("renamed.pth: refusing to load global 'evil._rebuild_tensor_v2'");
    expect(renamed('torch\nFloatStorage\n', 'torch\nFloatStorage\n')).not.toThrow();
  });

  test('opcodes that need Python (INST, OBJ, the extension registry) are refused', () => {
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x28, 0x69, ...Buffer.from('os\nsystem\n'), 0x2e]), { source: 'x', findGlobal: () => undefined })).toThrow(/opcode INST is not supported/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x82, 1, 0x2e]), { source: 'x', findGlobal: () => undefined })).toThrow(/opcode EXT1 is not supported/);
    // OBJ (MARK, a class, its arguments) calls the class: named, not an "unknown opcode".
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x28, 0x4e, 0x6f, 0x2e]), { source: 'x', findGlobal: () => undefined })).toThrow('x: not a readable pickle: opcode OBJ is not supported');
  });
});

describe('what the allowlisted globals may do', () => {
  const plain = { source: 'x.pkl', findGlobal: (module: string, name: string) => PLAIN_GLOBALS[`${module}.${name}`] };
  const text = (t: string) => [0x8c, t.length, ...Buffer.from(t)];
  const global = (module: string, name: string) => [0x63, ...Buffer.from(`${module}\n${name}\n`)];
  /** The UserError that unpickling `bytes` (PROTO 2 prepended, STOP appended) throws. */
  const refusal = (...bytes: number[]): UserError => {
    try {
      unpickle(Uint8Array.from([0x80, 2, ...bytes, 0x2e]), plain);
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      return error as UserError;
    }
    throw new Error('did not throw');
  };

  test('REDUCE and STACK_GLOBAL of values that are not allowlisted globals are refused, not run into a TypeError', () => {
    // 1 called with (): without the check, a JavaScript TypeError (a crash with a stack, exit 1) instead of a user error.
    expect(refusal(0x4b, 1, 0x29, 0x52).message).toBe('x.pkl: not a readable pickle: REDUCE of something that is not an allowed global');
    expect(refusal(0x4b, 1, 0x4b, 2, 0x93).message).toBe('x.pkl: not a readable pickle: STACK_GLOBAL of something that is not a name');
  });

  test('NEWOBJ_EX with keyword arguments and BUILD of anything but a dict are refused; without them they read', () => {
    // builtins.set(*(), **{'k': None}): the keyword would be dropped silently. BUILD on a list would set state that is never applied.
    expect(refusal(...global('builtins', 'set'), 0x29, 0x7d, ...text('k'), 0x4e, 0x73, 0x92).message).toBe('x.pkl: not a readable pickle: NEWOBJ_EX with keyword arguments');
    expect(unpickle(Uint8Array.from([0x80, 4, ...global('builtins', 'set'), 0x29, 0x7d, 0x92, 0x2e]), plain).value).toEqual(new Set());
    expect(refusal(0x5d, 0x7d, 0x62).message).toBe('x.pkl: not a readable pickle: BUILD of an object that is not a dict');
    expect(unpickle(Uint8Array.from([0x80, 2, 0x7d, 0x7d, 0x62, 0x2e]), plain).value).toEqual(new Map());
  });

  test('_codecs.encode takes only latin1 and builtins.bytes only no argument: other calls would give the wrong bytes', () => {
    // Python's encode('é', 'utf-8') is 2 bytes and bytes(5) is 5 zero bytes; read as latin1 or as b'' they would differ silently.
    expect(refusal(...global('_codecs', 'encode'), ...text('e'), ...text('utf-8'), 0x86, 0x52).message).toBe(
      "x.pkl: _codecs.encode is read only as protocol 2 uses it for bytes (a string and 'latin1'), got encoding utf-8",
    );
    expect(refusal(...global('builtins', 'bytes'), 0x4b, 5, 0x85, 0x52).message).toBe("x.pkl: builtins.bytes is read only without arguments (protocol 2's empty bytes)");
    const latin1 = unpickle(Uint8Array.from([0x80, 2, ...global('_codecs', 'encode'), 0x8c, 2, 0xc3, 0xbf, ...text('latin1'), 0x86, 0x52, 0x2e]), plain).value;
    expect(Array.from(latin1 as Uint8Array)).toEqual([0xff]);
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

  test('a flipped bit in a stored tensor is caught by the CRC-32', () => {
    const bytes = Buffer.from(readFileSync(fixture('tensors.pth')));
    const zip = new ZipArchive(bytes, 'x');
    const at = bytes.indexOf(Buffer.from(zip.read('tensors/data/0')));
    bytes[at + 5]! ^= 0x10;
    expect(() => stateDictOf(parsePth(bytes, 'flipped.pth'), 'flipped.pth')).toThrow("flipped.pth: not a readable zip archive: entry 'tensors/data/0' is damaged (its CRC-32 does not match)");
  });

  test('a view that ends one element past its storage is refused, naming the storage extent (make-views.py)', () => {
    // Offset 1, 4 elements of a 4-element storage: torch.load refuses it too. Taken, it would be 3 values for shape [4].
    expect(() => loadPth(fixture('view-past-end.pth'))).toThrow(
      /view-past-end\.pth: tensor 'x': the view \(offset 1, shape \[4\], stride \[1\]\) reaches element 4 of a storage of 4$/,
    );
  });

  test('a checkpoint written on a big-endian machine is refused, in either layout; a little-endian byteorder entry is read', () => {
    // torch 1.13 writes no byteorder entry; newer versions do. The same archive with one, re-zipped:
    const entries = entriesOf(readFileSync(fixture('tensors.pth')));
    const withOrder = (order: string) => zipOf([...entries, ['tensors/byteorder', order]]);
    expectTensors(stateDictOf(parsePth(withOrder('little'), 'little.pth'), 'little.pth').tensors, expected.tensors);
    expect(() => parsePth(withOrder('big'), 'big.pth')).toThrow('big.pth: written on a big-endian machine; only little-endian checkpoints are read');
    // The legacy layout says it in its system-facts dict: little_endian, a string memoized (BINPUT 2), then True.
    const legacy = Buffer.from(readFileSync(fixture('tensors-legacy.pth')));
    const at = legacy.indexOf('little_endian') + 'little_endian'.length;
    expect([...legacy.subarray(at, at + 3)]).toEqual([0x71, 2, 0x88]); // BINPUT 2, NEWTRUE
    legacy[at + 2] = 0x89; // NEWFALSE
    expect(() => parsePth(legacy, 'big-legacy.pth')).toThrow('big-legacy.pth: written on a big-endian machine; only little-endian checkpoints are read');
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

describe('the command line and the model', () => {
  /** One line on stderr and exit code 2, matching `message`. */
  async function expectUserError(argv: string[], message: RegExp | string): Promise<void> {
    const { code, stderr } = await smpr(...argv);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
    expect(code).toBe(2);
  }

  test('smpr convert: the same names and values in safetensors; an mmdet meta goes into the metadata', async () => {
    const out = join(dir, 'tensors.safetensors');
    const run = await smpr('convert', fixture('tensors.pth'), out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/tensors\.safetensors: 17 tensors, \d+ bytes of data\n/);
    expect(run.stdout).toContain('converted: float16 → float32 (1 tensor), bfloat16 → float32 (1 tensor), int64 → int32 (1 tensor)');
    const back = loadSafetensors(out);
    expectTensors(Object.fromEntries(Object.keys(expected.tensors).map((k) => [k, back.tensors[k]!])), expected.tensors);
    expect(back.metadata).toEqual({});

    const mmdet = join(dir, 'mmdet.safetensors');
    expect((await smpr('convert', fixture('mmdet-tiny.pth'), mmdet)).stdout).toMatch(/93 tensors, 1876532 bytes of data, meta in the metadata/);
    expect(JSON.parse(loadSafetensors(mmdet).metadata.meta!)).toEqual(expected.mmdet.meta);
  });

  test('smpr convert refuses what is not a PyTorch checkpoint, and code, in one line', async () => {
    await expectUserError(['convert', fixture('evil.pth'), join(dir, 'evil.safetensors')], /evil\.pth: refusing to load global 'posix\.system'/);
    await expectUserError(['convert', fixture('expected.json'), join(dir, 'x.safetensors')], /expected\.json: not a PyTorch checkpoint/);
    await expectUserError(['convert', fixture('tensors.pth'), dir], /OUT .*: is a folder, expected a file name/);
    expect(existsSync(join(dir, 'evil.safetensors'))).toBe(false);
  });

  test('--backbone-weights: a .pth loads exactly as its safetensors conversion does, with the values PyTorch saved', async () => {
    const config = smprConfig('tiny', { backboneNorm: 'frozen-bn' });
    const converted = join(dir, 'backbone.safetensors');
    expect((await smpr('convert', fixture('backbone-tiny.pth'), converted)).code).toBe(0);
    const fromPth = new SmprModel(config, { device: 'cpu', random: new Random(1) });
    const fromSafetensors = new SmprModel(config, { device: 'cpu', random: new Random(2) });
    const result = await loadBackboneWeights(fromPth, fixture('backbone-tiny.pth'));
    await loadBackboneWeights(fromSafetensors, converted);
    expect(result.skipped).toEqual(['fc.weight', 'fc.bias']);
    const values = (m: SmprModel) => [...m.backbone.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())]);
    expect(values(fromPth)).toEqual(values(fromSafetensors));
    // The file's tensor i (in PyTorch's order) holds the pattern; num_batches_tracked has no place in the model.
    const index = new Map<string, number>(expected.backbone.keys.map((k: string, i: number) => [k, i]));
    for (const [key, t] of fromPth.backbone.stateDict()) {
      expect(bytesOf(t.toArraySync()).equals(bytesOf(pattern(index.get(key)!, t.size))), key).toBe(true);
    }
  });

  test("--backbone-weights of a whole mmdet detector takes only its backbone", async () => {
    const model = new SmprModel(smprConfig('tiny'), { device: 'cpu', random: new Random(3) });
    const neck = [...model.neck.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())]);
    const { loaded } = await loadBackboneWeights(model, fixture('mmdet-tiny.pth'));
    expect(loaded).toBe(model.backbone.stateDict().size);
    expect([...model.neck.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())])).toEqual(neck);
    const first = expected.mmdet.keys.indexOf('backbone.conv1.weight');
    expect(bytesOf(model.backbone.stateDict().get('conv1.weight')!.toArraySync()).equals(bytesOf(pattern(first, 16 * 3 * 7 * 7)))).toBe(true);
  });

  test("--weights of the authors' mmdet checkpoint needs --config, then loads key for key (export keeps every value)", async () => {
    const data = join(dir, 'data');
    writeSynthDataset(data, { images: 2, width: 64, height: 64, seed: 3, personScale: [0.6, 0.9] });
    await expectUserError(['eval', '--weights', fixture('mmdet-tiny.pth'), '--data', data], /mmdet-tiny\.pth: a PyTorch checkpoint that does not say which model it holds; pass --config \(r50, r18, tiny, hrnet_w32, hrnet_w48\)/);
    await expectUserError(['export', '--weights', fixture('mmdet-tiny.pth'), '--out', join(dir, 'x.safetensors')], /pass --config \(r50, r18, tiny, hrnet_w32, hrnet_w48\)/);
    await expectUserError(['eval', '--weights', fixture('mmdet-tiny.pth'), '--config', 'r18', '--data', data], /the weights do not fit the 'r18' model of --config r18 \(shape mismatch/);
    await expectUserError(['eval', '--weights', fixture('tensors.pth'), '--config', 'tiny', '--data', data], /tensors\.pth: the weights do not fit the 'tiny' model/);

    const exported = join(dir, 'mmdet-export.safetensors');
    const run = await smpr('export', '--weights', fixture('mmdet-tiny.pth'), '--config', 'tiny', '--out', exported);
    expect(run.code, run.stderr).toBe(0);
    const saved = readCheckpoint(exported);
    expect(saved.info.step).toBe(366400); // mmdet's meta.iter
    expect(saved.info.config).toEqual(smprConfig('tiny'));
    expect([...saved.model.keys()].sort()).toEqual([...expected.mmdet.keys].sort());
    expected.mmdet.keys.forEach((key: string, i: number) => {
      const t = saved.model.get(key)!;
      expect(bytesOf(t.toArraySync()).equals(bytesOf(pattern(i, t.size))), key).toBe(true);
    });
    // An smpr checkpoint carries its config: a --config that disagrees is refused.
    await expectUserError(['eval', '--weights', exported, '--config', 'r18', '--data', data], /holds a 'tiny' model, not --config r18/);

    const trained = await smpr('train', '--data', data, '--config', 'tiny', '--weights', fixture('mmdet-tiny.pth'), '--max-iters', '1', '--batch', '2', '--lr', '0', '--weight-decay', '0', '--out', join(dir, 'run'));
    expect(trained.code, trained.stderr).toBe(0);
    // With lr 0 the run ends with the weights it started from.
    const after = readCheckpoint(join(dir, 'run', 'last.safetensors')).model;
    expect(bytesOf(after.get('bbox_head.fcos_refine_out.weight')!.toArraySync()).equals(bytesOf(saved.model.get('bbox_head.fcos_refine_out.weight')!.toArraySync()))).toBe(true);
  });
});
