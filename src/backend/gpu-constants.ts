/**
 * WebGPU's flag constants. They live on globals that Dawn (src/node/dawn.ts) or the browser installs, so they are
 * read when used, and importing the runtime needs no device.
 */
export const bufferUsage = (): typeof GPUBufferUsage => (globalThis as any).GPUBufferUsage;
export const mapMode = (): typeof GPUMapMode => (globalThis as any).GPUMapMode;
