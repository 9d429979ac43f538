// A user's mistakes and a run's accidents, found after the argument parser: each is one line and exit code 2 (or
// 130 for an interrupted run), found before the work it would spoil, and never costs saved work.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { smpr } from './cli-run.js';
import { createImage } from '../src/data/image.js';
import { decodePng, encodePng, writePng } from '../src/data/png.js';
import { formatTick } from '../src/data/plot.js';
import { writeSynthDataset } from '../src/data/synth/write.js';
import { loadCocoDataset } from '../src/data/coco.js';
import { Random, tensor, zeros } from '../src/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { refuseOverwrite } from '../src/io/folders.js';
import { smprConfig } from '../src/smpr/config.js';
import { SMPR_LOSS_WEIGHTS } from '../src/smpr/loss.js';
import { SmprModel } from '../src/smpr/model.js';
import { CHECKPOINT_FORMAT, readCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { SGD } from '../src/train/optimizer.js';
import { lockRunFolder, readLogBefore } from '../src/train/run-folder.js';
import { LogWindow } from '../src/train/log-window.js';
import type { StepStats } from '../src/train/step.js';
import { train } from '../src/train/trainer.js';
import { Interrupted, UserError } from '../src/errors.js';
import { runCli } from '../src/cli/errors.js';
import { FILTERED_ENV, StderrFilter } from '../src/cli/quiet-dawn.js';
import { readYAxis } from './util.js';

// A full disk for the files a test names (`fullDisk`): writing bytes to them fails with ENOSPC as Node reports it, on
// the open file and so naming no path; zero bytes still go through, as on a real full disk. /dev/full fails writes
// so too, but a run reads its log back, and /dev/full reads are endless.
const disk = vi.hoisted(() => ({ full: null as ((path: string) => boolean) | null }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { errno: -28, code: 'ENOSPC', syscall: 'write' });
  const full = (path: unknown) => typeof path === 'string' && disk.full !== null && disk.full(path);
  const size = (data: unknown) => (typeof data === 'string' ? data.length : (data as ArrayBufferView).byteLength);
  const fullFds = new Set<number>();
  return {
    ...real,
    openSync: (path: string, ...rest: unknown[]) => {
      const fd = (real.openSync as (...args: unknown[]) => number)(path, ...rest);
      if (full(path)) fullFds.add(fd);
      else fullFds.delete(fd);
      return fd;
    },
    writeSync: (fd: number, ...rest: unknown[]) => {
      if (fullFds.has(fd)) throw enospc();
      return (real.writeSync as (...args: unknown[]) => number)(fd, ...rest);
    },
    writeFileSync: (path: string, data: string | ArrayBufferView, ...rest: unknown[]) => {
      if (full(path) && size(data) > 0) {
        real.writeFileSync(path, ''); // what open(2) with O_TRUNC leaves before the first write fails
        throw enospc();
      }
      return (real.writeFileSync as (...args: unknown[]) => void)(path, data, ...rest);
    },
    appendFileSync: (path: string, data: string | ArrayBufferView, ...rest: unknown[]) => {
      if (full(path) && size(data) > 0) throw enospc();
      return (real.appendFileSync as (...args: unknown[]) => void)(path, data, ...rest);
    },
  };
});

/** Runs `body` with writes to the paths `full` picks failing as on a full disk. */
async function fullDisk<T>(full: (path: string) => boolean, body: () => Promise<T>): Promise<T> {
  disk.full = full;
  try {
    return await body();
  } finally {
    disk.full = null;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'smpr-reliability-'));
const path = (...parts: string[]) => join(dir, ...parts);

/** A fresh 4-image 64² synthetic dataset. */
function dataset(name: string, images = 4): string {
  const out = path(name);
  writeSynthDataset(out, { images, width: 64, height: 64, seed: 3, personScale: [0.6, 0.9] });
  return out;
}

/** The built `smpr` (what a user runs), for the tests that need a process of its own: a signal, a closed pipe. */
function builtCli(): string {
  const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  expect(existsSync(cli), `${cli} is missing: npm install (or npm run build) builds it`).toBe(true);
  return cli;
}

/** A fresh synthetic dataset's image paths, in order. */
function datasetImages(name: string, images: number): string[] {
  const data = dataset(name, images);
  return readdirSync(join(data, 'images')).sort().map((file) => join(data, 'images', file));
}

/** One line on stderr and exit code 2, matching `message`. */
async function expectUserError(argv: string[], message: RegExp): Promise<void> {
  const { code, stderr } = await smpr(...argv);
  expect(stderr).toMatch(message);
  expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
  expect(code).toBe(2);
}

/** One short run whose checkpoint the tests below start from, trained when the first of them asks. */
let base: Promise<{ data: string; checkpoint: string }> | null = null;
function trained(): Promise<{ data: string; checkpoint: string }> {
  base ??= (async () => {
    const data = dataset('base');
    const run = await smpr('train', '--data', data, '--out', path('base-run'), '--epochs', '1', '--batch', '2', '--log-every', '1');
    expect(run.code, run.stderr).toBe(0);
    return { data, checkpoint: path('base-run', 'last.safetensors') };
  })();
  return base;
}

describe('dataset images are checked before training or evaluation starts', () => {
  const broken: [string, (images: string) => void, RegExp][] = [
    ['a missing image', (images) => rmSync(join(images, '000001.png')), /000001\.png: cannot read image \(ENOENT/],
    ['a zero-byte image', (images) => void writeFileSync(join(images, '000002.png'), ''), /000002\.png: empty file/],
    ['a truncated image', (images) => { const bytes = readFileSync(join(images, '000002.png')); writeFileSync(join(images, '000002.png'), bytes.subarray(0, 20)); }, /000002\.png: truncated PNG/],
    ['a JPEG cut off before its frame header', (images) => void writeFileSync(join(images, '000003.png'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16])), /000003\.png: truncated JPEG \(no frame header/],
    ['an image of another size than annotated', (images) => void writePng(join(images, '000004.png'), createImage(32, 48)), /000004\.png: image is 32×48, the annotations say 64×64/],
  ];
  for (const [name, damage, message] of broken) {
    test(name, async () => {
      const data = dataset(`broken-${name.replace(/\W+/g, '-')}`);
      damage(join(data, 'images'));
      await expectUserError(['train', '--data', data, '--out', path(`run-${name.replace(/\W+/g, '-')}`), '--batch', '2'], message);
      await expectUserError(['eval', '--data', data], message);
    });
  }

  test('an image whose header is whole but whose data is cut short, not the first: one line from eval, and from train before a --val found bad', async () => {
    const data = dataset('cut-data');
    const image = join(data, 'images', '000003.png');
    const bytes = readFileSync(image);
    writeFileSync(image, bytes.subarray(0, bytes.length >> 1));
    await expectUserError(['eval', '--data', data], /000003\.png: truncated PNG/);
    const missing = dataset('val-missing');
    rmSync(join(missing, 'images', '000002.png'));
    const out = path('run-val-missing');
    await expectUserError(['train', '--data', dataset('val-good'), '--val', missing, '--out', out, '--batch', '2'], /000002\.png: cannot read image \(ENOENT/);
    expect(existsSync(join(out, 'log.jsonl'))).toBe(false);
  });

  // Only --val's headers can be checked before the run, so this is found after it: the error once read as if the
  // run had failed, with nothing to say that its checkpoint was saved.
  test('a --val image whose data is cut short is found after the run, and the error says the run is saved', async () => {
    const val = dataset('val-cut');
    const image = join(val, 'images', '000002.png');
    const bytes = readFileSync(image);
    writeFileSync(image, bytes.subarray(0, bytes.length >> 1));
    const out = path('run-val-cut');
    await expectUserError(['train', '--data', dataset('val-cut-train'), '--val', val, '--out', out, '--batch', '2', '--max-iters', '1'],
      /--val: .*000002\.png: truncated PNG .*; the trained model is saved: evaluate .*run-val-cut\/last\.safetensors with smpr eval once the image is fixed/);
    expect(readCheckpoint(join(out, 'last.safetensors')).info.step).toBe(1);
  });

  test('a file name that leaves the image folder is refused', async () => {
    const data = dataset('traversal');
    const json = JSON.parse(readFileSync(join(data, 'annotations.json'), 'utf8'));
    json.images[0].file_name = '../../../etc/passwd';
    writeFileSync(join(data, 'annotations.json'), JSON.stringify(json));
    await expectUserError(['eval', '--data', data], /images\[0\]\.file_name: '\.\.\/\.\.\/\.\.\/etc\/passwd' leaves the image folder/);
  });

  test('a batch larger than the dataset, and a dataset without a trainable person', async () => {
    const data = dataset('small', 2);
    await expectUserError(['train', '--data', data, '--out', path('r-batch'), '--batch', '8'], /--batch 8 is larger than the 2 images/);
    const json = JSON.parse(readFileSync(join(data, 'annotations.json'), 'utf8'));
    json.annotations = [];
    writeFileSync(join(data, 'annotations.json'), JSON.stringify(json));
    await expectUserError(['train', '--data', data, '--out', path('r-empty'), '--batch', '2'], /no image of .* has a trainable person/);
  });

  test('a PNG over the pixel limit is refused from its header', async () => {
    const header = encodePng(createImage(2, 2));
    header.writeUInt32BE(20000, 16);
    header.writeUInt32BE(20000, 20);
    writeFileSync(path('huge.png'), header);
    await expectUserError(['predict', '--out', path('pred-huge'), path('huge.png')], /huge\.png: 20000×20000 pixels is over the limit of 50 megapixels/);
  });
});

describe('outputs are checked before any work', () => {
  const file = path('a-file');
  writeFileSync(file, 'x');
  test('--out that is a file, or lies under one', async () => {
    const { data } = await trained();
    await expectUserError(['synth', '--out', file], /--out .*a-file: is a file, not a folder/);
    await expectUserError(['synth', '--out', join(file, 'sub')], /--out .*a-file\/sub: cannot create the folder \(ENOTDIR\)/);
    await expectUserError(['train', '--data', data, '--out', file, '--batch', '2'], /--out .*a-file: is a file, not a folder/);
    await expectUserError(['predict', '--out', join(file, 'p'), path('base', 'images', '000001.png')], /cannot create the folder \(ENOTDIR\)/);
    await expectUserError(['eval', '--data', data, '--json', join(file, 'e.json')], /--json .*a-file: is a file, not a folder/);
  });

  // procfs answers ENOENT to a mkdir under /proc although /proc exists, and Node's recursive mkdir then retried
  // forever. Run as a child with a deadline: in this process the loop would hang the test, not fail it. The child
  // runs the command itself (as the CLI's stderr-filtering parent has it do), so that the kill reaches the loop.
  test.skipIf(!existsSync('/proc/self'))('--out where the file system takes no folders (/proc) is one line, not a hang', () => {
    const cli = builtCli();
    const child = spawnSync(process.execPath, [cli, 'synth', '--out', '/proc/smpr-no-such/data', '--images', '1'], {
      encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL', env: { ...process.env, [FILTERED_ENV]: 'pipe' },
    });
    expect(child.signal, 'synth did not return within 30 s').toBeNull();
    expect(child.stderr).toMatch(/^smpr: --out \/proc\/smpr-no-such\/data: cannot create the folder \(E[A-Z]+\)\n$/);
    expect(child.status).toBe(2);
  }, 60_000);

  test('an atomic write under a file reports the real reason, not the failed clean-up', () => {
    expect(() => writeFileAtomic(join(file, 'x.safetensors'), [new Uint8Array(4)])).toThrow(/cannot write .*a-file\/x\.safetensors: ENOTDIR/);
  });

  test('export under a file reports the real reason', async () => {
    const { checkpoint } = await trained();
    await expectUserError(['export', '--weights', checkpoint, '--out', join(file, 'x.safetensors')], /--out .*a-file: is a file, not a folder/);
  });
});

describe('checkpoints', () => {
  test('with an incomplete config, with a missing tensor, with NaN, or of another preset', async () => {
    const { checkpoint } = await trained();
    const original = loadSafetensors(checkpoint);
    const write = (name: string, change: (f: typeof original) => void) => {
      const f = structuredClone(original);
      change(f);
      saveSafetensors(path(name), f.tensors, f.metadata);
      return path(name);
    };
    const incomplete = write('incomplete.safetensors', (f) => void (f.metadata.config = JSON.stringify({ name: 'tiny' })));
    await expectUserError(['predict', '--weights', incomplete, '--out', path('p1'), path('base', 'images', '000001.png')], /config is incomplete or malformed \(depth, baseChannels, style, backboneNorm, frozenStages, and \d+ more\)/);
    const missing = write('missing.safetensors', (f) => void delete f.tensors['neck.fpn_convs.0.conv.weight']);
    await expectUserError(['eval', '--weights', missing, '--data', path('base')], /the weights do not fit the 'tiny' model .*1 missing key\(s\): neck\.fpn_convs\.0\.conv\.weight/);
    const nan = write('nan.safetensors', (f) => void ((f.tensors['neck.fpn_convs.0.conv.weight']!.data as Float32Array)[3] = NaN));
    await expectUserError(['export', '--weights', nan, '--out', path('nan-out.safetensors')], /tensor 'neck\.fpn_convs\.0\.conv\.weight' \(1 of \d+ values\) is not finite/);
    const wider = write('wider.safetensors', (f) => void (f.metadata.config = JSON.stringify({ ...smprConfig('tiny'), width: 64, gnGroups: 8 })));
    const { stderr } = await smpr('eval', '--weights', wider, '--data', path('base'));
    expect(stderr).toMatch(/shape mismatch for .*; \d+ more shape mismatches/);
    expect(stderr.length).toBeLessThan(600);
  });

  test('a negative step, and a config of the right types but values no model has, name the file', async () => {
    const { checkpoint } = await trained();
    const original = loadSafetensors(checkpoint);
    const negative = path('negative-step.safetensors');
    saveSafetensors(negative, original.tensors, { ...original.metadata, step: '-1' });
    await expectUserError(['export', '--weights', negative, '--out', path('negative-out.safetensors')], /negative-step\.safetensors: the checkpoint's step '-1' is not a count of iterations/);
    // Every field has its preset's type, so only validateConfig can tell: 8 groups do not divide 7 channels.
    const invalid = path('invalid-config.safetensors');
    saveSafetensors(invalid, original.tensors, { ...original.metadata, config: JSON.stringify({ ...smprConfig('tiny'), width: 7 }) });
    await expectUserError(['export', '--weights', invalid, '--out', path('invalid-out.safetensors')],
      /invalid-config\.safetensors: SmprConfig 'tiny': gnGroups 8 must divide width 7 and heatmapChannels 16 \(width\)/);
  });

  test("metadata the reader checks itself: whole-number step and seed, array fields as arrays, run settings as flags; old files with momentum are SGD", () => {
    const config = smprConfig('tiny');
    const meta = { format: CHECKPOINT_FORMAT, step: '3', seed: '7', config: JSON.stringify(config) };
    const read = (name: string, metadata: Record<string, string>, tensors: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {}) => {
      saveSafetensors(path(name), tensors, metadata);
      return readCheckpoint(path(name));
    };
    // Written before the optimizer was recorded: optimizer state means SGD momentum; none means weights only.
    expect(read('old.safetensors', meta, { 'optimizer.momentum.w': { dtype: 'float32', shape: [1], data: Float32Array.of(0) } }).info).toMatchObject({ step: 3, seed: 7, optimizer: 'SGD' });
    expect(read('weights-only.safetensors', meta).info.optimizer).toBeUndefined();
    expect(() => read('seed.safetensors', { ...meta, seed: 'x7' })).toThrow(/seed\.safetensors: the checkpoint's seed 'x7' is not an integer/);
    // Number() reads '1e3' as 1000; only digits are a count.
    expect(() => read('step.safetensors', { ...meta, step: '1e3' })).toThrow(/step\.safetensors: the checkpoint's step '1e3' is not a count of iterations/);
    expect(() => read('run.safetensors', { ...meta, run: JSON.stringify({ batch: [2] }) })).toThrow(/run\.safetensors: the checkpoint's run settings are not an object of flags and values/);
    expect(() => read('levels.safetensors', { ...meta, config: JSON.stringify({ ...config, levels: {} }) })).toThrow(/levels\.safetensors: the checkpoint's config is incomplete or malformed \(levels\)/);
  });

  test('optimizer state that is not finite is not saved either: the previous checkpoint stays', async () => {
    const config = smprConfig('tiny');
    const model = new SmprModel(config, { device: 'cpu' });
    const optimizer = new SGD(model.trainableParameters(), { lr: 0.01 });
    const { name, tensor: param } = model.trainableParameters()[0]!;
    const momentum = (values: Float32Array) => optimizer.loadStateDict({ [`momentum.${name}`]: tensor(values, [...param.shape], { device: 'cpu' }) });
    const file = path('optimizer-nan.safetensors');
    momentum(new Float32Array(param.size));
    await saveCheckpoint(file, model, optimizer, { step: 1, seed: 0, config });
    const good = readFileSync(file);
    const diverged = new Float32Array(param.size);
    diverged[2] = NaN;
    momentum(diverged);
    const error = await saveCheckpoint(file, model, optimizer, { step: 2, seed: 0, config }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(`${file}: not saved at step 2: 'optimizer.momentum.${name}' (1 of ${param.size} values) is not finite (training diverged; lower --lr or keep --clip on)`);
    expect(readFileSync(file).equals(good)).toBe(true);
    optimizer.dispose();
    model.dispose();
  });

  test('resume refuses a run of another config', async () => {
    const { data } = await trained();
    const run = path('resume-other');
    mkdirSync(run, { recursive: true });
    copyFileSync(path('base-run', 'last.safetensors'), join(run, 'last.safetensors'));
    const other = { ...smprConfig('tiny'), gnGroups: 4 };
    await expect(
      train({ config: other, data: loadCocoDataset(data), epochs: 1, batchSize: 2, seed: 0, lr: 1e-3, warmupIters: 0, decayEpochs: [], clipNorm: 35, outDir: run, resume: true }),
    ).rejects.toThrow(UserError);
  });
});

describe('training runs', () => {
  test('one run per folder: a new run is refused where one is, --resume needs one and its batches and loss, and starts from nothing else', async () => {
    const { data, checkpoint } = await trained();
    const run = path('base-run');
    const before = readFileSync(checkpoint);
    const log = readFileSync(join(run, 'log.jsonl'), 'utf8');
    const common = ['train', '--data', data, '--epochs', '2', '--batch', '2'];
    await expectUserError([...common, '--out', run], /base-run already holds a run \(.*last\.safetensors\); continue it with --resume, or start the new one in another --out/);
    await expectUserError([...common, '--out', path('no-run-yet'), '--resume'], /train --resume: .*no-run-yet.*last\.safetensors does not exist, so there is no run to continue/);
    await expectUserError([...common.slice(0, -1), '1', '--seed', '5', '--out', run, '--resume'], /was trained otherwise \(--seed 0 there, 5 here; --batch 2 there, 1 here\)/);
    await expectUserError([...common, '--no-heatmap', '--out', run, '--resume'], /was trained otherwise \(loss weights \(--heatmap\) /);
    await expectUserError([...common, '--out', run, '--resume', '--weights', checkpoint], /train --resume: --weights only starts a new run/);
    // A run folder whose checkpoint is weights only (smpr export's) was resumed with a fresh optimizer, silently.
    const exported = path('exported-run');
    expect((await smpr('export', '--weights', checkpoint, '--out', join(exported, 'last.safetensors'))).code).toBe(0);
    await expectUserError([...common, '--out', exported, '--resume'], /train --resume: .*exported-run.*last\.safetensors holds weights only \(no optimizer state, as smpr export writes\), so there is no run to continue; start a new run from it with --weights .*last\.safetensors and another --out/);
    const other = path('other-data'); // as many images as the run's data, other people
    writeSynthDataset(other, { images: 4, width: 64, height: 64, seed: 4, personScale: [0.6, 0.9] });
    await expectUserError(['train', '--data', other, '--epochs', '2', '--batch', '2', '--out', run, '--resume'], /was trained otherwise \(--data 4 images, \d+ annotations, content [0-9a-f]{8} there, 4 images, \d+ annotations, content [0-9a-f]{8} here\)/);
    // Each setting the batches and the loss depend on is checked, not only the seed and the batch.
    await expectUserError([...common, '--positives', 'init', '--out', run, '--resume'], /was trained otherwise \(--positives oks there, init here\)/);
    await expectUserError([...common, '--pose-weights', 'uniform', '--out', run, '--resume'], /was trained otherwise \(--pose-weights oks there, uniform here\)/);
    await expectUserError([...common, '--out', run, '--resume', '--backbone-weights', checkpoint], /train --resume: --backbone-weights only starts a new run/);
    // The optimizer's state is the saved one's: an SGD resumed from AdamW's moments would read them as momentum.
    await expectUserError([...common, '--optimizer', 'sgd', '--out', run, '--resume'], /was trained with AdamW, not SGD; pass --optimizer adamw/);
    // The same images and as many people, one keypoint moved: other data, though every count agrees.
    const edited = JSON.parse(readFileSync(join(data, 'annotations.json'), 'utf8'));
    edited.annotations[0].keypoints[0] += 1;
    writeFileSync(path('edited.json'), JSON.stringify(edited));
    await expectUserError(['train', '--data', path('edited.json'), '--images', join(data, 'images'), '--epochs', '2', '--batch', '2', '--out', run, '--resume'],
      /was trained otherwise \(--data 4 images, (\d+) annotations, content ([0-9a-f]{8}) there, 4 images, \1 annotations, content (?!\2)[0-9a-f]{8} here\)/);
    expect(readFileSync(checkpoint).equals(before)).toBe(true);
    expect(readFileSync(join(run, 'log.jsonl'), 'utf8')).toBe(log);
  });

  test('weights that do not fit the model, given to --weights, are one line (a torchvision backbone for --backbone-weights)', async () => {
    const data = dataset('misfit');
    await expectUserError(['train', '--data', data, '--out', path('misfit-run'), '--batch', '2', '--weights', join('test', 'fixtures', 'pth', 'backbone-tiny.pth')],
      /train --weights: .*backbone-tiny\.pth does not fit the model: loadStateDict \(SmprModel\): \d+ missing key/);
  });

  test('outputs go through a symlink to its file, and never replace a device, a FIFO or a folder', async () => {
    const { checkpoint } = await trained();
    const fifo = path('a-fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expectUserError(['export', '--weights', checkpoint, '--out', fifo], /cannot write .*a-fifo: it is not a regular file/);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const target = path('target.safetensors');
    writeFileSync(target, 'old');
    symlinkSync(target, path('link.safetensors'));
    expect((await smpr('export', '--weights', checkpoint, '--out', path('link.safetensors'))).code).toBe(0);
    expect(lstatSync(path('link.safetensors')).isSymbolicLink()).toBe(true);
    expect(readCheckpoint(target).info.step).toBe(readCheckpoint(checkpoint).info.step);
  });

  test('eval --json is written whole or not at all, and a write that fails names the file', async () => {
    // /dev/full fails every write with ENOSPC, as a full disk does: the JSON was left cut off, and the error named no file.
    const { data } = await trained();
    writeFileSync(path('no-results.json'), '[]');
    symlinkSync('/dev/full', path('full.json'));
    await expectUserError(['eval', '--data', data, '--results', path('no-results.json'), '--json', path('full.json')], /cannot write .*full\.json: ENOSPC/);
    expect((await smpr('eval', '--data', data, '--results', path('no-results.json'), '--json', path('e.json'))).code).toBe(0);
    expect(JSON.parse(readFileSync(path('e.json'), 'utf8')).stats.AP).toBe(0);
  });

  test("a run's loss curve that cannot be written is named", async () => {
    // /dev/full fails every write with ENOSPC, as a full disk does: the error named no file, and the curve was left cut off.
    const run = path('full-curve');
    mkdirSync(run, { recursive: true });
    symlinkSync('/dev/full', join(run, 'loss.png'));
    await expectUserError(['train', '--data', dataset('full-disk'), '--out', run, '--max-iters', '2', '--batch', '2', '--log-every', '1'], /cannot write .*loss\.png: ENOSPC/);
  });

  test("a log line that cannot be appended (a full disk) names the log", async () => {
    // Node's error for the failed write named no file: the line said only that no space was left.
    const run = path('full-log');
    await fullDisk((p) => p === join(run, 'log.jsonl'), () =>
      expectUserError(['train', '--data', dataset('full-log-data'), '--out', run, '--max-iters', '2', '--batch', '2', '--log-every', '1'], /cannot write .*full-log\/log\.jsonl: ENOSPC/));
  });

  test('a resumed run whose log cannot be rewritten (a full disk) names the log and keeps it whole', async () => {
    const { data } = await trained();
    const run = path('full-resume');
    mkdirSync(run, { recursive: true });
    for (const file of ['last.safetensors', 'log.jsonl']) copyFileSync(path('base-run', file), join(run, file));
    const log = readFileSync(join(run, 'log.jsonl'));
    // The temporary file of an atomic rewrite is named after the log too.
    await fullDisk((p) => p.includes('log.jsonl'), () =>
      expectUserError(['train', '--data', data, '--out', run, '--epochs', '1', '--batch', '2', '--resume'], /cannot write .*full-resume\/log\.jsonl: ENOSPC/));
    expect(readFileSync(join(run, 'log.jsonl')).equals(log)).toBe(true);
  });

  test('synth replaces only a dataset: an images/ folder with no annotations beside it is not its to delete', async () => {
    const out = path('photos');
    mkdirSync(join(out, 'images'), { recursive: true });
    writeFileSync(join(out, 'images', 'holiday.jpg'), 'mine');
    await expectUserError(['synth', '--out', out, '--images', '2'], /photos: its images\/ is not a dataset's \(no annotations\.json beside it\)/);
    expect(readFileSync(join(out, 'images', 'holiday.jpg'), 'utf8')).toBe('mine');
  });

  test("synth replaces only a synthetic dataset: a project's own annotations and images are not its to replace", async () => {
    const out = dataset('my-photos');
    const annotations = join(out, 'annotations.json');
    writeFileSync(annotations, JSON.stringify({ ...JSON.parse(readFileSync(annotations, 'utf8')), info: { description: 'my photos' } }));
    const before = readFileSync(annotations);
    await expectUserError(['synth', '--out', out, '--images', '2'], /my-photos: holds a dataset that is not synthetic \(its annotations\.json was not written by smpr synth\), which this would replace/);
    expect(readFileSync(annotations).equals(before)).toBe(true);
    // A synthetic dataset it replaces, as before.
    const again = await smpr('synth', '--out', dataset('synthetic-again'), '--images', '2');
    expect([again.code, again.stderr]).toEqual([0, '']);
  });

  test("demo deletes only its own run/ and predictions/: with no demo datasets beside them they are not its to delete", async () => {
    const out = path('project');
    mkdirSync(join(out, 'predictions'), { recursive: true });
    writeFileSync(join(out, 'predictions', 'results.json'), 'mine');
    await expectUserError(['demo', '--out', out, '--train-images', '4', '--batch', '2'], /--out .*project: its predictions\/ is not the demo's \(no train\/ and val\/ datasets beside it\)/);
    expect(readFileSync(join(out, 'predictions', 'results.json'), 'utf8')).toBe('mine');
    expect(readdirSync(out)).toEqual(['predictions']);
    // One demo dataset beside them is not enough: both train/ and val/ make the folder the demo's.
    const half = path('half-demo');
    dataset(join('half-demo', 'train'), 2);
    mkdirSync(join(half, 'run'));
    writeFileSync(join(half, 'run', 'last.safetensors'), 'mine');
    await expectUserError(['demo', '--out', half, '--train-images', '4', '--batch', '2'], /--out .*half-demo: its run\/ is not the demo's \(no train\/ and val\/ datasets beside it\)/);
    expect(readFileSync(join(half, 'run', 'last.safetensors'), 'utf8')).toBe('mine');
  });

  test("demo replaces only synthetic datasets: a project's own train/ and val/ are not its to delete, nor the run beside them", async () => {
    // Any dataset in train/ and val/ once counted as the demo's: both were replaced, and run/ deleted with them.
    const out = path('my-project');
    for (const name of ['train', 'val']) {
      dataset(join('my-project', name));
      const annotations = join(out, name, 'annotations.json');
      writeFileSync(annotations, JSON.stringify({ ...JSON.parse(readFileSync(annotations, 'utf8')), info: { description: 'my photos' } }));
    }
    mkdirSync(join(out, 'run'));
    writeFileSync(join(out, 'run', 'last.safetensors'), 'mine');
    const before = readFileSync(join(out, 'train', 'annotations.json'));
    await expectUserError(['demo', '--out', out, '--train-images', '4', '--batch', '2'], /--out .*my-project: its train\/ is not a synthetic dataset of the demo's, and the demo would replace it/);
    expect(readFileSync(join(out, 'train', 'annotations.json')).equals(before)).toBe(true);
    expect(readFileSync(join(out, 'run', 'last.safetensors'), 'utf8')).toBe('mine');
    // Their val/ alone, beside a synthetic train/, is as much theirs.
    rmSync(join(out, 'train'), { recursive: true });
    dataset(join('my-project', 'train'));
    const val = readFileSync(join(out, 'val', 'annotations.json'));
    await expectUserError(['demo', '--out', out, '--train-images', '4', '--batch', '2'], /--out .*my-project: its val\/ is not a synthetic dataset of the demo's, and the demo would replace it/);
    expect(readFileSync(join(out, 'val', 'annotations.json')).equals(val)).toBe(true);
    expect(readFileSync(join(out, 'run', 'last.safetensors'), 'utf8')).toBe('mine');
  });

  test('demo runs again where its first run was stopped while writing train/ (its staged images, no annotations yet)', async () => {
    // Ctrl-C in the first writeSynthDataset leaves train/images.<pid>.new/ and nothing else; the next run's
    // writeCocoDataset clears it. Refusing that train/ as "not a synthetic dataset" kept the demo from ever running there.
    const out = path('demo-interrupted');
    mkdirSync(join(out, 'train', 'images.999999999.new'), { recursive: true });
    writeFileSync(join(out, 'train', 'images.999999999.new', '000001.png'), 'cut off');
    writeFileSync(path('not-a-checkpoint'), 'x'); // a failure after the folder check, so that nothing is trained
    const { code, stderr } = await smpr('demo', '--out', out, '--train-images', '4', '--batch', '2', '--weights', path('not-a-checkpoint'));
    expect(code).toBe(2);
    expect(stderr).not.toMatch(/not a synthetic dataset/);
    expect(stderr).toMatch(/not-a-checkpoint/);
  });

  test("demo writes its pictures whole or not at all, naming the one it could not write", async () => {
    // They were written in place: a full disk left a cut-off picture, and the error named no file.
    const { checkpoint } = await trained();
    const out = path('demo-full');
    const pictures = join(out, 'predictions');
    await fullDisk((p) => p.startsWith(pictures + '/'), () =>
      expectUserError(['demo', '--out', out, '--train-images', '4', '--val-images', '1', '--batch', '2', '--epochs', '1', '--weights', checkpoint], /cannot write .*demo-full\/predictions\/[^/]+\.png: ENOSPC/));
    expect(readdirSync(pictures)).toEqual([]);
  }, 120_000);

  test('an output that reaches the input through a symlink is the input too; another file is not', () => {
    writeFileSync(path('input.safetensors'), 'weights');
    symlinkSync(path('input.safetensors'), path('alias.safetensors'));
    expect(() => refuseOverwrite('--out', path('alias.safetensors'), path('input.safetensors'))).toThrow(/--out .*alias\.safetensors: is the input file itself/);
    expect(() => refuseOverwrite('--out', path('input.safetensors'), path('alias.safetensors'))).toThrow(/is the input file itself/);
    expect(() => refuseOverwrite('--out', path('other.safetensors'), path('input.safetensors'))).not.toThrow();
  });

  test('export, convert and eval --json refuse to write over their input', async () => {
    const { data, checkpoint } = await trained();
    const before = readFileSync(checkpoint);
    await expectUserError(['export', '--weights', checkpoint, '--out', checkpoint], /--out .*last\.safetensors: is the input file itself/);
    const pth = path('copy.pth');
    copyFileSync(join('test', 'fixtures', 'pth', 'backbone-tiny.pth'), pth);
    await expectUserError(['convert', pth, pth], /OUT .*copy\.pth: is the input file itself/);
    const annotations = readFileSync(join(data, 'annotations.json'));
    await expectUserError(['eval', '--data', data, '--weights', checkpoint, '--json', join(data, 'annotations.json')], /--json .*annotations\.json: is the input file itself/);
    writeFileSync(path('results.json'), '[]');
    await expectUserError(['eval', '--data', data, '--results', path('results.json'), '--json', path('results.json')], /--json .*results\.json: is the input file itself/);
    expect(readFileSync(join(data, 'annotations.json')).equals(annotations)).toBe(true);
    expect(readFileSync(path('results.json'), 'utf8')).toBe('[]');
    expect(readFileSync(checkpoint).equals(before)).toBe(true);
  });

  test('--weights starts from a whole model: with lr 0 the run ends where it started, and another config is refused', async () => {
    const { data, checkpoint } = await trained();
    const common = ['train', '--data', data, '--max-iters', '1', '--batch', '2', '--lr', '0', '--weight-decay', '0'];
    expect((await smpr(...common, '--out', path('init-run'), '--weights', checkpoint)).code).toBe(0);
    expect((await smpr(...common, '--out', path('fresh-run'))).code).toBe(0);
    const start = readCheckpoint(checkpoint).model;
    const continued = readCheckpoint(path('init-run', 'last.safetensors'));
    const fresh = readCheckpoint(path('fresh-run', 'last.safetensors')).model;
    expect(continued.info.step).toBe(1);
    const same = async (a: Map<string, { toArray(): Promise<ArrayLike<number>> }>, b: typeof a) =>
      (await Promise.all([...a].map(async ([k, t]) => Array.from(await t.toArray()).join() === Array.from(await b.get(k)!.toArray()).join()))).every(Boolean);
    expect(await same(continued.model, start)).toBe(true);
    expect(await same(fresh, start)).toBe(false);
    const other = { ...smprConfig('tiny'), gnGroups: 4 };
    await expect(
      train({ config: other, data: loadCocoDataset(data), epochs: 1, batchSize: 2, seed: 0, lr: 1e-3, warmupIters: 0, decayEpochs: [], clipNorm: 35, outDir: path('init-other'), initWeights: checkpoint }),
    ).rejects.toThrow(/train --weights: .* holds a 'tiny' model other than --config tiny makes \(gnGroups 8 there, 4 here\)/);
  });

  test('divergence stops with the iteration and the loss terms, and the last good checkpoint stays', async () => {
    const { data } = await trained();
    const run = path('diverge');
    expect((await smpr('train', '--data', data, '--out', run, '--epochs', '1', '--batch', '2')).code).toBe(0);
    const good = readFileSync(join(run, 'last.safetensors'));
    const { code, stderr } = await smpr('train', '--data', data, '--out', run, '--epochs', '4', '--batch', '2', '--resume', '--lr', '1e6', '--clip', '0', '--log-every', '1');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n').at(-1)).toMatch(/train: diverged in iterations \d+–\d+ \(.*NaN.*\)|not saved at step \d+: '.*' \(\d+ of \d+ values\) is not finite/);
    const after = readCheckpoint(join(run, 'last.safetensors'));
    for (const t of after.model.values()) expect(t.toArraySync().every(Number.isFinite)).toBe(true);
    expect(readFileSync(join(run, 'last.safetensors')).equals(good) || after.info.step > 2).toBe(true);
  });

  // Catches a divergence check that looks at the loss alone: here the loss is finite and only the gradient norm is not.
  test('a gradient norm that overflows stops the run although the loss is finite, and nothing is saved', async () => {
    const run = path('grad-overflow');
    const error = await train({
      config: smprConfig('tiny', { inputSize: 64 }), data: loadCocoDataset(dataset('grad-overflow', 2)), epochs: 1, batchSize: 2, seed: 0, lr: 1e-3, warmupIters: 0,
      decayEpochs: [], clipNorm: 35, outDir: run, logEvery: 1, workers: 0,
      // With the classification loss weighted 1e25 the loss (~1e25) is a float32, but Σ g² (‖g‖ past 1.8e19) is not.
      loss: { weights: { ...SMPR_LOSS_WEIGHTS, cls: 1e25 } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^train: diverged in iterations 1–1 \(gradNorm (Infinity|NaN)\): lower --lr or keep --clip on; nothing was saved$/);
    expect(existsSync(join(run, 'last.safetensors'))).toBe(false);
  });

  // Catches loss.png drawn on a linear axis: its ticks are the powers of ten around every loss term logged.
  test('loss.png has a log y axis of the whole decades the logged loss terms span', async () => {
    await trained();
    const records = readFileSync(path('base-run', 'log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const terms = records.flatMap((r) => ['loss', 'cls', 'heatmap', 'init', 'refine', 'score'].map((k) => r[k] as number)).filter((y) => y > 0);
    const [low, high] = [Math.floor(Math.log10(Math.min(...terms))), Math.ceil(Math.log10(Math.max(...terms)))];
    const decades = Array.from({ length: high - low + 1 }, (_, i) => formatTick(10 ** (high - i)));
    const axis = readYAxis(decodePng(readFileSync(path('base-run', 'loss.png')), 'loss.png'), 2, decades);
    expect(axis.labels).toEqual(decades);
  });

  test('a second run into the same folder refuses while the first holds it; a stale lock is taken over', async () => {
    const { data } = await trained();
    const run = path('locked');
    mkdirSync(run, { recursive: true });
    const holder = spawn('sleep', ['30']);
    writeFileSync(join(run, '.lock'), `${holder.pid}\n`);
    await expectUserError(['train', '--data', data, '--out', run, '--batch', '2'], new RegExp(`in use by another training run \\(pid ${holder.pid}\\)`));
    holder.kill();
    await new Promise((resolve) => holder.on('exit', resolve));
    writeFileSync(join(run, '.last.safetensors.99999999.abc.tmp'), ''); // left by a killed checkpoint write
    const again = await smpr('train', '--data', data, '--out', run, '--batch', '2', '--max-iters', '1');
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(run).filter((n) => n.endsWith('.tmp') || n === '.lock')).toEqual([]);
  });

  test('a lock naming no single process is stale and taken over: 0 and -1 (to kill(2), this process group and every process), or no number', () => {
    const run = path('odd-locks');
    mkdirSync(run, { recursive: true });
    for (const holder of ['0\n', '-1\n', 'x\n', '']) {
      writeFileSync(join(run, '.lock'), holder);
      const release = lockRunFolder(run);
      expect(readFileSync(join(run, '.lock'), 'utf8'), JSON.stringify(holder)).toBe(`${process.pid}\n`);
      release();
      expect(existsSync(join(run, '.lock'))).toBe(false);
    }
  });

  test('an aborted run saves a checkpoint and says how to continue; the command line exits 130', async () => {
    const { data } = await trained();
    const stop = new AbortController();
    const run = path('aborted');
    const options = { config: smprConfig('tiny'), data: loadCocoDataset(data), epochs: 50, batchSize: 2, seed: 0, lr: 1e-3, warmupIters: 0, decayEpochs: [], clipNorm: 35, outDir: run, logEvery: 100 };
    setTimeout(() => stop.abort(130), 1500);
    const error = await train({ ...options, stop: stop.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Interrupted);
    expect((error as Interrupted).exitCode).toBe(130);
    expect((error as Error).message).toMatch(/stopped after iteration (\d+); saved .*last\.safetensors \(continue with --resume\)/);
    const step = readCheckpoint(join(run, 'last.safetensors')).info.step;
    expect(Number((error as Error).message.match(/iteration (\d+)/)![1])).toBe(step);
    let printed = '';
    let exit = -1;
    await runCli('smpr', () => Promise.reject(error), { stderr: (t) => void (printed += t), exit: (c) => void (exit = c) });
    expect(exit).toBe(130);
    expect(printed.trim().split('\n')).toHaveLength(1);
  });

  test('--save-every saves between epoch ends', async () => {
    const data = dataset('save-every', 8);
    const run = path('save-every-run');
    expect((await smpr('train', '--data', data, '--out', run, '--batch', '2', '--max-iters', '3', '--save-every', '2', '--epochs', '1')).code).toBe(0);
    expect(readCheckpoint(join(run, 'last.safetensors')).info.step).toBe(3);
    const log = readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).iter);
    expect(log).toEqual([1, 2]); // windows close at the checkpoint of iteration 2 and at the end
  });

  // Only headers are checked before the first step, so an image whose data is cut short stops the run when its batch
  // comes; the run once ended there with nothing saved since the last checkpoint (here: nothing at all).
  test('an image found bad mid-run saves what was trained before it, and the run continues with --resume once it is fixed', async () => {
    const data = dataset('bad-mid-run', 8);
    const image = join(data, 'images', '000004.png'); // with seed 0 and batch 2 not in the first batch (checked below)
    const good = readFileSync(image);
    writeFileSync(image, good.subarray(0, good.length >> 1));
    const run = path('bad-mid-run-run');
    const { code, stderr } = await smpr('train', '--data', data, '--out', run, '--batch', '2', '--epochs', '2', '--log-every', '1');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    const said = stderr.match(/000004\.png: truncated PNG .*; saved .*last\.safetensors after iteration (\d+) \(continue with --resume\)/);
    expect(said, stderr).not.toBeNull();
    const step = readCheckpoint(join(run, 'last.safetensors')).info.step;
    expect(step).toBe(Number(said![1]));
    expect(step).toBeGreaterThan(0);
    expect(readLogBefore<{ iter: number }>(join(run, 'log.jsonl'), Infinity).at(-1)!.iter).toBe(step - 1); // no gap at the checkpoint
    writeFileSync(image, good);
    const resumed = await smpr('train', '--data', data, '--out', run, '--batch', '2', '--epochs', '2', '--log-every', '1', '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readCheckpoint(join(run, 'last.safetensors')).info.step).toBe(8);
  });

  test('an image found bad mid-run where the checkpoint cannot be saved (a full disk) says both, the image first', async () => {
    const data = dataset('bad-mid-run-full', 8);
    const image = join(data, 'images', '000004.png');
    writeFileSync(image, readFileSync(image).subarray(0, 100));
    const run = path('bad-mid-run-full-run');
    await fullDisk((p) => p.includes('last.safetensors'), () =>
      expectUserError(['train', '--data', data, '--out', run, '--batch', '2', '--epochs', '2', '--log-every', '1'],
        /000004\.png: truncated PNG .*; the iterations since the last checkpoint were not saved: .*last\.safetensors.*ENOSPC/));
  });

  test('a step moves the weights by at most lr·--clip, logs the unclipped gradient norm and the warm-up lr, and leaves no gradient behind', async () => {
    // SGD's first step is p ← p − lr·s·g (biases 2×lr), s = min(1, clip/‖g‖): with a clip far below ‖g‖ the whole
    // move is between lr·clip and 2·lr·clip long (1% slack for float32), where unclipped it would be ≥ lr·‖g‖.
    const config = smprConfig('tiny', { inputSize: 64 });
    const lr = 1;
    const clip = 1e-3;
    const run = await train({
      config, data: loadCocoDataset(dataset('clip', 2)), epochs: 1, batchSize: 2, seed: 0, lr, warmupIters: 5, decayEpochs: [],
      optimizer: 'sgd', weightDecay: 0, clipNorm: clip, outDir: path('clip-run'), logEvery: 1, workers: 0,
    });
    const [record] = run.records;
    expect(run.records).toHaveLength(1);
    expect(record!.lr).toBeCloseTo(lr / 3, 12); // iteration 0 is in the warm-up, at lr/3: the log shows the lr the step used
    expect(record!.gradNorm).toBeGreaterThan(100 * clip); // ‖g‖ itself, not the scale s: so the clip is active
    const start = new SmprModel(config, { random: new Random(0) }); // the run's initial weights (same seed)
    const before = start.stateDict();
    let squared = 0;
    for (const [name, t] of run.model.stateDict()) {
      const a = await t.toArray();
      const b = before.get(name)!.toArraySync();
      for (let i = 0; i < a.length; i++) squared += (a[i]! - b[i]!) ** 2;
    }
    const moved = Math.sqrt(squared);
    expect(moved).toBeGreaterThan(0.99 * record!.lr * clip);
    expect(moved).toBeLessThan(2.01 * record!.lr * clip);
    // Gradients are freed after the update: a gradient kept would be added to the next step's.
    expect(run.model.parameters().filter((p) => p.grad !== null)).toHaveLength(0);
    start.dispose();
    run.model.dispose();
  });

  // Every kernel sums in a fixed order on both devices (on the GPU the deformable conv's input gradient adds in
  // fixed point), so nothing but the checkpoint carries the run across the resume.
  test.each(['cpu', 'webgpu'] as const)('a resumed run continues the uninterrupted one bit for bit (%s)', async (device) => {
    const data = loadCocoDataset(dataset(`exact-${device}`, 8));
    const options = {
      config: smprConfig('tiny', { inputSize: 64 }), data, epochs: 2, batchSize: 2, seed: 3, lr: 2e-3, warmupIters: 2, decayEpochs: [1],
      clipNorm: 35, optimizer: 'adamw' as const, logEvery: 1, device, workers: 0,
    };
    const straight = await train({ ...options, outDir: path(`exact-straight-${device}`) });
    await train({ ...options, outDir: path(`exact-resumed-${device}`), maxIters: 4 });
    const resumed = await train({ ...options, outDir: path(`exact-resumed-${device}`), resume: true });
    expect(resumed.records.map((r) => r.loss)).toEqual(straight.records.slice(4).map((r) => r.loss));
    const a = readCheckpoint(path(`exact-straight-${device}`, 'last.safetensors'));
    const b = readCheckpoint(path(`exact-resumed-${device}`, 'last.safetensors'));
    for (const [name, t] of a.model) expect(b.model.get(name)!.toArraySync(), name).toEqual(t.toArraySync());
    for (const [name, t] of Object.entries(a.optimizer)) expect(b.optimizer[name]!.toArraySync(), name).toEqual(t.toArraySync());
    for (const run of [straight, resumed]) run.model.dispose();
  }, 60_000);

  test('a log that is a folder is named', () => {
    mkdirSync(path('log-folder', 'log.jsonl'), { recursive: true });
    expect(() => readLogBefore(path('log-folder', 'log.jsonl'), 1)).toThrow(/^.*log-folder\/log\.jsonl: is a folder, expected a file$/);
  });

  test('each log window counts only its own steps and images: means and images per second start afresh', async () => {
    const keys = ['total', 'cls', 'heatmap', 'init', 'refine', 'score', 'gradNorm', 'initPositives', 'refinePositives'] as const;
    const stats = (value: number) => Object.fromEntries(keys.map((k) => [k, tensor([value], [], { device: 'cpu' })])) as unknown as StepStats;
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const window = new LogWindow();
      window.add(stats(1), 8);
      window.add(stats(3), 8);
      now = 2000;
      expect(await window.close(2, 0, 0.1)).toMatchObject({ iter: 2, loss: 2, gradNorm: 2, imagesPerSecond: 8 });
      window.add(stats(5), 4);
      now = 3000;
      expect(await window.close(3, 0, 0.1)).toMatchObject({ iter: 3, loss: 5, refinePositives: 5, imagesPerSecond: 4 });
    } finally {
      clock.mockRestore();
    }
  });

  test('resume drops what a killed run logged past its checkpoint and a torn last line, its log windows line up with an uninterrupted run, and a damaged line elsewhere is named', async () => {
    const data = dataset('windows', 8);
    const common = ['--data', data, '--batch', '2', '--epochs', '3', '--log-every', '3', '--seed', '1'];
    expect((await smpr('train', ...common, '--out', path('w-straight'))).code).toBe(0);
    expect((await smpr('train', ...common, '--out', path('w-resumed'), '--max-iters', '4')).code).toBe(0);
    // What a run killed after its checkpoint of step 4 leaves: records of iterations 4 and 5 (0-based: the first two
    // the checkpoint does not hold), and a line cut off mid-write. Only the records of iterations before 4 stay.
    const log = path('w-resumed', 'log.jsonl');
    const lastRecord = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!);
    expect(lastRecord.iter).toBe(3);
    appendFileSync(log, [4, 5].map((iter) => JSON.stringify({ ...lastRecord, iter }) + '\n').join('') + '{"iter": 6, "lo');
    const resumed = await smpr('train', ...common, '--out', path('w-resumed'), '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    const iters = (run: string) => readFileSync(path(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).iter as number);
    // 4 iterations per epoch: windows of 3 restart at every checkpoint (iterations 4, 8, 12).
    expect(iters('w-straight')).toEqual([2, 3, 6, 7, 10, 11]);
    expect(iters('w-resumed')).toEqual(iters('w-straight'));

    // A line that is JSON but no record (here `null`) is damage too, named by its line, not a TypeError.
    const whole = readFileSync(log, 'utf8');
    writeFileSync(log, 'null\n' + whole);
    await expectUserError(['train', ...common, '--out', path('w-resumed'), '--resume'], /log\.jsonl: line 1 is not a log record \(no iteration number\); the log is damaged/);
    // A line cut off with records after it is no crash's torn end but damage: named, not dropped with what it held.
    const [first, ...rest] = whole.split('\n');
    writeFileSync(log, [first, '{"iter": 3, "lo', ...rest].join('\n'));
    await expectUserError(['train', ...common, '--out', path('w-resumed'), '--resume'], /log\.jsonl: line 2 is not JSON; the log is damaged \(move it away to resume without it\)/);
  });
});

describe('predict', () => {
  test('keeps the results of good images when a later one is bad, and names the bad one', async () => {
    const { checkpoint } = await trained();
    const good = path('base', 'images', '000001.png');
    const bad = path('truncated.png');
    writeFileSync(bad, readFileSync(good).subarray(0, 60));
    const out = path('pred-mixed');
    await expectUserError(['predict', '--weights', checkpoint, '--out', out, good, bad, good], /truncated\.png: truncated PNG/);
    expect(existsSync(join(out, '000001.pose.png'))).toBe(true);
    expect(Array.isArray(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')))).toBe(true);
  });

  test('gives images of the same name distinct overlays, and runs on a 1×4000 strip', async () => {
    const { checkpoint } = await trained();
    for (const sub of ['a', 'b']) {
      mkdirSync(path(sub), { recursive: true });
      writePng(path(sub, 'x.png'), createImage(48, 40, [120, 80, 60]));
    }
    writePng(path('strip.png'), createImage(4000, 1, [90, 90, 90]));
    const out = path('pred-names');
    const run = await smpr('predict', '--weights', checkpoint, '--out', out, path('a', 'x.png'), path('b', 'x.png'), path('strip.png'));
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['results.json', 'strip.pose.png', 'x-2.pose.png', 'x.pose.png']);

    // A name already made for another input is not reused (x-2.png after a second x.png), and the next predict into
    // the folder leaves its own pictures beside its results, not the last run's.
    writePng(path('x-2.png'), createImage(48, 40, [60, 80, 120]));
    const again = await smpr('predict', '--weights', checkpoint, '--out', out, path('a', 'x.png'), path('b', 'x.png'), path('x-2.png'));
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['results.json', 'x-2-2.pose.png', 'x-2.pose.png', 'x.pose.png']);
  });

  test('writes its files whole or not at all, naming the one it could not write', async () => {
    // /dev/full fails every write with ENOSPC, as a full disk does: the overlay was left cut off, and the error named no file.
    const { checkpoint } = await trained();
    const out = path('pred-full');
    mkdirSync(out, { recursive: true });
    symlinkSync('/dev/full', join(out, 'z.pose.png'));
    writePng(path('z.png'), createImage(48, 40, [60, 80, 120]));
    await expectUserError(['predict', '--weights', checkpoint, '--out', out, path('z.png')], /cannot write \/dev\/full: it is not a regular file/);
  });

  test("refuses an earlier run's overlay in --out as an input: the run would write over it or delete it", async () => {
    const { checkpoint } = await trained();
    const out = path('pred-again');
    writePng(path('y.png'), createImage(48, 40, [60, 80, 120]));
    expect((await smpr('predict', '--weights', checkpoint, '--out', out, path('y.png'))).code).toBe(0);
    const overlay = readFileSync(join(out, 'y.pose.png'));
    await expectUserError(['predict', '--weights', checkpoint, '--out', out, path('y.png'), join(out, 'y.pose.png')], /y\.pose\.png: is an overlay in --out .*pred-again, which this run replaces/);
    await expectUserError(['predict', '--weights', checkpoint, '--out', out, join(out, 'y.pose.png')], /y\.pose\.png: is an overlay in --out/);
    expect(readFileSync(join(out, 'y.pose.png')).equals(overlay)).toBe(true);
  });
});

test('eval on a dataset without people explains the −1s', async () => {
  const { checkpoint } = await trained();
  const data = dataset('nobody', 2);
  const json = JSON.parse(readFileSync(join(data, 'annotations.json'), 'utf8'));
  json.annotations = [];
  writeFileSync(join(data, 'annotations.json'), JSON.stringify(json));
  const { code, stdout } = await smpr('eval', '--weights', checkpoint, '--data', data);
  expect(code).toBe(0);
  expect(stdout).toMatch(/-1: no ground-truth person in that area range/);
});

test('a tensor too large for one array names the op, the shape and the size', () => {
  expect(() => zeros([1e6, 1e6])).toThrow('full: shape [1000000, 1000000] has 1.00e+12 elements, more than one tensor can hold (2147483647)');
});

test('SIGINT to a running `smpr train` saves a checkpoint and exits 130 (the built CLI, as a user runs it)', async () => {
  const cli = builtCli();
  const data = dataset('signal', 8);
  const run = path('signal-run');
  const child = spawn(process.execPath, [cli, 'train', '--data', data, '--out', run, '--batch', '2', '--epochs', '100', '--log-every', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  // Interrupt once the run has logged a few iterations.
  const started = Date.now();
  while (!(existsSync(join(run, 'log.jsonl')) && readFileSync(join(run, 'log.jsonl'), 'utf8').split('\n').length > 3)) {
    if (Date.now() - started > 60_000) throw new Error(`the run did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code, stderr).toBe(130);
  expect(stderr).toMatch(/stopped after iteration \d+; saved .*last\.safetensors \(continue with --resume\)/);
  expect(readCheckpoint(join(run, 'last.safetensors')).info.step).toBeGreaterThanOrEqual(3);
  expect(existsSync(join(run, '.lock'))).toBe(false);
}, 120_000);

// Node's default exit on SIGINT wrote no results.json, and left an earlier run's results and overlays beside this run's.
test('SIGINT to a running `smpr predict` writes the results of the images done, removes the earlier run\'s overlays and exits 130', async () => {
  const cli = builtCli();
  const images = datasetImages('predict-signal', 24);
  const out = path('predict-signal-out');
  mkdirSync(out);
  writeFileSync(join(out, 'results.json'), '[]');
  writeFileSync(join(out, 'earlier.pose.png'), '');
  const child = spawn(process.execPath, [cli, 'predict', '--out', out, ...images], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    if (!stdout.includes('\n') && (stdout += chunk.toString()).includes('\n')) child.kill('SIGINT'); // once, after the first image
  });
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve)); // 'exit' may come before the last of stderr
  expect(code, stderr).toBe(130);
  const said = stderr.match(/predict: stopped after (\d+) of 24 images; their results are in .*results\.json/);
  expect(said, stderr).not.toBeNull();
  const done = Number(said![1]);
  expect(done).toBeGreaterThan(0);
  expect(done).toBeLessThan(24);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number }[];
  expect(new Set(results.map((r) => r.image_id))).toEqual(new Set(Array.from({ length: done }, (_, i) => i + 1)));
  expect(readdirSync(out).filter((name) => name.endsWith('.pose.png')).sort()).toEqual(images.slice(0, done).map((p) => p.replace(/.*\//, '').replace(/\.png$/, '.pose.png')));
}, 120_000);

// `smpr predict *.png | head -1`: the write after head left was an unhandled EPIPE, a stack trace and exit 1, with
// neither the other overlays nor results.json written.
test('`smpr predict` whose stdout reader goes away finishes its work and exits 0 (the built CLI)', async () => {
  const cli = builtCli();
  const images = datasetImages('predict-epipe', 6);
  const out = path('predict-epipe-out');
  const child = spawn(process.execPath, [cli, 'predict', '--out', out, ...images], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.once('data', () => child.stdout.destroy()); // as head -1 does
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, stderr).toBe(0);
  expect(stderr).toBe('');
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number }[];
  expect(new Set(results.map((r) => r.image_id))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
}, 120_000);

// `smpr train 2>&1 | head -1`: the command's own process died of the EPIPE (exit 1) while the training child ran on
// unseen, holding its run folder.
test('`smpr train` whose stderr reader goes away waits for the run and exits with its code (the built CLI)', async () => {
  const cli = builtCli();
  const run = path('stderr-epipe-run');
  const child = spawn(process.execPath, [cli, 'train', '--data', dataset('stderr-epipe', 8), '--out', run, '--batch', '2', '--epochs', '1', '--log-every', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.once('data', () => child.stderr.destroy()); // as head -1 does
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code).toBe(0);
  expect(readCheckpoint(join(run, 'last.safetensors')).info.step).toBe(4); // the run had ended when the command did
  expect(existsSync(join(run, '.lock'))).toBe(false);
}, 120_000);

describe("Dawn's two lavapipe warnings", () => {
  test('are dropped from stderr, partial lines and everything else pass through as they come', () => {
    const filter = new StderrFilter();
    const noise = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
    expect(filter.push(noise.slice(0, 30))).toBe('');
    expect(filter.push(noise.slice(30) + noise.replace('Uniform', 'Storage'))).toBe('');
    expect(filter.push('\rtrain ███░ 3/8')).toBe('\rtrain ███░ 3/8');
    expect(filter.push('\nWarning: something else\nsmpr: x.png: not a PNG file')).toBe('\nWarning: something else\nsmpr: x.png: not a PNG file');
    expect(filter.push('\n')).toBe('\n');
    expect(filter.end()).toBe('');
  });

  test('never reach the user of the built command line', async () => {
    const cli = builtCli();
    const { checkpoint } = await trained();
    const child = spawn(process.execPath, [cli, 'predict', '--weights', checkpoint, '--out', path('quiet'), path('base', 'images', '000001.png')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/artificially reduced/);
    expect(existsSync(path('quiet', '000001.pose.png'))).toBe(true);
  }, 60_000);
});
