/**
 * The page: the shipped SMPR model on WebGPU in the browser. It loads the weights over HTTP, finds people in a
 * synthetic image (the project's own generator, run here), an opened or dropped file, or webcam frames, draws the
 * skeletons on a canvas and shows how long each stage took; and it can fine-tune the model for a few steps.
 *
 * Everything the model does comes from dist/src/browser.js, the same code Node runs; only the image decoding
 * (createImageBitmap, canvas) and the drawing are the browser's. `window.smpr` is the page's API for the tests
 * (test-browser/), which drive it in headless Chromium.
 */
import * as T from '../src/browser.js';
import type { Detection, FineTuneStep, PageApi } from './api.js';
import { fineTune } from './finetune.js';
import { runOpChecks } from './op-checks.js';

const WEIGHTS_URL = new URL('../weights/smpr-tiny-synth.safetensors', document.baseURI);
/** The canvas's longest side, in CSS pixels: a 128² synthetic image is drawn 4× larger. */
const VIEW_SIZE = 512;

declare global {
  interface Window {
    smpr: PageApi;
  }
}

const $ = <E extends HTMLElement>(id: string): E => document.getElementById(id) as E;
const canvas = $<HTMLCanvasElement>('canvas');
const status = $('status');

/** The one line the user reads: progress, or what went wrong (a user's mistake is a sentence, not a stack). */
function say(message: string, error = false): void {
  status.textContent = message;
  status.classList.toggle('error', error);
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

let model: T.SmprModel | null = null;
let shown: { image: T.Image; results: T.CocoKeypointResult[] } | null = null;
/** One model call at a time: the webcam loop, a click and a test must not interleave on the device. */
let busy: Promise<unknown> = Promise.resolve();
const serially = <R>(fn: () => Promise<R>): Promise<R> => {
  const next = busy.then(fn, fn);
  busy = next.catch(() => undefined);
  return next;
};

// ---- start-up -----------------------------------------------------------------------------------------------

async function start(): Promise<Awaited<PageApi['ready']>> {
  say('Acquiring a WebGPU device…');
  const runtime = await T.initWebGPU();
  const l = runtime.limits;
  const limits = {
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
  };
  $('adapter').textContent = `${runtime.description || 'an unnamed adapter'} (${limits.maxComputeInvocationsPerWorkgroup} invocations per workgroup, ${limits.maxStorageBuffersPerShaderStage} storage buffers per stage${runtime.features.includes('subgroups') ? ', subgroups' : ''})`;

  say('Loading the shipped weights…');
  const response = await fetch(WEIGHTS_URL);
  if (!response.ok) throw new T.UserError(`${WEIGHTS_URL.pathname}: HTTP ${response.status} ${response.statusText}`);
  const saved = T.parseCheckpoint(new Uint8Array(await response.arrayBuffer()), WEIGHTS_URL.pathname);
  model = new T.SmprModel(saved.info.config, { device: 'webgpu' });
  try {
    await model.loadStateDict(saved.model);
  } finally {
    for (const t of saved.model.values()) t.dispose();
    for (const t of Object.values(saved.optimizer)) t.dispose();
  }
  model.train(false);
  for (const id of ['controls', 'train-controls']) $<HTMLFieldSetElement>(id).disabled = false;
  return { adapter: runtime.description, limits, features: [...runtime.features] };
}

// ---- detection ----------------------------------------------------------------------------------------------

function syntheticImage(seed: number): T.Image {
  return T.generateSynthDataset({ ...T.SYNTH_DEFAULTS, images: 1, seed }).images[0]!;
}

async function detect(image: T.Image): Promise<Detection> {
  if (!model) throw new Error('the model is not loaded yet');
  const timings: Record<string, number> = { preprocess: 0, network: 0, decode: 0 };
  const start = performance.now();
  const results = await T.predictImage(model, image, 1, { onStage: (stage, ms) => (timings[stage]! += ms) });
  const drawStart = performance.now();
  shown = { image, results };
  draw();
  timings.draw = performance.now() - drawStart;
  timings.total = performance.now() - start;
  showTimings(timings);
  window.smpr.last = { results, timings };
  return { results, timings };
}

const minScore = (): number => Number($<HTMLInputElement>('min-score').value) || 0;

/** The image, scaled to the view, and every person above the score threshold: limbs, keypoints, score. */
function draw(): void {
  if (!shown) return;
  const { image, results } = shown;
  const scale = VIEW_SIZE / Math.max(image.width, image.height);
  canvas.width = Math.round(image.width * scale);
  canvas.height = Math.round(image.height * scale);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(toCanvas(image), 0, 0, canvas.width, canvas.height);

  const people = results.filter((p) => p.score > minScore());
  const skeleton = T.COCO_KEYPOINTS.skeleton;
  ctx.lineCap = 'round';
  // Lowest score first, so that where a weak duplicate overlaps a person, the better one's skeleton and label are on top.
  for (const person of [...people].reverse()) {
    const kp = person.keypoints;
    const at = (k: number): [number, number] => [kp[k * 3]! * scale, kp[k * 3 + 1]! * scale];
    ctx.lineWidth = 4;
    skeleton.forEach(([a, b], limb) => {
      const [r, g, bl] = T.limbColor(limb, skeleton.length);
      ctx.strokeStyle = `rgb(${r} ${g} ${bl})`;
      ctx.beginPath();
      ctx.moveTo(...at(a));
      ctx.lineTo(...at(b));
      ctx.stroke();
    });
    ctx.fillStyle = '#fff';
    for (let k = 0; k < kp.length / 3; k++) {
      ctx.beginPath();
      ctx.arc(...at(k), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    const xs = Array.from({ length: kp.length / 3 }, (_, k) => at(k));
    const left = Math.min(...xs.map(([x]) => x));
    const top = Math.min(...xs.map(([, y]) => y));
    const label = person.score.toFixed(2);
    ctx.font = 'bold 14px system-ui, sans-serif';
    const width = ctx.measureText(label).width + 8;
    ctx.fillStyle = 'rgb(0 0 0 / 0.75)';
    const y = Math.max(0, top - 24); // above the head, but inside the canvas for a person cut by the top border
    ctx.fillRect(left, y, width, 19);
    ctx.fillStyle = '#fff';
    ctx.fillText(label, left + 4, y + 14);
  }
  const list = $('people');
  list.replaceChildren(...people.map((p) => Object.assign(document.createElement('li'), { textContent: `score ${p.score.toFixed(3)}` })));
  say(`${people.length} ${people.length === 1 ? 'person' : 'people'} above ${minScore()} (${results.length} detections), ${image.width}×${image.height} image`);
}

/** An RGB `Image` as a canvas, to be drawn scaled. */
function toCanvas(image: T.Image): OffscreenCanvas {
  const rgba = new Uint8ClampedArray(image.width * image.height * 4);
  for (let p = 0; p < image.width * image.height; p++) {
    rgba.set(image.data.subarray(p * 3, p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  const off = new OffscreenCanvas(image.width, image.height);
  off.getContext('2d')!.putImageData(new ImageData(rgba, image.width, image.height), 0, 0);
  return off;
}

/** Decodes any image the browser can (PNG, JPEG, WebP, GIF's first frame…) to the engine's RGB `Image`. */
async function decodeFile(file: Blob, name: string): Promise<T.Image> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new T.UserError(`${name}: not an image this browser can decode`);
  }
  if (bitmap.width * bitmap.height > 50_000_000) throw new T.UserError(`${name}: ${bitmap.width}×${bitmap.height} pixels is over the limit of 50 megapixels`);
  return grab(bitmap, bitmap.width, bitmap.height);
}

/** The pixels of anything a canvas can draw, through an OffscreenCanvas and getImageData. */
function grab(source: CanvasImageSource, width: number, height: number): T.Image {
  const off = new OffscreenCanvas(width, height);
  const ctx = off.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source, 0, 0);
  return T.imageFromRgba(width, height, ctx.getImageData(0, 0, width, height).data);
}

const STAGE_NAMES: Record<string, string> = {
  preprocess: 'resize, normalise, pad',
  network: 'network (forward, GPU, readback)',
  decode: 'decode, soft-NMS',
  draw: 'draw',
  total: 'total',
};

function showTimings(timings: Record<string, number>): void {
  const rows = Object.entries(timings).map(([key, ms]) => {
    const stage = STAGE_NAMES[key] ?? key;
    const row = document.createElement('tr');
    row.append(Object.assign(document.createElement('td'), { textContent: stage }), Object.assign(document.createElement('td'), { textContent: ms.toFixed(1) }));
    return row;
  });
  $('timings').querySelector('tbody')!.replaceChildren(...rows);
}

// ---- fine-tuning --------------------------------------------------------------------------------------------

/** A few training steps on the page's model (finetune.ts); reloading the page restores the shipped weights. */
async function fineTunePage(steps: number): Promise<FineTuneStep[]> {
  if (!model) throw new Error('the model is not loaded yet');
  const list = $('losses');
  list.replaceChildren();
  const done = await fineTune(model, steps, ({ loss, ms }) => {
    list.append(Object.assign(document.createElement('li'), { textContent: `loss ${loss.toFixed(3)} — ${ms.toFixed(0)} ms` }));
  });
  say(`fine-tuned ${steps} steps on WebGPU (reload the page for the shipped weights)`);
  return done;
}

// ---- wiring -------------------------------------------------------------------------------------------------

/** Runs a user action; its error becomes the status line. */
function act(fn: () => Promise<unknown>): void {
  serially(fn).catch((error) => say(messageOf(error), true));
}

const ready = start();
ready.then(
  () => act(() => detect(syntheticImage(Number($<HTMLInputElement>('seed').value)))),
  (error) => say(messageOf(error), true),
);

$('synth').addEventListener('click', () => {
  const seed = $<HTMLInputElement>('seed');
  seed.value = String(Number(seed.value) + 1);
  act(() => detect(syntheticImage(Number(seed.value))));
});
$<HTMLInputElement>('file').addEventListener('change', (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) act(async () => detect(await decodeFile(file, file.name)));
});
canvas.addEventListener('dragover', (event) => {
  event.preventDefault();
  canvas.classList.add('dragging');
});
canvas.addEventListener('dragleave', () => canvas.classList.remove('dragging'));
canvas.addEventListener('drop', (event) => {
  event.preventDefault();
  canvas.classList.remove('dragging');
  const file = event.dataTransfer?.files[0];
  if (!model) say('the model is still loading', true);
  else if (!file) say('drop an image file', true);
  else act(async () => detect(await decodeFile(file, file.name)));
});
$('min-score').addEventListener('input', draw);
$('finetune').addEventListener('click', () => act(async () => {
  await fineTunePage(4);
  if (shown) await detect(shown.image);
}));

// The webcam: one frame after another while it is on, each through the whole pipeline.
let webcam: MediaStream | null = null;
$('webcam').addEventListener('click', () => {
  const video = $<HTMLVideoElement>('video');
  const button = $('webcam');
  if (webcam) {
    for (const track of webcam.getTracks()) track.stop();
    webcam = null;
    button.textContent = 'Webcam';
    return;
  }
  act(async () => {
    if (!navigator.mediaDevices?.getUserMedia) throw new T.UserError('this page has no camera access here (it needs https:// or localhost)');
    try {
      webcam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    } catch (error) {
      throw new T.UserError(`webcam: ${messageOf(error)}`);
    }
    video.srcObject = webcam;
    await video.play();
    button.textContent = 'Stop webcam';
    const loop = (): void => {
      if (!webcam) return;
      act(async () => {
        if (webcam && video.videoWidth) await detect(grab(video, video.videoWidth, video.videoHeight));
        requestAnimationFrame(loop);
      });
    };
    loop();
  });
});

window.smpr = {
  ready,
  last: null,
  detectSynthetic: (seed) => serially(() => detect(syntheticImage(seed))),
  runOpChecks: () => serially(runOpChecks),
  fineTune: (steps) => serially(() => fineTunePage(steps)),
};
