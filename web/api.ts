/** The page's API, `window.smpr`, as the tests see it (types only, and no DOM types, so Node code can import them). */
import type * as T from '../src/browser.js';
import type { FineTuneStep } from './finetune.js';
import type { OpCheckResult } from './op-checks.js';

export type { FineTuneStep, OpCheckResult };

export interface Detection {
  results: T.CocoKeypointResult[];
  /** Milliseconds per stage: preprocess, network (forward + GPU + readback), decode (with NMS), draw, total. */
  timings: Record<string, number>;
}

export interface PageApi {
  /** Resolves when the device and the model are ready (rejects with the message the page shows). */
  ready: Promise<{ adapter: string; limits: Record<string, number>; features: string[] }>;
  detectSynthetic(seed: number): Promise<Detection>;
  /** The latest detection, however it was started (a button, a file, the webcam); null before the first. */
  last: Detection | null;
  runOpChecks(): Promise<OpCheckResult[]>;
  fineTune(steps: number): Promise<FineTuneStep[]>;
}
