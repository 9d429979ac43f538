// The page (web/) in headless Chromium, on the browser's WebGPU adapter (SwiftShader here), against the same code
// in Node on Dawn (lavapipe in CI): the shipped model's detections on synthetic images, a few fine-tuning steps,
// the op checks of web/op-checks.ts, a user's mistake, and a screenshot (runs/browser/page.png).
//
// Tolerances: the two adapters run the same WGSL with different tilings, subgroup widths (4 lanes against 8) and
// so summation orders, in float32. Measured here the detections agree to 2e-5 px and 1.5e-7 in score; the
// bounds below (0.01 px, 1e-4) leave room for other adapters while still catching any real change (a wrong
// kernel moves keypoints by pixels, a misread weight drops or adds people).
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { encodePng, generateSynthDataset, predictImage, readCheckpoint, SmprModel, SYNTH_DEFAULTS, webgpu, type CocoKeypointResult } from '../../src/index.js';
import { startWebServer, type WebServer } from '../../src/node/web-server.js';
import { fineTune, type FineTuneStep } from '../../web/finetune.js';
import type { Detection, OpCheckResult, PageApi } from '../../web/api.js';
import { launchChromium } from './chromium.js';
import { SPECIALISE_AFTER } from '../../src/backend/program-cache.js';

const SHIPPED = join(import.meta.dirname, '..', '..', 'weights', 'smpr-tiny-synth.safetensors');
const OUT = join(import.meta.dirname, '..', '..', 'runs', 'browser');
/** Synthetic images of three people each (4266: the page's first image and the screenshot). */
const SEEDS = [4266, 4243];
/**
 * Timed runs per image and side, after warm-up runs that compile the pipelines: the general ones, then those a
 * shape gets from its SPECIALISE_AFTER-th use on (program-cache.ts). The README reports their medians.
 */
const RUNS = 5;
const WARM = SPECIALISE_AFTER;

// The functions given to page.evaluate run in the page; these name its globals for the type checker (no DOM lib here).
declare const window: { smpr: PageApi };
declare const document: any;

let server: WebServer;
let browser: Browser;
let page: Page;
/** Uncaught errors and console errors of the page: any is a failure. */
const pageErrors: string[] = [];

async function nodeModel(): Promise<SmprModel> {
  const saved = readCheckpoint(SHIPPED);
  const model = new SmprModel(saved.info.config, { device: 'webgpu' });
  await model.loadStateDict(saved.model);
  for (const t of saved.model.values()) t.dispose();
  model.train(false);
  return model;
}

const synthetic = (seed: number) => generateSynthDataset({ ...SYNTH_DEFAULTS, images: 1, seed }).images[0]!;

/** Per-stage medians of several runs' timings. */
function medians(runs: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const stage of Object.keys(runs[0]!)) {
    const sorted = runs.map((r) => r[stage]!).sort((a, b) => a - b);
    out[stage] = Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10;
  }
  return out;
}

/** Detections sorted by score, best first (NMS output order is by score already; this makes ties explicit). */
const byScore = (results: readonly CocoKeypointResult[]) => [...results].sort((a, b) => b.score - a.score);

beforeAll(async () => {
  server = await startWebServer(0);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
  await page.goto(server.url);
  await page.evaluate(() => window.smpr.ready);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the page in Chromium', () => {
  it('runs on a WebGPU adapter and reads its limits', async () => {
    const info = await page.evaluate(() => window.smpr.ready);
    console.log(`browser adapter: ${info.adapter}; ${JSON.stringify(info.limits)}; features ${info.features.join(', ')}`);
    expect(info.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(info.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    // The page shows the adapter it found, not the placeholder.
    expect(await page.textContent('#adapter')).toContain('invocations per workgroup');
  });

  it("finds the same people as Node in the shipped model's synthetic images", async () => {
    const model = await nodeModel();
    const timings: Record<string, { browser: Record<string, number>; node: Record<string, number> }> = {};
    try {
      for (const seed of SEEDS) {
        // WARM runs compile the pipelines; the next RUNS are timed, and their per-stage medians reported.
        const browserRuns: Detection[] = [];
        for (let run = 0; run < WARM + RUNS; run++) browserRuns.push(await page.evaluate((s) => window.smpr.detectSynthetic(s), seed));
        const inBrowser = browserRuns.at(-1)!;
        expect(Object.keys(inBrowser.timings)).toEqual(['preprocess', 'network', 'decode', 'draw', 'total']);
        expect(inBrowser.timings.network).toBeGreaterThan(0);
        const nodeRuns: Record<string, number>[] = [];
        let inNode: CocoKeypointResult[] = [];
        for (let run = 0; run < WARM + RUNS; run++) {
          const stages: Record<string, number> = { preprocess: 0, network: 0, decode: 0 };
          const image = synthetic(seed);
          const start = performance.now();
          inNode = await predictImage(model, image, 1, { onStage: (stage, ms) => (stages[stage]! += ms) });
          stages.total = performance.now() - start;
          nodeRuns.push(stages);
        }
        timings[seed] = { browser: medians(browserRuns.slice(WARM).map((r) => r.timings)), node: medians(nodeRuns.slice(WARM)) };

        const a = byScore(inBrowser.results);
        const b = byScore(inNode);
        expect(a.length).toBe(b.length);
        expect(b.filter((p) => p.score > 0.1).length).toBeGreaterThan(0);
        let worstPx = 0;
        let worstScore = 0;
        a.forEach((p, i) => {
          worstScore = Math.max(worstScore, Math.abs(p.score - b[i]!.score));
          p.keypoints.forEach((v, k) => {
            if (k % 3 !== 2) worstPx = Math.max(worstPx, Math.abs(v - b[i]!.keypoints[k]!));
          });
        });
        console.log(`seed ${seed}: ${a.length} detections; worst keypoint difference ${worstPx.toExponential(2)} px, worst score difference ${worstScore.toExponential(2)}`);
        expect(worstPx).toBeLessThan(0.01);
        expect(worstScore).toBeLessThan(1e-4);
      }
    } finally {
      model.dispose();
    }
    console.log(`timings (ms, medians of ${RUNS} warm runs; browser ${(await page.evaluate(() => window.smpr.ready)).adapter} vs Node ${webgpu().description}):\n${JSON.stringify(timings, null, 1)}`);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'timings.json'), JSON.stringify({ browser: (await page.evaluate(() => window.smpr.ready)).adapter, node: webgpu().description, timings }, null, 1));
  });

  it('passes the op checks (WGSL in the page against the CPU reference in the page)', async () => {
    const results: OpCheckResult[] = await page.evaluate(() => window.smpr.runOpChecks());
    for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: worst ${r.worst.toFixed(3)} of tolerance over ${r.values} values`);
    expect(results.length).toBeGreaterThanOrEqual(9);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });

  it('decodes an opened PNG (createImageBitmap, canvas) to the same pixels, so to the same people', async () => {
    const expected: Detection = await page.evaluate((s) => window.smpr.detectSynthetic(s), SEEDS[1]!);
    await page.evaluate(() => (window.smpr.last = null));
    await page.setInputFiles('#file', { name: 'people.png', mimeType: 'image/png', buffer: encodePng(synthetic(SEEDS[1]!)) });
    await page.waitForFunction(() => window.smpr.last !== null);
    const opened: Detection = await page.evaluate(() => window.smpr.last!);
    expect(opened.results).toEqual(expected.results);
  });

  it("shows a user's mistake as one line", async () => {
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await page.waitForFunction(() => document.getElementById('status').classList.contains('error'));
    expect(await page.textContent('#status')).toBe('notes.txt: not an image this browser can decode');
  });

  it('draws the skeletons; the screenshot is runs/browser/page.png', async () => {
    const detection: Detection = await page.evaluate((s) => window.smpr.detectSynthetic(s), SEEDS[0]!);
    const shown = detection.results.filter((p) => p.score > 0.1).length;
    expect(await page.locator('#people li').count()).toBe(shown);
    expect(await page.textContent('#status')).toMatch(new RegExp(`^${shown} (person|people) above 0\\.1`));
    // Limb colours on the canvas: pixels of a saturated hue that the synthetic painter does not use at full value.
    const coloured = await page.evaluate(() => {
      const canvas = document.getElementById('canvas');
      const data: Uint8ClampedArray = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let white = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! === 255 && data[i + 1]! === 255 && data[i + 2]! === 255) white++;
      return { width: canvas.width, height: canvas.height, white };
    });
    expect(coloured.width).toBe(512);
    expect(coloured.white).toBeGreaterThan(100); // the keypoint dots
    mkdirSync(OUT, { recursive: true });
    const path = join(OUT, 'page.png');
    await page.screenshot({ path, fullPage: true });
    expect(statSync(path).size).toBeGreaterThan(20_000);
  });

  it('fine-tunes in the page as in Node (the same losses, step by step)', async () => {
    const steps = 2;
    const inBrowser: FineTuneStep[] = await page.evaluate((n) => window.smpr.fineTune(n), steps);
    const model = await nodeModel();
    try {
      const inNode = await fineTune(model, steps);
      const show = (run: FineTuneStep[]) => run.map((s) => `${s.loss.toFixed(5)} (${s.ms.toFixed(0)} ms)`).join(', ');
      console.log(`fine-tuning losses: browser ${show(inBrowser)}; Node ${show(inNode)}`);
      expect(inBrowser).toHaveLength(steps);
      // The second step's loss is after the first update: it checks backward and AdamW, not only the forward.
      inBrowser.forEach((step, i) => expect(Math.abs(step.loss - inNode[i]!.loss)).toBeLessThan(1e-3 * Math.abs(inNode[i]!.loss)));
    } finally {
      model.dispose();
    }
  });

  it('raised no error in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
