import type { Device } from '../tensor/storage.js';
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu-backend.js';
import { webgpuBackend } from './webgpu-backend.js';

export function backendFor(device: Device): Backend {
  if (device === 'cpu') return cpuBackend;
  if (device === 'webgpu') return webgpuBackend;
  throw new Error(`device '${String(device)}' is not one of cpu, webgpu`);
}

export type { Backend };
