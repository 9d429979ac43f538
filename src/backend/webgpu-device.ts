/**
 * Acquiring a WebGPU device through Dawn (the `webgpu` npm package). Dawn needs a Vulkan driver: a real GPU's,
 * or Mesa's software "lavapipe" (>= 23). When none is found the error says how to get one.
 */
import { create, globals } from 'webgpu';

export interface AcquiredDevice {
  /** Dawn's GPU object. It must stay referenced while the device is used: when it is collected, Dawn is torn down. */
  gpu: GPU;
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  features: string[];
}

export const NO_ADAPTER_HELP =
  'no WebGPU adapter found. Dawn needs a Vulkan driver: install your GPU vendor\'s driver, or on Debian 12 run ' +
  '`sudo bash scripts/setup-vulkan.sh` (libvulkan1 + Mesa lavapipe >= 23 from bookworm-backports); on Ubuntu 24.04 ' +
  '`apt install libvulkan1 mesa-vulkan-drivers`.';

/** Features we use when the adapter has them; none is required. */
const WANTED_FEATURES = ['timestamp-query', 'subgroups'] as const;

export async function acquireDevice(): Promise<AcquiredDevice> {
  Object.assign(globalThis, globals);
  // lavapipe complains on stderr without a writable runtime directory.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`webgpu: ${NO_ADAPTER_HELP}`);
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  // Ask for the adapter's own limits: the defaults are far below what real GPUs (and lavapipe) offer.
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  return { gpu, device, adapterInfo: adapter.info, features };
}
