/**
 * What the engine's WebGPU device is: `node dist/bench/adapter.js`. Adapter info, the optional features the engine
 * enabled, the limits its kernels size themselves by, and the versions of Node and Dawn, as JSON: the header of
 * a benchmark run on a new machine.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initWebGPU } from '../src/index.js';

const rt = await initWebGPU();
const info = rt.adapterInfo;
const limits = Object.fromEntries(
  ['maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupsPerDimension']
    .map((name) => [name, (rt.limits as unknown as Record<string, number>)[name]]),
);
const dawnPackage = createRequire(import.meta.url).resolve('webgpu/package.json');
process.stdout.write(JSON.stringify({
  description: rt.description,
  vendor: info.vendor,
  architecture: info.architecture,
  device: info.device,
  driver: info.description,
  subgroupSizes: [info.subgroupMinSize, info.subgroupMaxSize],
  cpuAdapter: rt.isCpuAdapter,
  features: rt.features,
  limits,
  node: process.version,
  dawn: `webgpu ${JSON.parse(readFileSync(dawnPackage, 'utf8')).version}`,
  date: new Date().toISOString(),
}, null, 2) + '\n');
rt.destroy();
process.exit(0);
