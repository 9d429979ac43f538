/**
 * Element types. float64 exists only on the CPU backend, where it makes finite-difference gradient checks
 * meaningful; WGSL has no f64, so the WebGPU backend holds float32, int32 and uint32.
 */
export type DType = 'float32' | 'float64' | 'int32' | 'uint32';
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array;

export function typedArrayFor(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
    case 'int32': return new Int32Array(length);
    case 'uint32': return new Uint32Array(length);
  }
  throw new Error(`dtype '${String(dtype)}' is not one of float32, float64, int32, uint32`);
}

export function toTypedArray(dtype: DType, values: ArrayLike<number>): TypedArray {
  const out = typedArrayFor(dtype, values.length);
  out.set(values);
  return out;
}

export function dtypeOf(array: TypedArray): DType {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int32Array) return 'int32';
  return 'uint32';
}

export const isFloat = (dtype: DType): boolean => dtype === 'float32' || dtype === 'float64';

const INTEGER_RANGE: Partial<Record<DType, readonly [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };

/**
 * Refuses a number that a tensor of `dtype` would not hold as it is: a float holds any number, an integer dtype
 * only the integers in its range (1.5 became 1 in int32, −1 4294967295 in uint32). `dtypeFrom` says where the
 * dtype came from, as the fix lies there.
 */
export function checkHolds(op: string, value: number, dtype: DType, dtypeFrom: string): void {
  const range = INTEGER_RANGE[dtype];
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
    throw new Error(`${op}: the number ${value} is not a value of ${dtype}, ${dtypeFrom}`);
  }
}

export const bytesPerElement = (dtype: DType): number => (dtype === 'float64' ? 8 : 4);

/** The WGSL scalar type a tensor of this dtype is stored as. */
export function wgslType(dtype: DType): 'f32' | 'i32' | 'u32' {
  switch (dtype) {
    case 'float32': return 'f32';
    case 'int32': return 'i32';
    case 'uint32': return 'u32';
    case 'float64': throw new Error('float64 is not available on the webgpu device (WGSL has no f64); use the cpu device');
  }
  // Unchecked, an unknown dtype became 'array<undefined>' in a kernel's WGSL: a compile error at the next read.
  throw new Error(`dtype '${String(dtype)}' is not one of float32, float64, int32, uint32`);
}
