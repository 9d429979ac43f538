/**
 * Acquiring a WebGPU device: in a browser from `navigator.gpu`, in Node through Dawn (the `webgpu` npm package,
 * src/node/dawn.ts). Dawn needs a Vulkan driver: a real GPU's, or Mesa's software "lavapipe" (>= 23). When no
 * adapter is found the error says how to get one.
 *
 * Dawn is imported dynamically, and only where there is no `navigator.gpu`: a static import would make every
 * module of the engine unloadable in a browser, which has no `webgpu` package to resolve.
 */

export interface AcquiredDevice {
  /** The GPU object (Dawn's, or the browser's). Dawn's must stay referenced while the device is used: when it is collected, Dawn is torn down. */
  gpu: GPU;
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  features: string[];
  /** The GPU object is Dawn's Node binding (no `navigator.gpu` was there). */
  dawn: boolean;
}

const NO_ADAPTER_HELP =
  'no WebGPU adapter found. Dawn needs a Vulkan driver: install your GPU vendor\'s driver, or on Debian 12 run ' +
  '`sudo bash scripts/setup-vulkan.sh` (libvulkan1 + Mesa lavapipe >= 23 from bookworm-backports); on Ubuntu 24.04 ' +
  '`apt install libvulkan1 mesa-vulkan-drivers`.';

const NO_BROWSER_WEBGPU_HELP =
  'this browser offers no WebGPU adapter. Use a recent Chrome or Edge (WebGPU is on by default), or start Chromium ' +
  'with --enable-unsafe-webgpu; the page must be served from https:// or http://localhost.';

/** `navigator.gpu` where the platform has one (browsers, workers); undefined in Node. */
function platformGpu(): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}

const runsOnNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string';

/** Features we use when the adapter has them; none is required. */
const WANTED_FEATURES = ['timestamp-query', 'subgroups'] as const;

export async function acquireDevice(): Promise<AcquiredDevice> {
  const browserGpu = platformGpu();
  // A browser without WebGPU must not fall through to Dawn: its import would fail with a module-resolution error.
  if (!browserGpu && !runsOnNode()) throw new Error(`webgpu: ${NO_BROWSER_WEBGPU_HELP}`);
  const gpu = browserGpu ?? (await import('../node/dawn.js')).createDawnGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`webgpu: ${browserGpu ? NO_BROWSER_WEBGPU_HELP : NO_ADAPTER_HELP}`);
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  // Ask for the adapter's own limits: the defaults are far below what real GPUs (and lavapipe) offer. They differ
  // between adapters (SwiftShader in Chromium: 256 invocations per workgroup and 10 storage buffers per stage;
  // lavapipe: 1024 and 16), so kernels read them from the device (runtime.limits), never assume them.
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
  return { gpu, device, adapterInfo: adapter.info, features, dawn: !browserGpu };
}
