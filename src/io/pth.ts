/**
 * PyTorch checkpoints (`torch.save`), read without running any of the code a pickle may carry.
 *
 * Two layouts exist. Since PyTorch 1.6 a `.pth` is a zip archive (src/io/zip.ts):
 *
 *     NAME/data.pkl       the saved object, pickled; each tensor's storage is a persistent id
 *                         ('storage', torch.FloatStorage, KEY, location, element count)
 *     NAME/data/KEY       that storage's raw little-endian elements
 *     NAME/version, NAME/byteorder (newer), ...
 *
 * Before 1.6 (`_use_new_zipfile_serialization=False`, and torchvision's older weight files) it is a row of
 * pickles — a magic number, the format version, a dict of system facts, the object, the list of storage keys —
 * followed by each storage as an int64 element count and its elements.
 *
 * In both, a tensor is pickled as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`: a view
 * (possibly strided, possibly sharing its storage with other tensors) of a storage. The unpickler
 * (src/io/pickle.ts) allows exactly the globals that build tensors and plain containers, here; any other is
 * refused by name. Tensors come out contiguous, in the engine's dtypes: float32 and float64 as they are,
 * float16 and bfloat16 widened to float32 (exactly), int64 narrowed to int32 when every value fits, and the
 * small integer types and bool widened to int32. A file's tensors are decoded only when asked for, so a
 * checkpoint's optimizer state costs nothing unless it is read.
 */
import { readUserFile } from './read-file.js';
import { UserError } from '../errors.js';
import { typedArrayFor, type DType, type TypedArray } from '../tensor/dtype.js';
import { sizeOf } from '../tensor/shape.js';
import { PLAIN_GLOBALS, unpickle, type PyCallable, type PyValue } from './pickle.js';
import type { TensorData } from './safetensors.js';
import { bfloat16ToFloat, halfToFloat } from './safetensors.js';
import { int64ToInt32, isCount } from './safetensors-format.js';
import { isZip, ZipArchive } from './zip.js';

/** How each storage type's elements become an engine dtype. */
interface StorageKind {
  /** PyTorch's name of the element type. */
  torch: string;
  bytes: number;
  dtype: DType;
  /** The elements of a little-endian copy at offset 0 of its own buffer; a string says why they cannot be read. */
  decode: (buffer: ArrayBuffer) => TypedArray | string;
}

const widen = <T extends ArrayLike<number>>(View: new (b: ArrayBuffer) => T) => (b: ArrayBuffer) => Int32Array.from(new View(b));

const STORAGE_KINDS: Record<string, StorageKind> = {
  FloatStorage: { torch: 'float32', bytes: 4, dtype: 'float32', decode: (b) => new Float32Array(b) },
  DoubleStorage: { torch: 'float64', bytes: 8, dtype: 'float64', decode: (b) => new Float64Array(b) },
  HalfStorage: { torch: 'float16', bytes: 2, dtype: 'float32', decode: (b) => Float32Array.from(new Uint16Array(b), halfToFloat) },
  BFloat16Storage: { torch: 'bfloat16', bytes: 2, dtype: 'float32', decode: (b) => Float32Array.from(new Uint16Array(b), bfloat16ToFloat) },
  LongStorage: { torch: 'int64', bytes: 8, dtype: 'int32', decode: (b) => int64ToInt32(new BigInt64Array(b)) },
  IntStorage: { torch: 'int32', bytes: 4, dtype: 'int32', decode: (b) => new Int32Array(b) },
  ShortStorage: { torch: 'int16', bytes: 2, dtype: 'int32', decode: widen(Int16Array) },
  CharStorage: { torch: 'int8', bytes: 1, dtype: 'int32', decode: widen(Int8Array) },
  ByteStorage: { torch: 'uint8', bytes: 1, dtype: 'int32', decode: widen(Uint8Array) },
  BoolStorage: { torch: 'bool', bytes: 1, dtype: 'int32', decode: widen(Uint8Array) },
};

/** One storage of a file: its element type and where its bytes are, fetched (and decoded) on first use. */
class Storage {
  private decoded: TypedArray | null = null;

  constructor(readonly kind: StorageKind, readonly key: string, readonly numel: number, private readonly bytes: () => Uint8Array) {}

  /** Every element, in the engine dtype; `what` names the tensor in errors. */
  values(what: string): TypedArray {
    if (!this.decoded) {
      const bytes = this.bytes();
      if (bytes.byteLength !== this.numel * this.kind.bytes) {
        throw new UserError(`${what}: storage '${this.key}' has ${bytes.byteLength} bytes, ${this.numel} ${this.kind.torch} elements need ${this.numel * this.kind.bytes}`);
      }
      const decoded = this.kind.decode(new Uint8Array(bytes).buffer);
      if (typeof decoded === 'string') throw new UserError(`${what}: ${decoded}`);
      this.decoded = decoded;
    }
    return this.decoded;
  }
}

/** A tensor as pickled: a view of `storage` starting at element `offset`, with `shape` and `stride` in elements. */
export class PthTensor {
  constructor(private readonly storage: Storage, readonly offset: number, readonly shape: readonly number[], readonly stride: readonly number[]) {}

  /** PyTorch's dtype name ('float32', 'float16', 'int64', ...). */
  get torchDtype(): string {
    return this.storage.kind.torch;
  }

  /** The engine dtype it is read as. */
  get dtype(): DType {
    return this.storage.kind.dtype;
  }

  /** The elements in row-major order, copied out of the storage; `what` names the tensor in errors. */
  read(what: string): TensorData {
    const count = sizeOf(this.shape);
    const { offset, shape, stride } = this;
    const source = this.storage.values(what);
    // The last element the view touches must lie inside the storage (strides are never negative in PyTorch).
    const last = count === 0 ? offset - 1 : offset + shape.reduce((sum, n, i) => sum + (n - 1) * stride[i]!, 0);
    if (last >= this.storage.numel) {
      throw new UserError(`${what}: the view (offset ${offset}, shape [${shape}], stride [${stride}]) reaches element ${last} of a storage of ${this.storage.numel}`);
    }
    const contiguous = shape.every((n, i) => n === 1 || stride[i] === sizeOf(shape.slice(i + 1)));
    if (contiguous) return { dtype: this.dtype, shape, data: source.slice(offset, offset + count) };
    const data = typedArrayFor(this.dtype, count); // broadcast views (stride 0) hold more elements than their storage
    const index = shape.map(() => 0);
    let at = offset;
    for (let i = 0; i < count; i++) {
      data[i] = source[at]!;
      // An odometer over the shape, last axis fastest: step one axis, rewind those after it.
      for (let axis = shape.length - 1; axis >= 0; axis--) {
        at += stride[axis]!;
        if (++index[axis]! < shape[axis]!) break;
        at -= shape[axis]! * stride[axis]!;
        index[axis] = 0;
      }
    }
    return { dtype: this.dtype, shape, data };
  }
}

// ---- the unpickler's allowlist ------------------------------------------------------------------------------------

const isCounts = (v: PyValue): v is number[] => Array.isArray(v) && v.every(isCount);

function rebuildTensor(args: readonly PyValue[]): PthTensor {
  const [storage, offset, shape, stride] = args;
  if (!(storage instanceof Storage) || !isCount(offset!) || !isCounts(shape!) || !isCounts(stride!) || shape.length !== stride.length) {
    throw new UserError('a tensor is not (storage, offset, size, stride)');
  }
  return new PthTensor(storage, offset, shape, stride);
}

/** The globals a state dict or an mmdetection checkpoint needs; every other name is refused by the unpickler. */
function findGlobal(module: string, name: string): PyCallable | undefined {
  const plain = PLAIN_GLOBALS[`${module}.${name}`];
  if (plain) return plain;
  if (module === 'torch._utils') {
    // v2 appends requires_grad, backward hooks and metadata, which a reader of values ignores.
    if (name === '_rebuild_tensor_v2' || name === '_rebuild_tensor') return rebuildTensor;
    if (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state') {
      return ([data]) => {
        if (!(data instanceof PthTensor)) throw new UserError('a parameter does not hold a tensor');
        return data;
      };
    }
  }
  // Plain values some tensor pickles carry: a layout's name (torch.sparse_coo), a size (a tuple).
  if (module === 'torch.serialization' && name === '_get_layout') return ([layout]) => layout!;
  if (module === 'torch' && name === 'Size') return ([dims]) => dims ?? [];
  // Storage types appear only inside persistent ids, where kindOf says which are read.
  if (module === 'torch' && /^\w+Storage$/.test(name)) return storageType(name);
  // Other tensor layouts (quantized, sparse, nested, ...) are harmless but not read: say so, not "may run code".
  if (module === 'torch._utils' && name.startsWith('_rebuild_')) {
    return () => {
      throw new UserError(`holds a tensor that torch._utils.${name} would rebuild; only dense tensors are read`);
    };
  }
  return undefined;
}

const STORAGE_TYPE = Symbol('storage type');
function storageType(name: string): PyCallable {
  return Object.assign(() => {
    throw new UserError(`torch.${name} is only read inside a storage reference`);
  }, { [STORAGE_TYPE]: name });
}

/** The storage kind a persistent id names, or a refusal naming what it is. */
function kindOf(type: PyValue, source: string): StorageKind {
  const name = typeof type === 'function' ? (type as unknown as Record<symbol, string>)[STORAGE_TYPE] : undefined;
  if (name === undefined) throw new UserError(`${source}: a storage reference names no storage type`);
  const kind = STORAGE_KINDS[name];
  if (!kind) {
    const readable = Object.values(STORAGE_KINDS).map((k) => k.torch).join(', ');
    throw new UserError(`${source}: holds a torch.${name}, which is not read (readable dtypes: ${readable})`);
  }
  return kind;
}

function storageId(pid: PyValue, source: string, length: number): PyValue[] {
  if (!Array.isArray(pid) || pid[0] !== 'storage') {
    const what = Array.isArray(pid) && typeof pid[0] === 'string' ? `a '${pid[0]}'` : 'an unknown';
    throw new UserError(`${source}: ${what} persistent id (only tensor storages are read; a pickled module or other object is not)`);
  }
  if (pid.length < length || typeof pid[2] !== 'string' || !isCount(pid[4]!)) throw new UserError(`${source}: a storage reference is malformed`);
  return pid;
}

// ---- the two layouts ------------------------------------------------------------------------------------------------

/** The object a zip-format checkpoint holds, with tensors as `PthTensor`s. */
function readZipCheckpoint(bytes: Uint8Array, source: string): PyValue {
  const zip = new ZipArchive(bytes, source);
  const pickles = zip.names().filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw new UserError(`${source}: a zip archive but not a PyTorch checkpoint (expected one NAME/data.pkl entry, found ${pickles.length ? pickles.join(', ') : 'none'})`);
  }
  const root = pickles[0]!.slice(0, -'data.pkl'.length);
  if (zip.has(`${root}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${root}byteorder`)).trim();
    if (order !== 'little') throw new UserError(`${source}: written on a ${order}-endian machine; only little-endian checkpoints are read`);
  }
  const storages = new Map<string, Storage>();
  return unpickle(zip.read(pickles[0]!), {
    source,
    findGlobal,
    persistentLoad: (pid) => {
      const [, type, key, , numel] = storageId(pid, source, 5) as [string, PyValue, string, string, number];
      let storage = storages.get(key);
      if (!storage) {
        const entry = `${root}data/${key}`;
        if (!zip.has(entry)) throw new UserError(`${source}: storage '${key}' is missing (no entry ${entry}; truncated?)`);
        storage = new Storage(kindOf(type, source), key, numel, () => zip.read(entry));
        storages.set(key, storage);
      }
      return storage;
    },
  }).value;
}

/** The magic number the legacy format starts with, and the only format version it had. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_VERSION = 1001;

/** The object a pre-1.6 checkpoint holds. */
function readLegacyCheckpoint(bytes: Uint8Array, source: string): PyValue {
  const plain = { source, findGlobal: (module: string, name: string) => PLAIN_GLOBALS[`${module}.${name}`] };
  const magic = unpickle(bytes, plain);
  if (magic.value !== LEGACY_MAGIC) throw new UserError(`${source}: a pickle, but not a PyTorch checkpoint (it does not start with torch.save's magic number)`);
  const version = unpickle(bytes, { ...plain, offset: magic.end });
  if (version.value !== LEGACY_VERSION) throw new UserError(`${source}: legacy PyTorch format version ${String(version.value)} (only ${LEGACY_VERSION} is read)`);
  const sysInfo = unpickle(bytes, { ...plain, offset: version.end });
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new UserError(`${source}: written on a big-endian machine; only little-endian checkpoints are read`);
  }

  // Storages are read after the object: their bytes follow the key list at the end of the file.
  const located = new Map<string, Uint8Array>();
  const roots = new Map<string, { kind: StorageKind; numel: number }>();
  const views = new Map<string, Storage>();
  const main = unpickle(bytes, {
    source,
    findGlobal,
    offset: sysInfo.end,
    persistentLoad: (pid) => {
      // ('storage', type, root key, location, root element count, view or None); a view is (key, offset, count).
      const [, type, key, , numel, view] = storageId(pid, source, 6) as [string, PyValue, string, string, number, PyValue];
      const kind = kindOf(type, source);
      roots.set(key, { kind, numel });
      const [viewKey, start, count] = Array.isArray(view) ? (view as [string, number, number]) : [key, 0, numel];
      if (typeof viewKey !== 'string' || !isCount(start) || !isCount(count)) throw new UserError(`${source}: a storage view is malformed`);
      let storage = views.get(viewKey);
      if (!storage) {
        storage = new Storage(kind, viewKey, count, () => {
          const data = located.get(key);
          if (!data) throw new UserError(`${source}: storage '${key}' is missing from the file`);
          return data.subarray(start * kind.bytes, (start + count) * kind.bytes);
        });
        views.set(viewKey, storage);
      }
      return storage;
    },
  });
  const keys = unpickle(bytes, { ...plain, offset: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new UserError(`${source}: the storage key list is malformed`);
  let at = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value as string[]) {
    const root = roots.get(key);
    if (!root) throw new UserError(`${source}: storage '${key}' is listed but no tensor uses it`);
    if (at + 8 > bytes.byteLength) throw new UserError(`${source}: truncated (storage '${key}' is missing)`);
    const numel = Number(view.getBigInt64(at, true));
    const end = at + 8 + numel * root.kind.bytes;
    if (numel !== root.numel) throw new UserError(`${source}: storage '${key}' holds ${numel} elements, its reference says ${root.numel}`);
    if (end > bytes.byteLength) {
      const missing = end - bytes.byteLength;
      throw new UserError(`${source}: truncated (storage '${key}' lacks its last ${missing} byte${missing === 1 ? '' : 's'})`);
    }
    located.set(key, bytes.subarray(at + 8, end));
    at = end;
  }
  return main.value;
}

// ---- the public face --------------------------------------------------------------------------------------------------

/** Whether `bytes` start like a PyTorch checkpoint: a zip archive, or a protocol-2 pickle (the legacy format). */
export const looksLikePth = (bytes: Uint8Array): boolean => isZip(bytes) || (bytes[0] === 0x80 && bytes[1] === 0x02);

/** The object a `.pth` file holds: dicts as Maps, lists and tuples as arrays, tensors as `PthTensor`s. */
export function parsePth(bytes: Uint8Array, source: string): PyValue {
  if (isZip(bytes)) return readZipCheckpoint(bytes, source);
  if (bytes[0] === 0x80 && bytes[1] === 0x02) return readLegacyCheckpoint(bytes, source);
  if (bytes.byteLength > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new UserError(`${source}: the tar-based format of PyTorch before 0.4 is not read; load and save it again with a newer PyTorch`);
  }
  throw new UserError(`${source}: not a PyTorch checkpoint (expected a zip archive, or a pickle for the pre-1.6 format)`);
}

export interface PthCheckpoint {
  /** The state dict, decoded. */
  tensors: Record<string, TensorData>;
  /** An mmdetection checkpoint's `meta`, as JSON; absent for a bare state dict. */
  meta?: string;
  /** How many tensors of a PyTorch dtype were read as another engine dtype: {'float16 → float32': 3}. */
  converted: Record<string, number>;
}

/**
 * The state dict of a `.pth` file: either the whole object (`torch.save(model.state_dict())`, torchvision's
 * weights) or its `state_dict` entry (mmdetection's `{'meta', 'state_dict', 'optimizer'}`).
 */
export function loadPth(path: string): PthCheckpoint {
  return stateDictOf(parsePth(readUserFile(path), path), path);
}

export function stateDictOf(root: PyValue, source: string): PthCheckpoint {
  if (!(root instanceof Map)) throw new UserError(`${source}: holds ${pythonType(root)}, not a state dict (a dict of tensors, or a checkpoint with a 'state_dict')`);
  const wrapped = root.get('state_dict');
  const state = wrapped instanceof Map ? wrapped : root;
  const tensors: Record<string, TensorData> = Object.create(null);
  const converted: Record<string, number> = {};
  for (const [key, value] of state) {
    if (typeof key !== 'string') throw new UserError(`${source}: the state dict has a key that is not a string (${pythonType(key)})`);
    if (!(value instanceof PthTensor)) {
      const hint = state === root && !root.has('state_dict') ? ` (its keys: ${[...root.keys()].slice(0, 6).map(String).join(', ')}; a checkpoint needs its tensors under 'state_dict')` : '';
      throw new UserError(`${source}: '${key}' in the state dict is ${pythonType(value)}, not a tensor${hint}`);
    }
    tensors[key] = value.read(`${source}: tensor '${key}'`);
    const change = `${value.torchDtype} → ${value.dtype}`;
    if (value.torchDtype !== value.dtype) converted[change] = (converted[change] ?? 0) + 1;
  }
  const meta = state !== root && root.has('meta') ? JSON.stringify(toJson(root.get('meta')!)) : undefined;
  return { tensors, converted, ...(meta !== undefined ? { meta } : {}) };
}

function pythonType(value: PyValue): string {
  if (value === null) return 'None';
  if (value instanceof Map) return 'a dict';
  if (Array.isArray(value)) return Object.isFrozen(value) ? 'a tuple' : 'a list';
  if (value instanceof PthTensor) return 'a tensor';
  if (value instanceof Uint8Array) return 'bytes';
  return `a ${typeof value}`;
}

/** A plain value as JSON: tensors become a {dtype, shape} summary, numbers too large for JSON become strings. */
function toJson(value: PyValue): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value instanceof PthTensor) return { tensor: value.torchDtype, shape: value.shape };
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Set) return [...value].map(toJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [typeof k === 'string' ? k : String(toJson(k)), toJson(v)]));
  return String(value);
}
