/**
 * A few steps of fine-tuning, for the page: the trainer's own step (src/train/step.ts: forward with the heatmap
 * branch, the five losses, backward, gradient clipping, the fused AdamW update) after the reference's augmentation
 * at the model's input size and the targets, on fresh synthetic batches. No DOM here, so the browser tests run the
 * same steps in Node and compare the losses.
 */
import * as T from '../src/browser.js';

export interface FineTuneStep {
  loss: number;
  ms: number;
}

/** `steps` AdamW steps on `model` (changed in place); calls `onStep` after each with its loss and time. */
export async function fineTune(model: T.SmprModel, steps: number, onStep: (step: FineTuneStep) => void = () => {}, batchSize = 4): Promise<FineTuneStep[]> {
  const config = model.config;
  const transform = T.trainTransformOptions(config);
  // Twice the images needed: a crop that keeps nobody is skipped, as the trainer skips it.
  const data = T.generateSynthDataset({ ...T.SYNTH_DEFAULTS, images: steps * batchSize * 2, seed: 777 });
  const samples = data.images.map((image, i) => ({ image, people: T.toTrainingPeople(data.coco.annotations.filter((a) => a.image_id === data.coco.images[i]!.id)) }));
  const rng = new T.Random(7);
  const params = model.trainableParameters();
  const optimizer = new T.AdamW(params, { lr: 2e-4 });
  const done: FineTuneStep[] = [];
  model.train(true);
  try {
    let next = 0;
    for (let step = 0; step < steps; step++) {
      const start = performance.now();
      const inputs: NonNullable<ReturnType<typeof T.trainTransform>>[] = [];
      while (inputs.length < batchSize && next < samples.length) {
        const input = T.trainTransform(samples[next++]!, transform, rng);
        if (input) inputs.push(input);
      }
      const batch = T.makeBatch(inputs.map((i) => i.image));
      const targets = T.buildBatchTargets(inputs.map((i) => i.people), batch.height, batch.width, config.levels, config.keypoints);
      const stats = T.trainStep({ config, model, params, optimizer, device: 'webgpu', clipNorm: T.gradClipOf(config) }, batch, targets);
      const total = stats.total;
      const loss = await total.item();
      T.dispose(Object.values(stats));
      const record = { loss, ms: performance.now() - start };
      done.push(record);
      onStep(record);
    }
  } finally {
    optimizer.dispose();
    model.train(false);
  }
  return done;
}
