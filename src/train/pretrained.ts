/**
 * Pretrained backbone weights from a user's file — safetensors, or a PyTorch checkpoint such as torchvision's
 * `resnet18-*.pth` (src/io/tensor-file.ts tells the two apart by their first bytes) — with torchvision's ResNet
 * names (`conv1.weight`, `bn1.running_var`, `layer2.0.downsample.0.weight`, ...), or mmdetection's HRNet names for
 * the HRNet presets (`transition1.1.0.0.weight`, `stage4.2.fuse_layers.3.0.2.1.running_var`, ...). mmdet-style keys
 * (`backbone.conv1.weight`) are accepted too; in a whole detector's checkpoint only the backbone is taken. The
 * classifier (`fc.*`) has no place in a detector and is skipped; any other key that does not fit the backbone —
 * or a backbone tensor the file lacks — is an error naming the keys, before anything is loaded.
 */
import { loadTensorFile } from '../io/tensor-file.js';
import { UserError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { SmprModel } from '../smpr/model.js';

export async function loadBackboneWeights(model: SmprModel, path: string): Promise<{ loaded: number; skipped: string[] }> {
  const file = loadTensorFile(path);
  const weights = new Map<string, Tensor>();
  const skipped: string[] = [];
  const detector = Object.keys(file.tensors).some((key) => key.startsWith('backbone.'));
  for (const [key, t] of Object.entries(file.tensors)) {
    const name = key.startsWith('backbone.') ? key.slice('backbone.'.length) : key;
    if (name.startsWith('fc.') || (detector && name === key)) skipped.push(key);
    else weights.set(name, tensor(t.data, [...t.shape], { dtype: t.dtype, device: 'cpu' }));
  }
  try {
    await model.backbone.loadStateDict(weights);
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^loadStateDict \(\w+\): /, '') : String(error);
    const names = model.config.depth === 'hrnet' ? "mmdetection's HRNet names" : "torchvision's ResNet names";
    throw new UserError(`${path}: does not fit the ${model.config.name} backbone (${names} expected): ${reason}`);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  return { loaded: weights.size, skipped };
}
