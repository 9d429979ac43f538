/**
 * The safetensors format (https://github.com/huggingface/safetensors), for checkpoints and for user-supplied
 * pretrained weights:
 *
 *     [u64 little-endian N][N bytes of JSON header][data]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end)} relative to the start of the
 * data, plus an optional `__metadata__` map of strings. The data must be covered exactly: no overlaps, no holes.
 * We write F32, F64, I32 and U32; reading also accepts F16 and BF16 (converted to float32, since torchvision
 * weights are often stored that way) and I64 (converted to int32 when every value fits, for BatchNorm's
 * `num_batches_tracked`). Data is little-endian, as on every host Node runs on in practice.
 *
 * Every problem with a file is a `UserError` naming the file: a checkpoint or weight file is the user's input.
 *
 * This file works on bytes in memory, so it runs in the browser too; `safetensors.ts` reads and writes files.
 */
import { UserError } from '../errors.js';
import { bytesPerElement, dtypeOf, type DType, type TypedArray } from '../tensor/dtype.js';
import { sizeOf } from '../tensor/shape.js';

export interface TensorData {
  dtype: DType;
  shape: readonly number[];
  data: TypedArray;
}

export interface SafetensorsFile {
  tensors: Record<string, TensorData>;
  metadata: Record<string, string>;
}

const WRITE_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32', uint32: 'U32' };

/** How each readable file dtype becomes an engine dtype. */
const READ_DTYPE: Record<string, { bytes: number; dtype: DType; decode: (bytes: Uint8Array, n: number) => TypedArray | string }> = {
  F32: { bytes: 4, dtype: 'float32', decode: (b, n) => new Float32Array(aligned(b).buffer, 0, n) },
  F64: { bytes: 8, dtype: 'float64', decode: (b, n) => new Float64Array(aligned(b).buffer, 0, n) },
  I32: { bytes: 4, dtype: 'int32', decode: (b, n) => new Int32Array(aligned(b).buffer, 0, n) },
  U32: { bytes: 4, dtype: 'uint32', decode: (b, n) => new Uint32Array(aligned(b).buffer, 0, n) },
  F16: { bytes: 2, dtype: 'float32', decode: (b, n) => Float32Array.from(new Uint16Array(aligned(b).buffer, 0, n), halfToFloat) },
  BF16: { bytes: 2, dtype: 'float32', decode: (b, n) => Float32Array.from(new Uint16Array(aligned(b).buffer, 0, n), bfloat16ToFloat) },
  I64: { bytes: 8, dtype: 'int32', decode: (b, n) => int64ToInt32(new BigInt64Array(aligned(b).buffer, 0, n)) },
};

/** A copy at offset 0 of its own buffer, so that any typed array can view it (`Buffer#slice` would not copy). */
const aligned = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

/** IEEE 754 half precision: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 is the top half of a float32. */
export function bfloat16ToFloat(bits: number): number {
  scratch.u32[0] = bits << 16;
  return scratch.f32[0];
}

const scratch = (() => {
  const buffer = new ArrayBuffer(4);
  return { u32: new Uint32Array(buffer), f32: new Float32Array(buffer) };
})();

/** The values as int32, or what does not fit (PyTorch stores counts and indices as int64; the engine has none). */
export function int64ToInt32(values: BigInt64Array): Int32Array | string {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (values[i]! < -0x80000000n || values[i]! > 0x7fffffffn) return `int64 value ${values[i]} does not fit in int32 (index ${i})`;
    out[i] = Number(values[i]);
  }
  return out;
}

// ---- reading ----------------------------------------------------------------------------------------------------

/** Decodes a whole safetensors file held in memory; `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const fail: (why: string) => never = (why) => {
    throw new UserError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`truncated (${bytes.byteLength} bytes; the header length alone takes 8)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(`truncated (the header claims ${headerLength} bytes but only ${bytes.byteLength - 8} follow the length)`);
  }
  const dataStart = 8 + Number(headerLength);
  const data = bytes.subarray(dataStart);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    fail(`bad header JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(header)) return fail('the header is not a JSON object');

  // Null prototypes: a file may name a tensor '__proto__'.
  const metadata: Record<string, string> = Object.create(null);
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: Record<string, TensorData> = Object.create(null);
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) fail('__metadata__ is not an object');
      for (const [key, value] of Object.entries(entry as object)) {
        if (typeof value !== 'string') fail(`__metadata__.${key} is not a string`);
        metadata[key] = value;
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (!isPlainObject(entry)) return fail(`${what}: the entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') fail(`${what}: missing dtype`);
    if (!Object.hasOwn(READ_DTYPE, dtype as string)) fail(`${what}: unsupported dtype '${dtype}' (readable: ${Object.keys(READ_DTYPE).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${what}: shape must be a list of integers ≥ 0, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`${what}: data_offsets must be two integers ≥ 0, got ${JSON.stringify(offsets)}`);
    }
    const kind = READ_DTYPE[dtype as string];
    const [begin, end] = offsets as number[];
    if (begin > end || end > data.byteLength) {
      fail(`${what}: data_offsets [${begin}, ${end}] out of range (the data section has ${data.byteLength} bytes)`);
    }
    const count = sizeOf(shape as number[]);
    if (end - begin !== count * kind.bytes) {
      fail(`${what}: shape [${shape}] of ${dtype} needs ${count * kind.bytes} bytes but data_offsets span ${end - begin}`);
    }
    const decoded = kind.decode(data.subarray(begin, end), count);
    if (typeof decoded === 'string') fail(`${what}: ${decoded}`);
    spans.push({ name, begin, end });
    tensors[name] = { dtype: kind.dtype, shape: shape as number[], data: decoded as TypedArray };
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const span of spans) {
    if (span.begin < covered) fail(`tensor '${span.name}' overlaps the tensor before it (data_offsets start at ${span.begin}, before ${covered})`);
    if (span.begin > covered) fail(`bytes ${covered}..${span.begin} of the data section belong to no tensor`);
    covered = span.end;
  }
  if (covered !== data.byteLength) fail(`bytes ${covered}..${data.byteLength} of the data section belong to no tensor`);
  return { tensors, metadata };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** An integer ≥ 0 that a double holds exactly: a size, an offset, a count. */
export const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

// ---- writing ----------------------------------------------------------------------------------------------------

/** The file's bytes as chunks — the header, then each tensor's data as a view — so the file is never copied whole. */
export function* encodeSafetensors(tensors: Record<string, TensorData>, metadata: Record<string, string>, source: string): Generator<Uint8Array> {
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const order = Object.keys(tensors).sort((a, b) => bytesPerElement(tensors[b].dtype) - bytesPerElement(tensors[a].dtype) || (a < b ? -1 : a > b ? 1 : 0));
  let offset = 0;
  for (const name of order) {
    if (name === '__metadata__') throw new Error(`saveSafetensors ${source}: '__metadata__' is reserved and cannot name a tensor`);
    const { dtype, shape, data } = tensors[name];
    if (!shape.every(isCount) || data.length !== sizeOf(shape) || dtypeOf(data) !== dtype) {
      throw new Error(`saveSafetensors ${source}: tensor '${name}' has ${data.length} ${data.constructor.name} values for shape [${shape}] ${dtype}`);
    }
    const byteLength = data.byteLength;
    header[name] = { dtype: WRITE_DTYPE[dtype], shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const prefix = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(padded), true);
  prefix.set(json, 8);
  yield prefix;
  for (const name of order) {
    const { data } = tensors[name];
    yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
}
