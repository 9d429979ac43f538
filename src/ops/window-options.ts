/** The (height, width) options of the windowed ops (conv2d, deformConv2d, maxPool2d): an integer or a pair of them. */

export type IntPair = number | readonly [number, number];

/** `value` (or `fallback` when absent) as [h, w], each an integer ≥ `min`; otherwise an error naming the op and option. */
export function intPair(op: string, name: string, value: IntPair | undefined, fallback: number, min: number): [number, number] {
  const pair: readonly number[] = value === undefined ? [fallback, fallback] : typeof value === 'number' ? [value, value] : value;
  if (pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= min)) {
    throw new Error(`${op}: ${name} must be an integer ≥ ${min} or a pair of them, got ${optionValue(value)}`);
  }
  return [pair[0]!, pair[1]!];
}

/** An option's value as given, for an error message: JSON, except that NaN and ±Infinity keep their names (JSON writes null). */
export const optionValue = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `@${v}@` : v))?.replace(/"@(.*?)@"/g, '$1') ?? String(value);
