// Prints the WebGPU adapter Dawn finds, or exits 1 naming what is missing. Used by setup-vulkan.sh.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter: Dawn found no Vulkan driver');
  process.exit(1);
}
const info = adapter.info ?? {};
console.log(`WebGPU adapter: ${info.vendor || '?'} ${info.architecture || ''} ${info.device || ''} ${info.description || ''}`.replace(/\s+/g, ' ').trim());
process.exit(0);
