/**
 * A PyTorch checkpoint as safetensors, under the same names: torchvision's weights for --backbone-weights, or the
 * state dict of an mmdetection checkpoint (whose `meta` goes into the metadata as JSON). The result can be read
 * by anything that reads safetensors, and never again needs the pickle reader.
 */
import { loadPth } from '../../io/pth.js';
import { saveSafetensors } from '../../io/safetensors.js';
import { prepareFileFor, refuseOverwrite } from '../../io/folders.js';
import { defineCommand, refuseEmptyPaths } from '../args.js';

export const convertCommand = defineCommand({
  name: 'convert',
  summary: 'write the state dict of a PyTorch checkpoint (.pth: torchvision weights, an mmdet checkpoint) as safetensors, names kept',
  flags: {},
  positionals: [
    { name: 'IN', description: 'the PyTorch checkpoint (zip or pre-1.6 format; nothing in it is executed)' },
    { name: 'OUT', description: 'the .safetensors file to write' },
  ],
  run({ positionals: [input, output] }) {
    refuseEmptyPaths('convert', { IN: input });
    prepareFileFor('OUT', output!);
    refuseOverwrite('OUT', output!, input!);
    const checkpoint = loadPth(input!);
    saveSafetensors(output!, checkpoint.tensors, checkpoint.meta !== undefined ? { meta: checkpoint.meta } : {});
    const tensors = Object.values(checkpoint.tensors);
    const bytes = tensors.reduce((sum, t) => sum + t.data.byteLength, 0);
    const converted = Object.entries(checkpoint.converted).map(([change, n]) => `${change} (${n} tensor${n === 1 ? '' : 's'})`);
    process.stdout.write(`${output}: ${tensors.length} tensors, ${bytes} bytes of data${checkpoint.meta !== undefined ? ', meta in the metadata' : ''}\n`);
    // The engine has no 16-bit or 64-bit types: say what was widened or narrowed (exactly, see src/io/pth.ts).
    if (converted.length) process.stdout.write(`converted: ${converted.join(', ')}\n`);
  },
});
