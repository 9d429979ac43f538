/**
 * The kernel contract. A kernel builder is a pure function of shapes, dtypes and a `DeviceInfo`; it returns a
 * `Program`, which is everything one dispatch needs except the buffers. Ops bind tensors to programs with
 * `launch` (backend/launch.ts), in the order the WGSL declares its storage bindings; the `Params` uniform, if
 * any, takes the binding after them. So a kernel can be read, and tested, without a device.
 */

/** What a kernel builder may know of the device. */
export interface DeviceInfo {
  /**
   * A software adapter (lavapipe, SwiftShader): each workgroup has a fixed cost, and one subgroup is a CPU core's
   * SIMD lanes rather than a GPU warp, so grids are smaller and schedules differ.
   */
  readonly cpu: boolean;
  /** The WGSL `subgroups` extension is enabled. */
  readonly subgroups: boolean;
  /** The smallest subgroup size the adapter reports (0 when it reports none). */
  readonly lanes: number;
  /**
   * The adapter's architecture as it reports it ('swiftshader': Chromium's software adapter, whose shader compiler
   * is slow on big register blocks); absent or empty when it reports none.
   */
  readonly architecture?: string;
  readonly limits: {
    readonly maxStorageBufferBindingSize: number;
    readonly maxStorageBuffersPerShaderStage: number;
    readonly maxComputeWorkgroupStorageSize: number;
    readonly maxComputeInvocationsPerWorkgroup: number;
  };
}

/**
 * How a kernel that comes in two forms takes its shape: as parameters (`general`: one pipeline for every shape) or
 * written into the WGSL as constants (`specialised`: one pipeline per shape, its index arithmetic folded).
 */
export type ProgramForm = 'general' | 'specialised';

/** One dispatch: its WGSL (also the pipeline-cache key), its uniform words and its grid. */
export interface Program {
  /** Names the kernel in error messages and profiles. */
  readonly label: string;
  readonly code: string;
  /** Raw 32-bit words of the `Params` uniform, if the kernel declares one. */
  readonly params?: Uint32Array;
  readonly workgroups: [number, number?, number?];
}
