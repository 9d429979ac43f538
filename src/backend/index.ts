import type { Device } from '../tensor/storage.js';
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu-backend.js';
import { webgpuBackend } from './webgpu-backend.js';

export function backendFor(device: Device): Backend {
  return device === 'cpu' ? cpuBackend : webgpuBackend;
}

export type { Backend };
