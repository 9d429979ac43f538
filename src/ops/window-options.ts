/** The (height, width) options of the windowed ops (conv2d, deformConv2d, maxPool2d): an integer or a pair of them. */

export type IntPair = number | readonly [number, number];

/** `value` (or `fallback` when absent) as [h, w], each an integer ≥ `min`; otherwise an error naming the op and option. */
export function intPair(op: string, name: string, value: IntPair | undefined, fallback: number, min: number): [number, number] {
  const pair: readonly number[] = value === undefined ? [fallback, fallback] : typeof value === 'number' ? [value, value] : value;
  if (pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= min)) {
    throw new Error(`${op}: ${name} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(value)}`);
  }
  return [pair[0]!, pair[1]!];
}
