/** Reading a user's file whole: a file-system failure becomes one line naming the file (a UserError). */
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { isFsError } from './atomic.js';

export function readUserFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    if (isFsError(error) && error.code === 'EISDIR') throw new UserError(`${path}: is a folder, expected a file`);
    if (isFsError(error)) throw new UserError(`cannot read ${path}: ${error.message}`);
    throw error;
  }
}

/**
 * A JSON file's text without the UTF-8 byte-order mark some Windows editors write first, which JSON.parse reads as
 * an unexpected token ('?'); RFC 8259 lets a parser ignore it.
 */
export const withoutBom = (text: string): string => (text.startsWith('\uFEFF') ? text.slice(1) : text);

/** A JSON.parse error as one printable line: V8 quotes the text around the error, which may be binary or span lines. */
export function jsonSyntaxMessage(error: Error): string {
  return error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}
