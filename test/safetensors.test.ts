// The safetensors reader/writer and the atomic file writer under it.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import { writeFileAtomic, writeOutputFile } from '../src/io/atomic.js';
import { bfloat16ToFloat, halfToFloat, loadSafetensors, parseSafetensors, saveSafetensors, type TensorData } from '../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file per the spec: u64 LE header length, the header JSON (padded with spaces to `pad`), then `data`. */
function fileBytes(header: unknown, data: Uint8Array = new Uint8Array(), pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian bytes of `values` written with a DataView setter. */
function le(values: readonly number[], width: number, set: (v: DataView, offset: number, value: number) => void): Uint8Array {
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => set(view, i * width, v));
  return out;
}
const f32 = (v: number[]) => le(v, 4, (d, o, x) => d.setFloat32(o, x, true));
const u16 = (v: number[]) => le(v, 2, (d, o, x) => d.setUint16(o, x, true));
const i32 = (v: number[]) => le(v, 4, (d, o, x) => d.setInt32(o, x, true));
const u64 = (v: number[]) => le(v, 8, (d, o, x) => d.setBigUint64(o, BigInt(x), true));
function i64(values: bigint[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setBigInt64(8 * i, v, true));
  return out;
}
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

/** The UserError `parseSafetensors` throws for `bytes`. */
function parseError(bytes: Uint8Array): string {
  try {
    parseSafetensors(bytes, 'weights.safetensors');
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error('expected parseSafetensors to fail');
}

describe('safetensors', () => {
  it('round-trips every writable dtype, odd shapes and metadata', () => {
    const tensors: Record<string, TensorData> = {
      'backbone.conv1.weight': { dtype: 'float32', shape: [2, 1, 3], data: Float32Array.from([1.5, -2, 3e-8, 0, -0, 1e30]) },
      'head.scale.0': { dtype: 'float64', shape: [], data: Float64Array.of(Math.PI) },
      'bn.num_batches_tracked': { dtype: 'int32', shape: [1], data: Int32Array.of(-7) },
      'ids': { dtype: 'uint32', shape: [3], data: Uint32Array.of(0, 1, 0xffffffff) },
      'empty': { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
      'größe': { dtype: 'int32', shape: [1, 1], data: Int32Array.of(42) },
    };
    const path = join(dir, 'round-trip.safetensors');
    saveSafetensors(path, tensors, { format: 'pt', iter: '1200' });
    const loaded = loadSafetensors(path);
    expect(loaded.metadata).toEqual({ format: 'pt', iter: '1200' });
    expect(Object.keys(loaded.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = loaded.tensors[name];
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      expect(got.data, name).toEqual(t.data);
    }
  });

  it('writes exactly the bytes the spec describes: 8-byte aligned data, space padding, widest dtype first', () => {
    const path = join(dir, 'exact.safetensors');
    saveSafetensors(path, { x: { dtype: 'float32', shape: [2], data: Float32Array.of(1.5, -2) }, y: { dtype: 'float64', shape: [1], data: Float64Array.of(0.25) } });
    const header = { y: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, x: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } };
    const json = JSON.stringify(header);
    const pad = (8 - (json.length % 8)) % 8;
    const expected = fileBytes(header, concat(le([0.25], 8, (d, o, v) => d.setFloat64(o, v, true)), f32([1.5, -2])), pad);
    const written = new Uint8Array(readFileSync(path));
    expect((written.length - 16) % 8, 'data section starts 8-byte aligned').toBe(0);
    expect(Array.from(written)).toEqual(Array.from(expected));
  });

  it('reads a hand-built file per the spec, with padding and a metadata map', () => {
    const header = {
      __metadata__: { format: 'pt' },
      b: { dtype: 'I32', shape: [2], data_offsets: [8, 16] },
      a: { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] },
    };
    const { tensors, metadata } = parseSafetensors(fileBytes(header, concat(f32([0.5, -4]), i32([-3, 2147483647])), 5), 'hand.safetensors');
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.a).toEqual({ dtype: 'float32', shape: [1, 2], data: Float32Array.of(0.5, -4) });
    expect(tensors.b).toEqual({ dtype: 'int32', shape: [2], data: Int32Array.of(-3, 2147483647) });
  });

  it('decodes F16 and BF16 to float32, including subnormals, infinities and NaN', () => {
    const half: [number, number][] = [
      [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x0400, 2 ** -14], [0x3555, 1365 / 4096],
      [0x7c00, Infinity], [0xfc00, -Infinity], [0x8000, -0],
    ];
    const bf16: [number, number][] = [[0x3f80, 1], [0xc040, -3], [0x3eab, 171 / 512], [0x0001, 2 ** -133], [0x7f80, Infinity], [0x8000, -0]];
    for (const [bits, value] of half) expect(halfToFloat(bits), `F16 ${bits.toString(16)}`).toBe(value);
    for (const [bits, value] of bf16) expect(bfloat16ToFloat(bits), `BF16 ${bits.toString(16)}`).toBe(value);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(bfloat16ToFloat(0x7fc0)).toBeNaN();

    const header = {
      h: { dtype: 'F16', shape: [half.length], data_offsets: [0, 2 * half.length] },
      b: { dtype: 'BF16', shape: [bf16.length], data_offsets: [2 * half.length, 2 * (half.length + bf16.length)] },
    };
    const { tensors } = parseSafetensors(fileBytes(header, concat(u16(half.map(([b]) => b)), u16(bf16.map(([b]) => b)))), 'half.safetensors');
    expect(tensors.h).toEqual({ dtype: 'float32', shape: [half.length], data: Float32Array.from(half.map(([, v]) => v)) });
    expect(tensors.b).toEqual({ dtype: 'float32', shape: [bf16.length], data: Float32Array.from(bf16.map(([, v]) => v)) });
  });

  it('reads I64 (BatchNorm num_batches_tracked) as int32, and refuses values that do not fit', () => {
    const ok = parseSafetensors(fileBytes({ n: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, i64([117264n, -5n])), 'bn.safetensors');
    expect(ok.tensors.n).toEqual({ dtype: 'int32', shape: [2], data: Int32Array.of(117264, -5) });
    expect(parseError(fileBytes({ n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, i64([1n << 40n])))).toBe(
      "weights.safetensors: not a valid safetensors file: tensor 'n': int64 value 1099511627776 does not fit in int32 (index 0)",
    );
  });

  it('reads I64 exactly at the int32 bounds, and refuses one past either', () => {
    const read = (values: bigint[]) => parseSafetensors(fileBytes({ n: { dtype: 'I64', shape: [values.length], data_offsets: [0, 8 * values.length] } }, i64(values)), 'bn.safetensors');
    expect(Array.from(read([-(1n << 31n), (1n << 31n) - 1n]).tensors.n!.data)).toEqual([-2147483648, 2147483647]);
    expect(() => read([-(1n << 31n) - 1n])).toThrow('int64 value -2147483649 does not fit in int32');
    expect(() => read([1n << 31n])).toThrow('int64 value 2147483648 does not fit in int32');
  });

  it('writes the same bytes whatever order the tensors were given in: same-width dtypes go by name', () => {
    const a = { dtype: 'float32', shape: [1], data: Float32Array.of(1) } as const;
    const b = { dtype: 'int32', shape: [1], data: Int32Array.of(2) } as const;
    saveSafetensors(join(dir, 'ab.safetensors'), { a, b });
    saveSafetensors(join(dir, 'ba.safetensors'), { b, a });
    const ba = readFileSync(join(dir, 'ba.safetensors'));
    expect(Array.from(ba)).toEqual(Array.from(readFileSync(join(dir, 'ab.safetensors'))));
    expect(ba.toString('latin1')).toContain('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":');
  });

  describe('errors name the file and the problem', () => {
    const t = (offsets: number[], dtype = 'F32', shape = [1]) => ({ dtype, shape, data_offsets: offsets });
    const cases: [string, Uint8Array, string][] = [
      ['shorter than the length field', new Uint8Array(5), 'truncated (5 bytes; the header length alone takes 8)'],
      ['header longer than the file', concat(u64([100]), new Uint8Array(12)), 'truncated (the header claims 100 bytes but only 12 follow the length)'],
      ['bad JSON', concat(u64([3]), new TextEncoder().encode('{"a')), 'bad header JSON'],
      ['header not UTF-8', concat(u64([2]), new Uint8Array([0xff, 0xfe])), 'bad header JSON'],
      ['not an object', fileBytes([1, 2]), 'the header is not a JSON object'],
      ['entry not an object', fileBytes({ a: 3 }), "tensor 'a': the entry is not an object"],
      ['unknown dtype', fileBytes({ a: t([0, 1], 'I8') }, new Uint8Array(1)), "tensor 'a': unsupported dtype 'I8' (readable: F32, F64, I32, U32, F16, BF16, I64)"],
      ['inherited property as dtype', fileBytes({ a: t([0, 4], 'constructor') }, new Uint8Array(4)), "tensor 'a': unsupported dtype 'constructor'"],
      ['missing dtype', fileBytes({ a: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), "tensor 'a': missing dtype"],
      ['bad shape', fileBytes({ a: t([0, 4], 'F32', [-1]) }, new Uint8Array(4)), "tensor 'a': shape must be a list of integers ≥ 0, got [-1]"],
      ['bad offsets', fileBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)), "tensor 'a': data_offsets must be two integers ≥ 0, got [0]"],
      ['offsets past the end', fileBytes({ a: t([0, 8], 'F32', [2]) }, new Uint8Array(4)), "tensor 'a': data_offsets [0, 8] out of range (the data section has 4 bytes)"],
      ['offsets reversed', fileBytes({ a: t([4, 0]) }, new Uint8Array(4)), "tensor 'a': data_offsets [4, 0] out of range"],
      ['size mismatch', fileBytes({ a: t([0, 4], 'F32', [2]) }, new Uint8Array(4)), "tensor 'a': shape [2] of F32 needs 8 bytes but data_offsets span 4"],
      ['overlapping tensors', fileBytes({ a: t([0, 8], 'F32', [2]), b: t([4, 8]) }, new Uint8Array(8)), "tensor 'b' overlaps the tensor before it (data_offsets start at 4, before 8)"],
      ['a hole between tensors', fileBytes({ a: t([0, 4]), b: t([8, 12]) }, new Uint8Array(12)), 'bytes 4..8 of the data section belong to no tensor'],
      ['trailing bytes', fileBytes({ a: t([0, 4]) }, new Uint8Array(6)), 'bytes 4..6 of the data section belong to no tensor'],
      ['metadata not strings', fileBytes({ __metadata__: { epoch: 3 } }), '__metadata__.epoch is not a string'],
    ];
    for (const [what, bytes, message] of cases) {
      it(what, () => expect(parseError(bytes)).toContain(`weights.safetensors: not a valid safetensors file: ${message}`));
    }

    it('a missing file', () => {
      const path = join(dir, 'nope.safetensors');
      expect(() => loadSafetensors(path)).toThrow(UserError);
      expect(() => loadSafetensors(path)).toThrow(`cannot read ${path}: ENOENT`);
    });

    it('a corrupt file on disk names its path', () => {
      const path = join(dir, 'corrupt.safetensors');
      writeFileSync(path, new Uint8Array(3));
      expect(() => loadSafetensors(path)).toThrow(`${path}: not a valid safetensors file: truncated`);
    });
  });

  it('refuses to write inconsistent tensors, leaving the previous file intact', () => {
    const path = join(dir, 'keep.safetensors');
    saveSafetensors(path, { a: { dtype: 'int32', shape: [1], data: Int32Array.of(1) } });
    const before = readFileSync(path);
    const bad: [Record<string, TensorData>, string][] = [
      [{ a: { dtype: 'float32', shape: [2], data: Float32Array.of(1) } }, "tensor 'a' has 1 Float32Array values for shape [2] float32"],
      [{ a: { dtype: 'float32', shape: [1], data: Int32Array.of(1) } }, "tensor 'a' has 1 Int32Array values for shape [1] float32"],
      [{ __metadata__: { dtype: 'int32', shape: [1], data: Int32Array.of(1) } }, "'__metadata__' is reserved"],
    ];
    for (const [tensors, message] of bad) {
      expect(() => saveSafetensors(path, tensors)).toThrow(`saveSafetensors ${path}: ${message}`);
      expect(readFileSync(path)).toEqual(before);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file with the concatenated chunks', () => {
    const path = join(dir, 'atomic.bin');
    writeFileSync(path, 'old contents');
    writeFileAtomic(path, [new TextEncoder().encode('new '), new TextEncoder().encode('contents')]);
    expect(readFileSync(path, 'utf8')).toBe('new contents');
  });

  it('leaves the old file intact and no temporary file behind when writing fails midway', () => {
    const path = join(dir, 'checkpoint.safetensors');
    writeFileSync(path, 'the previous checkpoint');
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array(1 << 20).fill(1); // a megabyte reaches the temporary file first
      throw new Error('simulated crash while producing the second chunk');
    }
    expect(() => writeFileAtomic(path, failing())).toThrow('simulated crash while producing the second chunk');
    expect(readFileSync(path, 'utf8')).toBe('the previous checkpoint');
    expect(readdirSync(dir).filter((f) => f.includes('checkpoint.safetensors') && f !== 'checkpoint.safetensors')).toEqual([]);
  });

  it('writeOutputFile writes a device such as /dev/null as it is, and a regular file atomically', () => {
    // `--json /dev/stdout` must work: an atomic write there would refuse a path that is not a regular file.
    expect(() => writeOutputFile('/dev/null', 'discarded')).not.toThrow();
    const path = join(dir, 'out.json');
    writeOutputFile(path, '{"ok":true}');
    expect(readFileSync(path, 'utf8')).toBe('{"ok":true}');
  });

  it('reports an unwritable destination as a UserError naming the path', () => {
    const path = join(dir, 'no-such-dir', 'x.safetensors');
    expect(() => writeFileAtomic(path, [new Uint8Array(1)])).toThrow(UserError);
    expect(() => writeFileAtomic(path, [new Uint8Array(1)])).toThrow(`cannot write ${path}: ENOENT`);
  });
});
