/**
 * A restricted unpickler: reads Python's pickle format (protocols 2 to 5, the binary opcodes) without running
 * anything.
 *
 * A pickle is a program for a small stack machine. Most opcodes build plain values — numbers, strings, bytes,
 * lists, tuples, dicts — but three can run code in Python: GLOBAL / STACK_GLOBAL import any name (`posix.system`),
 * and REDUCE / NEWOBJ / BUILD call or mutate what was imported. That is why loading an untrusted `.pth` with
 * `torch.load` can run arbitrary code. Here nothing is imported: each global is looked up in the caller's
 * allowlist of JavaScript functions, and any other name stops the read with a `UserError` naming it. Opcodes
 * that only make sense with code (INST, OBJ, the extension registry, out-of-band buffers) are refused too.
 *
 * Python values become: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes → Uint8Array, list → array, tuple → frozen array, dict → Map, set → Set, and whatever
 * the allowlisted functions return.
 */
import { UserError } from '../errors.js';

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | Map<PyValue, PyValue> | Set<PyValue> | object;

/** What an allowlisted global does when the pickle calls it (REDUCE, NEWOBJ) with positional arguments. */
export type PyCallable = (args: readonly PyValue[]) => PyValue;

export interface UnpickleOptions {
  /** Names the data in errors: a file, or an entry in one. */
  source: string;
  /** The allowlist: a function for `module.name`, or undefined to refuse it. */
  findGlobal: (module: string, name: string) => PyCallable | undefined;
  /** What a persistent id (BINPERSID) stands for; without it persistent ids are refused. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Where in `bytes` the pickle starts (files may hold several in a row). */
  offset?: number;
}

/**
 * Globals that only build plain values, for any caller's allowlist: OrderedDict (a dict here), and how protocol 2
 * spells bytes and sets (`_codecs.encode(text, 'latin1')`, `builtins.set(list)`; Python 2's module names too).
 */
export const PLAIN_GLOBALS: Readonly<Record<string, PyCallable>> = {
  'collections.OrderedDict': (args) => new Map(Array.isArray(args[0]) ? (args[0] as PyValue[][]).map((pair) => [pair[0]!, pair[1]!]) : []),
  '_codecs.encode': ([text, encoding]) => {
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
      throw new UserError(`_codecs.encode is read only as protocol 2 uses it for bytes (a string and 'latin1'), got encoding ${String(encoding)}`);
    }
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  },
  ...Object.fromEntries(['builtins', '__builtin__'].flatMap((module) => [
    [`${module}.set`, (args: readonly PyValue[]) => new Set(Array.isArray(args[0]) ? args[0] : [])],
    [`${module}.frozenset`, (args: readonly PyValue[]) => Object.freeze(new Set(Array.isArray(args[0]) ? args[0] : []))],
    // Protocol 2 writes b'' as bytes() and every other bytes value through _codecs.encode.
    [`${module}.bytes`, (args: readonly PyValue[]) => {
      if (args.length) throw new UserError(`${module}.bytes is read only without arguments (protocol 2's empty bytes)`);
      return new Uint8Array();
    }],
  ])),
};

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/** A Python tuple: a frozen array, so that APPEND refuses it as Python would. */
const tuple = (items: PyValue[]): PyValue[] => Object.freeze(items) as PyValue[];

/** Decodes one pickle; returns its value and the offset just past its STOP opcode. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): { value: PyValue; end: number } {
  const { source } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new UserError(`${source}: not a readable pickle: ${why}`);
  };
  let at = options.offset ?? 0;
  const need = (n: number): number => {
    if (at + n > bytes.byteLength) fail(`truncated (opcode data runs past byte ${bytes.byteLength})`);
    const start = at;
    at += n;
    return start;
  };
  const u8 = () => bytes[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const value = view.getBigUint64(need(8), true);
    if (value > BigInt(bytes.byteLength)) fail(`a length of ${value} bytes exceeds the data`);
    return Number(value);
  };
  const raw = (n: number) => bytes.subarray(need(n), at);
  const utf8 = (n: number) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw(n));
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('truncated (a line opcode has no newline)');
    const text = new TextDecoder().decode(bytes.subarray(at, end));
    at = end + 1;
    return text;
  };

  const stack: StackItem[] = [];
  const metastack: StackItem[][] = [];
  const memo = new Map<number, PyValue>();
  let current = stack;

  const push = (v: StackItem) => void current.push(v);
  const pop = (): PyValue => {
    if (current.length === 0) fail('stack underflow');
    const v = current.pop()!;
    if (v === MARK) fail('unexpected mark');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = current.at(-1);
    if (v === undefined || v === MARK) return fail('stack underflow');
    return v;
  };
  /** The items pushed since the last MARK, which is removed. */
  const popMark = (): PyValue[] => {
    const items = current as PyValue[];
    if (metastack.length === 0) fail('no mark to pop to');
    current = metastack.pop()!;
    return items;
  };
  const global = (module: string, name: string): PyCallable => {
    const found = options.findGlobal(module, name);
    if (!found) {
      throw new UserError(`${source}: refusing to load global '${module}.${name}': .pth files may run code; only tensors, dicts, lists, numbers and strings are read`);
    }
    return found;
  };
  const call = (f: PyValue, args: PyValue, opcode: string): PyValue => {
    if (typeof f !== 'function') fail(`${opcode} of something that is not an allowed global`);
    if (!Array.isArray(args)) fail(`${opcode} arguments are not a tuple`);
    try {
      return (f as PyCallable)(args as PyValue[]);
    } catch (error) {
      // An allowlisted function refusing its arguments speaks of the file it was reading.
      if (error instanceof UserError && !error.message.startsWith(source)) throw new UserError(`${source}: ${error.message}`);
      throw error;
    }
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (dict as Map<PyValue, PyValue>).set(items[i]!, items[i + 1]!);
  };
  const append = (list: PyValue, items: PyValue[]) => {
    if (!Array.isArray(list) || Object.isFrozen(list)) fail('APPEND(S) on something that is not a list');
    (list as PyValue[]).push(...items);
  };
  const integer = (data: Uint8Array): number | bigint => {
    // Two's complement, little-endian, of any length (LONG1, LONG4).
    let value = 0n;
    for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i]!);
    if (data.length && data[data.length - 1]! & 0x80) value -= 1n << BigInt(8 * data.length);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  for (;;) {
    const opcode = u8();
    switch (opcode) {
      case 0x80: { // PROTO
        const protocol = u8();
        if (protocol < 2 || protocol > 5) fail(`pickle protocol ${protocol} (protocols 2 to 5 are read)`);
        break;
      }
      case 0x95: need(8); break; // FRAME: a length hint for buffered readers
      case 0x2e: { // STOP
        if (metastack.length) fail('a mark is still open at STOP');
        return { value: pop(), end: at };
      }
      // Constants and numbers.
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(integer(raw(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0) fail('LONG4 with a negative length');
        push(integer(raw(n)));
        break;
      }
      case 0x47: push(view.getFloat64(need(8), false)); break; // BINFLOAT: big-endian
      // Strings and bytes.
      case 0x8c: push(utf8(u8())); break; // SHORT_BINUNICODE
      case 0x58: push(utf8(u32())); break; // BINUNICODE
      case 0x8d: push(utf8(u64())); break; // BINUNICODE8
      case 0x43: push(raw(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: push(raw(u32()).slice()); break; // BINBYTES
      case 0x8e: push(raw(u64()).slice()); break; // BINBYTES8
      case 0x96: push(raw(u64()).slice()); break; // BYTEARRAY8
      case 0x55: push(new TextDecoder('latin1').decode(raw(u8()))); break; // SHORT_BINSTRING (Python 2 str)
      case 0x54: push(new TextDecoder('latin1').decode(raw(u32()))); break; // BINSTRING
      // Containers.
      case 0x28: metastack.push(current); current = []; break; // MARK
      case 0x31: popMark(); break; // POP_MARK
      case 0x30: pop(); break; // POP
      case 0x32: push(top()); break; // DUP
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x74: push(tuple(popMark())); break; // TUPLE
      case 0x85: push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); push(tuple([pop(), b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); push(tuple([pop(), b, c])); break; } // TUPLE3
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x61: { const item = pop(); append(top(), [item]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x64: { const dict = new Map(); setItems(dict, popMark()); push(dict); break; } // DICT
      case 0x73: { const value = pop(); const key = pop(); setItems(top(), [key, value]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x90: { // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail('ADDITEMS on something that is not a set');
        for (const item of items) (set as Set<PyValue>).add(item);
        break;
      }
      case 0x91: push(Object.freeze(new Set(popMark()))); break; // FROZENSET
      // The memo: values to be referred to again (shared objects).
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const index = opcode === 0x68 ? u8() : u32();
        if (!memo.has(index)) fail(`memo entry ${index} is read before it is written`);
        push(memo.get(index)!);
        break;
      }
      // Names and calls: only through the allowlist.
      case 0x63: { const module = line(); push(global(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL of something that is not a name');
        push(global(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); push(call(pop(), args, 'REDUCE')); break; } // REDUCE
      case 0x81: { const args = pop(); push(call(pop(), args, 'NEWOBJ')); break; } // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        if (!(kwargs instanceof Map) || kwargs.size) fail('NEWOBJ_EX with keyword arguments');
        push(call(pop(), args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: { // BUILD: sets an object's state. Only a dict's own attributes (OrderedDict's _metadata) are seen.
        pop();
        if (!(top() instanceof Map)) fail('BUILD of an object that is not a dict');
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('a persistent id outside a PyTorch archive');
        push(options.persistentLoad!(pid));
        break;
      }
      default: {
        const name = REFUSED[opcode];
        fail(name ? `opcode ${name} is not supported` : `unknown opcode 0x${opcode.toString(16).padStart(2, '0')} at byte ${at - 1}`);
      }
    }
  }
}

/** Opcodes of protocols 0 and 1 and those that need Python: named in the error. */
const REFUSED: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
  0x50: 'PERSID (protocol 0)', 0x49: 'INT (protocol 0)', 0x4c: 'LONG (protocol 0)', 0x46: 'FLOAT (protocol 0)',
  0x53: 'STRING (protocol 0)', 0x56: 'UNICODE (protocol 0)', 0x67: 'GET (protocol 0)', 0x70: 'PUT (protocol 0)',
};
