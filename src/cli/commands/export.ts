/** Strips a training checkpoint down to what inference needs: the weights, the config and the step. */
import { statSync } from 'node:fs';
import { saveCheckpoint } from '../../train/checkpoint.js';
import { defineCommand, refuseEmptyPaths } from '../args.js';
import { CONFIG_FOR_WEIGHTS_FLAG, loadCheckpointModel } from '../model-io.js';
import { prepareFileFor, refuseOverwrite } from '../../io/folders.js';

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'write a weights-only copy of a checkpoint (no optimizer state), for predict and eval',
  flags: {
    weights: { type: 'string', required: true, description: 'checkpoint written by smpr train, or a .pth of the authors\' mmdet SMPR with --config', valueName: 'FILE' },
    config: CONFIG_FOR_WEIGHTS_FLAG,
    out: { type: 'string', required: true, description: 'the weights-only .safetensors file to write', valueName: 'FILE' },
  },
  async run({ flags }) {
    refuseEmptyPaths('export', { weights: flags.weights });
    prepareFileFor('--out', flags.out);
    refuseOverwrite('--out', flags.out, flags.weights);
    const { model, info } = await loadCheckpointModel(flags.weights, flags.config);
    await saveCheckpoint(flags.out, model, null, { step: info.step, seed: info.seed, config: info.config });
    process.stdout.write(`${flags.out}: ${info.config.name} weights after ${info.step} iterations, ${(statSync(flags.out).size / 1e6).toFixed(2)} MB\n`);
  },
});
