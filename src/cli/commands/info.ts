/** `smpr info`: what a preset builds — parameter counts per part and every level's map at an input size. */
import { PRESETS, type PresetName } from '../../smpr/config.js';
import { SmprModel } from '../../smpr/model.js';
import { formatModelSummary, modelSummary } from '../../smpr/summary.js';
import { defineCommand } from '../args.js';
import { presetConfig } from '../model-io.js';

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'summarise a model preset: parameters (trainable, frozen, buffers) per part and the level shapes at an input size',
  flags: {
    config: { type: 'string', choices: Object.keys(PRESETS), default: 'tiny', description: 'model preset' },
    size: { type: 'number', integer: true, min: 32, description: "input side in pixels, a multiple of 32 (default: the config's training size)", valueName: 'PX' },
    json: { type: 'boolean', description: 'print the summary as JSON' },
  },
  run({ flags }) {
    const config = presetConfig('info', flags.config as PresetName, flags.size);
    // Built on the CPU: counting needs no GPU, and the weights are never used.
    const model = new SmprModel(config, { device: 'cpu' });
    const summary = modelSummary(model, config.inputSize, config.inputSize);
    model.dispose();
    process.stdout.write((flags.json ? JSON.stringify(summary, null, 2) : formatModelSummary(summary)) + '\n');
  },
});
