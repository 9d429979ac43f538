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

/**
 * An option's value as given, for a one-line error message: JSON, except that NaN and ±Infinity keep their names
 * (JSON writes null), an object of a class (a tensor, a module, a typed array) is named by its class, not dumped,
 * and the whole is cut at OPTION_CHARS.
 */
export function optionValue(value: unknown): string {
  const named = (_key: string, v: unknown): unknown => {
    if (typeof v === 'number' && !Number.isFinite(v)) return `@${v}@`;
    if (typeof v === 'bigint') return `@${v}n@`;
    const kind = typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.getPrototypeOf(v)?.constructor?.name : undefined;
    return kind && kind !== 'Object' ? `@${kind}@` : v;
  };
  let text: string;
  try {
    text = JSON.stringify(value, named)?.replace(/"@(.*?)@"/g, '$1') ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > OPTION_CHARS ? `${text.slice(0, OPTION_CHARS)}…` : text;
}

const OPTION_CHARS = 200;

/**
 * Refuses an option `op` does not take: PyTorch's names for what this engine lacks (a pool's `dilation` or
 * `ceilMode`) would otherwise be ignored, and the result be silently other than asked for.
 */
export function checkOptionNames(op: string, options: object | null | undefined, known: readonly string[]): void {
  for (const name of Object.keys(options ?? {})) {
    if (!known.includes(name)) throw new Error(`${op}: unknown option '${name}'; it takes ${known.join(', ')}`);
  }
}
