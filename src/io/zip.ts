/**
 * Reading a zip archive held in memory (PKWARE APPNOTE 6.3), as much of it as PyTorch checkpoints need:
 *
 *   [local header + data]… [central directory] [zip64 end record + locator]? [end of central directory]
 *
 * The central directory at the end is the archive's table of contents: names, sizes, compression methods and
 * where each entry's local header starts. The data starts after that local header, whose extra field may differ
 * in length from the central one (PyTorch pads it so that tensor data is 64-byte aligned), so it is read too.
 * Entries are stored (method 0, what torch.save writes) or deflated (method 8, what re-zipping tools write).
 * Zip64 fields, which replace sizes and offsets that do not fit in 32 bits, are followed; torch writes the zip64
 * end records into every file. Each entry's CRC-32 is checked, as PyTorch does. Encryption, multi-disk archives
 * and other methods are refused.
 *
 * Problems are `UserError`s naming `source`: an archive is the user's input.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { UserError } from '../errors.js';

interface Entry {
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeader: number;
  flags: number;
}

export class ZipArchive {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly bytes: Uint8Array, readonly source: string) {
    this.readCentralDirectory();
  }

  /** Entry names, in the central directory's order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** An entry's contents: a view into the archive when stored, a fresh buffer when deflated. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`no entry '${name}'`);
    const view = this.view();
    const at = entry.localHeader;
    if (at + 30 > this.bytes.byteLength || view.getUint32(at, true) !== LOCAL_HEADER) this.fail(`entry '${name}': no local header at offset ${at}`);
    const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    const end = start + entry.compressedSize;
    if (end > this.bytes.byteLength) this.fail(`entry '${name}' runs past the end of the file (truncated?)`);
    if (entry.flags & 1) this.fail(`entry '${name}' is encrypted`);
    const raw = this.bytes.subarray(start, end);
    let data: Uint8Array;
    if (entry.method === STORED) data = raw;
    else if (entry.method === DEFLATED) {
      try {
        data = inflateRawSync(raw);
      } catch (error) {
        return this.fail(`entry '${name}': deflate data is corrupt (${(error as Error).message})`);
      }
    } else return this.fail(`entry '${name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are read`);
    if (data.byteLength !== entry.size) this.fail(`entry '${name}' holds ${data.byteLength} bytes, its header says ${entry.size}`);
    // A flipped bit in a stored entry changes no length: only the checksum tells (zlib.crc32 needs Node ≥ 20.15).
    if (typeof crc32 === 'function' && crc32(data) !== entry.crc) this.fail(`entry '${name}' is damaged (its CRC-32 does not match)`);
    return data;
  }

  private view(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  private fail(why: string): never {
    throw new UserError(`${this.source}: not a readable zip archive: ${why}`);
  }

  private readCentralDirectory(): void {
    const view = this.view();
    const n = this.bytes.byteLength;
    // The end record is 22 bytes plus a comment of up to 65535 bytes; search backwards for its signature.
    let eocd = -1;
    for (let at = n - 22; at >= Math.max(0, n - 22 - 0xffff); at--) {
      if (view.getUint32(at, true) === END_OF_CENTRAL_DIRECTORY) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) this.fail(n < 22 ? `${n} bytes is too short` : 'no end-of-central-directory record (truncated?)');
    if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) this.fail('multi-disk archives are not supported');
    let count: number = view.getUint16(eocd + 10, true);
    let directorySize: number = view.getUint32(eocd + 12, true);
    let directoryStart: number = view.getUint32(eocd + 16, true);

    // The zip64 locator sits just before the end record and points at the zip64 end record.
    const locator = eocd - 20;
    if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR) {
      const record = this.u64(view, locator + 8, 'the zip64 end record offset');
      if (record + 56 > n || view.getUint32(record, true) !== ZIP64_END_OF_CENTRAL_DIRECTORY) this.fail('the zip64 locator points at no zip64 end record');
      count = this.u64(view, record + 32, 'the entry count');
      directorySize = this.u64(view, record + 40, 'the central directory size');
      directoryStart = this.u64(view, record + 48, 'the central directory offset');
    }
    if (directoryStart + directorySize > n) this.fail(`the central directory (${directorySize} bytes at ${directoryStart}) runs past the end of the file (truncated?)`);

    let at = directoryStart;
    for (let i = 0; i < count; i++) {
      if (at + 46 > n || view.getUint32(at, true) !== CENTRAL_HEADER) this.fail(`central directory entry ${i} is damaged`);
      const nameLength = view.getUint16(at + 28, true);
      const extraLength = view.getUint16(at + 30, true);
      const commentLength = view.getUint16(at + 32, true);
      if (at + 46 + nameLength + extraLength > n) this.fail(`central directory entry ${i} is damaged`);
      const name = new TextDecoder().decode(this.bytes.subarray(at + 46, at + 46 + nameLength));
      const entry: Entry = {
        flags: view.getUint16(at + 8, true),
        method: view.getUint16(at + 10, true),
        crc: view.getUint32(at + 16, true),
        compressedSize: view.getUint32(at + 20, true),
        size: view.getUint32(at + 24, true),
        localHeader: view.getUint32(at + 42, true),
      };
      this.applyZip64(view, at + 46 + nameLength, extraLength, entry, name);
      this.entries.set(name, entry);
      at += 46 + nameLength + extraLength + commentLength;
    }
  }

  /** The zip64 extra field (id 1) holds, in this order, those of size, compressed size and offset that overflowed. */
  private applyZip64(view: DataView, start: number, length: number, entry: Entry, name: string): void {
    for (let at = start; at + 4 <= start + length; ) {
      const id = view.getUint16(at, true);
      const size = view.getUint16(at + 2, true);
      if (id === 1) {
        let field = at + 4;
        const next = (what: string): number => {
          if (field + 8 > at + 4 + size) this.fail(`entry '${name}': the zip64 field lacks ${what}`);
          const value = this.u64(view, field, what);
          field += 8;
          return value;
        };
        if (entry.size === 0xffffffff) entry.size = next('the size');
        if (entry.compressedSize === 0xffffffff) entry.compressedSize = next('the compressed size');
        if (entry.localHeader === 0xffffffff) entry.localHeader = next('the offset');
      }
      at += 4 + size;
    }
  }

  private u64(view: DataView, at: number, what: string): number {
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${value} is out of range`);
    return Number(value);
  }
}

/** Whether `bytes` start like a zip archive (a local file header). */
export const isZip = (bytes: Uint8Array): boolean =>
  bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const STORED = 0;
const DEFLATED = 8;
