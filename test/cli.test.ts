// The `smpr` command line as a user meets it: help, a real synth → train → resume → eval → predict round trip on
// a tiny dataset, and the one-line errors (exit code 2) for every kind of user mistake.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { smpr } from './cli-run.js';
import { writeSynthDataset } from '../src/data/synth/write.js';
import { createImage } from '../src/data/image.js';
import { writePng } from '../src/data/png.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { defaultWorkers } from '../src/train/batch-loader.js';
import type { TrainOptions } from '../src/train/options.js';
import * as trainer from '../src/train/trainer.js';
import { SMPR_LOSS_WEIGHTS } from '../src/smpr/loss.js';
import * as evaluate from '../src/smpr/evaluate.js';

// The trainer is wrapped (it still trains): a test may swap one call for a recorder, to see what options a command
// line becomes without paying for a run per flag.
vi.mock('../src/train/trainer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/train/trainer.js')>();
  return { ...real, train: vi.fn(real.train) };
});
vi.mock('../src/smpr/evaluate.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/smpr/evaluate.js')>();
  return { ...real, evaluateDataset: vi.fn(real.evaluateDataset) };
});

const dir = mkdtempSync(join(tmpdir(), 'smpr-cli-'));
writeFileSync(join(dir, 'a-file.png'), '');
writeFileSync(join(dir, 'a-png.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
writeFileSync(join(dir, 'nan.json'), '[{"image_id": 1, "score": NaN}]\n');
writeFileSync(join(dir, 'bom.json'), '\uFEFF' + JSON.stringify([{ image_id: 999, category_id: 1, keypoints: Array.from({ length: 51 }, () => 1), score: 0.5 }]));
writeSynthDataset(join(dir, 'results-data'), { images: 1, width: 64, height: 64 });
mkdirSync(join(dir, 'a-run'));
mkdirSync(join(dir, 'annotations'));
copyFileSync(join(dir, 'results-data', 'annotations.json'), join(dir, 'annotations', 'person_keypoints.json'));
writeFileSync(join(dir, 'a-run', 'last.safetensors'), '');

describe('user mistakes exit with code 2 and one line', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['trian'], /unknown command 'trian' \(did you mean train\?\)/],
    ['unknown flag', ['synth', '--out', dir, '--imagez', '3'], /unknown flag --imagez.*--images/],
    ['bad number', ['synth', '--out', dir, '--images', 'many'], /--images/],
    ['missing required flag', ['train', '--data', dir], /--out/],
    ['missing dataset', ['train', '--data', join(dir, 'nope'), '--out', join(dir, 'run')], /nope: no such dataset/],
    ['missing checkpoint', ['predict', '--weights', join(dir, 'none.safetensors'), 'x.png'], /none.safetensors: no such checkpoint/],
    ['bad choice', ['train', '--data', dir, '--out', dir, '--config', 'r49'], /--config.*r49/],
    ['training size off the 32 grid', ['train', '--data', dir, '--out', dir, '--size', '100'], /train: --size must be a multiple of 32, got 100/],
    ['info size off the 32 grid', ['info', '--size', '100'], /info: --size must be a multiple of 32, got 100/],
    ['a ResNet neck for HRNet', ['train', '--data', dir, '--out', dir, '--config', 'hrnet_w32', '--neck', 'fpn'], /train: --neck fpn is for the ResNet presets; hrnet_w32 has HRNet's own neck \(HRFPN\)/],
    // 1e9 px a side once reached the image allocator as a RangeError (exit 1): the limit is the one train and predict read.
    ['synthetic images larger than an image can be', ['synth', '--out', join(dir, 'huge'), '--size', '1000000000'], /synth: --size must be ≤ 7071, got 1000000000/],
    ['person scales the wrong way round', ['synth', '--out', join(dir, 'scales'), '--min-scale', '0.9', '--max-scale', '0.2'], /synth: --min-scale 0\.9 is above --max-scale 0\.2/],
    ['training size too large', ['train', '--data', dir, '--out', dir, '--size', '8192'], /inputSize 8192 is outside \[32, 4096\]/],
    ['demo into a file', ['demo', '--out', join(dir, 'a-file.png')], /--out .*a-file\.png: is a file, not a folder/],
    // With a missing checkpoint too: the flags are checked first, and the batch is what is named.
    ['demo with a batch larger than its training set', ['demo', '--out', join(dir, 'demo'), '--batch', '5', '--train-images', '4', '--weights', join(dir, 'none.safetensors')], /demo: --batch 5 is larger than --train-images 4/],
    // A batch of the whole training set is allowed: the next check (the missing checkpoint) is what stops this one.
    ['demo with a batch of the whole training set passes the batch check', ['demo', '--out', join(dir, 'demo'), '--batch', '4', '--train-images', '4', '--weights', join(dir, 'none.safetensors')], /^smpr: --weights .*none\.safetensors: no such checkpoint\n$/],
    ['demo with a checkpoint that is not there', ['demo', '--out', join(dir, 'demo'), '--weights', join(dir, 'none.safetensors')], /--weights .*none\.safetensors: no such checkpoint/],
    ['bench writing its JSON into a folder', ['bench', '--json', dir], /--json .*: is a folder, expected a file name/],
    ['an empty --out', ['synth', '--out', ''], /^smpr: --out needs a folder name, got ''$/m],
    ['an empty --json', ['eval', '--data', join(dir, 'results-data'), '--json='], /^smpr: --json needs a file name, got ''$/m],
    ['an empty --weights for train, which once trained from scratch', ['train', '--data', dir, '--out', join(dir, 'r'), '--weights='], /train: --weights needs a file or folder name, got ''/],
    ['an empty --backbone-weights', ['train', '--data', dir, '--out', join(dir, 'r'), '--backbone-weights', ''], /train: --backbone-weights needs a file or folder name, got ''/],
    ['an empty --val, which once skipped the validation', ['train', '--data', dir, '--out', join(dir, 'r'), '--val='], /train: --val needs a file or folder name, got ''/],
    // These once read '' as a path, and the error named nothing: "smpr: : no such checkpoint".
    ['an empty --weights for predict', ['predict', '--weights=', 'x.png'], /predict: --weights needs a file or folder name, got ''/],
    ['an empty image for predict', ['predict', join(dir, 'a-png.png'), ''], /predict: IMAGE needs a file or folder name, got ''/],
    ['an empty --weights for eval', ['eval', '--data', join(dir, 'results-data'), '--weights='], /eval: --weights needs a file or folder name, got ''/],
    ['an empty --data for eval', ['eval', '--data', ''], /eval: --data needs a file or folder name, got ''/],
    ['an empty --results', ['eval', '--data', join(dir, 'results-data'), '--results='], /eval: --results needs a file or folder name, got ''/],
    ['an empty --weights for export', ['export', '--weights=', '--out', join(dir, 'w.safetensors')], /export: --weights needs a file or folder name, got ''/],
    ['an empty input for convert', ['convert', '', join(dir, 'w.safetensors')], /convert: IN needs a file or folder name, got ''/],
    // A folder where a file is expected once read as "EISDIR: illegal operation on a directory" or as a missing file inside it.
    ['a run folder as --weights', ['predict', '--weights', join(dir, 'a-run'), join(dir, 'results-data', 'images', '000001.png')], /a-run: is a folder, expected a safetensors or \.pth file \(its run's checkpoint is .*a-run\/last\.safetensors\)/],
    ['the images/ folder as the dataset', ['eval', '--data', join(dir, 'results-data', 'images')], /images: a folder without annotations\.json \(expected a folder with annotations\.json and images\/, or an annotation file\)/],
    ['a folder as the checkpoint to convert', ['convert', join(dir, 'a-run'), join(dir, 'w.safetensors')], /a-run: is a folder, expected a file$/m],
    ['a folder as the results', ['eval', '--data', join(dir, 'results-data'), '--results', join(dir, 'a-run')], /a-run: is a folder, expected a file$/m],
    ['a folder as an image', ['predict', join(dir, 'a-run')], /a-run: is a folder, expected a PNG or JPEG image/],
    // COCO's own layout (annotations/ beside train2017/) without --images once read as its first image's ENOENT.
    ['an annotation file with no images/ beside it', ['eval', '--data', join(dir, 'annotations', 'person_keypoints.json')], /annotations\/images: no such folder, where the images of .*person_keypoints\.json are looked for by default; --images names their folder$/m],
    ['the same as --val, whose folder --val-images names', ['train', '--data', join(dir, 'results-data'), '--out', join(dir, 'r'), '--val', join(dir, 'annotations', 'person_keypoints.json')], /annotations\/images: no such folder, where the images of .*person_keypoints\.json are looked for by default; --val-images names their folder$/m],
    ['--images that is a file', ['train', '--data', dir, '--out', join(dir, 'r'), '--images', join(dir, 'a-file.png')], /--images .*a-file\.png: is a file, not a folder/],
    ['an image given as the annotations', ['eval', '--data', join(dir, 'a-png.png')], /a-png\.png: not valid JSON \([ -~]*\)\s*$/],
    // V8 quotes the text around a JSON error: a line break or a PNG's bytes in it once broke the line, or the terminal.
    ['a results file that is not JSON', ['eval', '--data', join(dir, 'results-data'), '--results', join(dir, 'nan.json')], /nan\.json: not valid JSON \([ -~]*\)\s*$/],
    // A byte-order mark first read as "not valid JSON (Unexpected token '?')": the file is read, and its one mistake named.
    ['a results file that starts with a byte-order mark, read past it', ['eval', '--data', join(dir, 'results-data'), '--results', join(dir, 'bom.json')], /bom\.json: \[0\]\.image_id: 999 is not the id of an image in the ground truth/],
    ['an image given as the results', ['eval', '--data', join(dir, 'results-data'), '--results', join(dir, 'a-png.png')], /a-png\.png: not valid JSON \([ -~]*\)\s*$/],
    ['unknown bench suite', ['bench', '--suite', 'kernels,kernel'], /bench: --suite: no suite 'kernel'; choose from batching, kernels/],
    // A thousand worker threads (some 10 MB each) were all started before the first step.
    ['more workers than are of use', ['train', '--data', dir, '--out', join(dir, 'r'), '--workers', '1000'], /train: --workers must be ≤ 64, got 1000/],
    // An --images-style folder for a validation set that was never given: the run would train without validating.
    ['--val-images without --val', ['train', '--data', join(dir, 'results-data'), '--out', join(dir, 'r'), '--val-images', join(dir, 'results-data', 'images')], /train: --val-images is the folder of --val's images; there is no --val/],
    ['training size too small for HRFPN', ['train', '--data', dir, '--out', dir, '--config', 'hrnet_w32', '--size', '32'], /train: --size 32: SmprConfig 'hrnet_w32': inputSize 32 is below 64/],
  ];
  for (const [name, argv, message] of cases) {
    test(name, async () => {
      const { code, stderr } = await smpr(...argv);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    });
  }

  test('--decay that is not a list of epochs of the run', async () => {
    // The scratch recipe's 9 epochs are 0..8: '9', the epoch count itself, is past the run's last epoch.
    const data = join(dir, 'decay-data');
    writeSynthDataset(data, { images: 2, width: 64, height: 64 });
    for (const [decay, message] of [['a,b', /train: --decay takes rising comma-separated whole epochs in \[0, 9\), got 'a' in 'a,b'/], ['3,12', /got '12'/], [',', /got ''/], ['4,4', /got 4 after 4/], ['1.5', /got '1\.5'/], ['9', /got '9'/]] as const) {
      const { code, stderr } = await smpr('train', '--data', data, '--out', join(dir, 'decay-run'), '--decay', decay);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  test('bad annotation JSON names the file and the field', async () => {
    const bad = join(dir, 'bad');
    writeSynthDataset(bad, { images: 1, width: 64, height: 64 });
    const json = JSON.parse(readFileSync(join(bad, 'annotations.json'), 'utf8'));
    json.annotations[0].keypoints = json.annotations[0].keypoints.slice(3);
    writeFileSync(join(bad, 'annotations.json'), JSON.stringify(json));
    const { code, stderr } = await smpr('train', '--data', bad, '--out', join(dir, 'r'));
    expect(code).toBe(2);
    expect(stderr).toMatch(/annotations.json: annotations\[0\]\.keypoints: expected 51 numbers/);
  });

  test('an unreadable image', async () => {
    const notPng = join(dir, 'image.png');
    writeFileSync(notPng, 'hello');
    const { stderr } = await smpr('synth', '--out', join(dir, 'd'), '--images', '1', '--size', '64');
    expect(stderr).toBe('');
    const train = join(dir, 'train-for-predict');
    writeSynthDataset(train, { images: 4, width: 64, height: 64, seed: 3 });
    const run = await smpr('train', '--data', train, '--out', join(dir, 'run0'), '--max-iters', '1', '--batch', '2');
    expect(run.code).toBe(0);
    const { code, stderr: err } = await smpr('predict', '--weights', join(dir, 'run0', 'last.safetensors'), notPng);
    expect(code).toBe(2);
    expect(err).toMatch(/image.png: not a PNG/);
  });
});

test('info prints the model summary, as a table or as JSON', async () => {
  const table = await smpr('info', '--config', 'hrnet_w32', '--size', '256');
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(/^total\s+38,907,697\s+38,907,697\s+0\s+57,344\s+38,907,697$/m);
  expect(table.stdout).toMatch(/^P7\s+128\s+256×2×2\s+4$/m);
  const json = await smpr('info', '--config', 'r50', '--json');
  expect(json.code).toBe(0);
  const summary = JSON.parse(json.stdout);
  expect(summary.input).toEqual([800, 800]);
  expect(summary.parts.backbone.parameters).toBe(23_508_032);
  expect(summary.authors.total).toBe(summary.parts.total.parameters);
  expect(summary.levels.map((l: { features: number[] }) => l.features)).toEqual([[256, 100, 100], [256, 50, 50], [256, 25, 25], [256, 13, 13], [256, 7, 7]]);
});

test('help lists the commands and each command documents its flags', async () => {
  const top = await smpr('--help');
  expect(top.code).toBe(0);
  for (const name of ['demo', 'synth', 'train', 'predict', 'eval', 'export', 'convert', 'info', 'bench']) expect(top.stdout).toContain(name);
  const train = await smpr('train', '--help');
  expect(train.stdout).toMatch(/--resume/);
  expect(train.stdout).toMatch(/--config/);
});

test("--version prints the package's version", async () => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(await smpr('--version')).toMatchObject({ code: 0, stdout: `smpr ${version}\n` });
});

test('synth → train → resume matches an uninterrupted run → eval → predict', async () => {
  const data = join(dir, 'data');
  expect((await smpr('synth', '--out', data, '--images', '8', '--size', '64', '--seed', '5', '--min-scale', '0.5', '--max-scale', '0.9')).code).toBe(0);
  const common = ['--data', data, '--batch', '2', '--epochs', '2', '--log-every', '1', '--seed', '3'];
  const straight = await smpr('train', ...common, '--out', join(dir, 'straight'));
  expect(straight.code, straight.stderr).toBe(0);
  const half = await smpr('train', ...common, '--out', join(dir, 'resumed'), '--max-iters', '4');
  expect(half.code, half.stderr).toBe(0);
  const rest = await smpr('train', ...common, '--out', join(dir, 'resumed'), '--resume');
  expect(rest.code, rest.stderr).toBe(0);
  // It once said "trained 8 iterations", counting the 4 before the resume.
  expect(straight.stdout).toMatch(/^trained 8 iterations; final loss/m);
  expect(rest.stdout).toMatch(/^trained 4 iterations \(resumed at 4, now at 8\); final loss/m);
  const losses = (run: string) => readFileSync(join(dir, run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
  const a = losses('straight');
  const b = losses('resumed');
  expect(a).toHaveLength(8);
  expect(b).toHaveLength(8);
  // Same batches, same weights and optimizer state at the resume point, and every kernel sums in a fixed order
  // (the deformable conv's input gradient included: it adds in fixed point), so the two runs agree bit for bit.
  expect(b).toEqual(a);
  expect(existsSync(join(dir, 'straight', 'loss.png'))).toBe(true);

  const evaluation = await smpr('eval', '--weights', join(dir, 'straight', 'last.safetensors'), '--data', data, '--json', join(dir, 'eval.json'));
  expect(evaluation.code, evaluation.stderr).toBe(0);
  const evalJson = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
  const stats = evalJson.stats;
  expect(Object.keys(stats)).toEqual(['AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl']);
  // The JSON's image count is the dataset's images (8), whatever the number of people in them.
  expect(evalJson.images).toBe(8);
  expect(evalJson.results.every((r: { image_id: number }) => r.image_id >= 1 && r.image_id <= 8)).toBe(true);

  // A results file is evaluated without a model: the ground truth written as detections scores AP 1 (pycocotools'
  // eps artefact aside); a result on an image the dataset does not have is a user's mistake, named in one line.
  const resultsFile = join(dir, 'results.json');
  const truth = JSON.parse(readFileSync(join(data, 'annotations.json'), 'utf8')).annotations.filter((a: { num_keypoints: number }) => a.num_keypoints > 0);
  const asDetections = truth.map((a: { image_id: number; keypoints: number[] }) => ({ image_id: a.image_id, category_id: 1, keypoints: a.keypoints, score: 1 }));
  writeFileSync(resultsFile, JSON.stringify(asDetections));
  const fromFile = await smpr('eval', '--data', data, '--results', resultsFile, '--json', join(dir, 'eval-file.json'));
  expect(fromFile.code, fromFile.stderr).toBe(0);
  expect(JSON.parse(readFileSync(join(dir, 'eval-file.json'), 'utf8')).stats.AP).toBeCloseTo(1, 12);
  writeFileSync(resultsFile, JSON.stringify([{ ...asDetections[0], image_id: 999 }]));
  for (const modelFlag of [['--flip'], ['--cls-only'], ['--initial-pose'], ['--weights', join(dir, 'straight', 'last.safetensors')], ['--config', 'tiny'], ['--nms', 'oks']]) {
    const ignored = await smpr('eval', '--data', data, '--results', resultsFile, ...modelFlag);
    expect(ignored.code).toBe(2);
    expect(ignored.stderr.trim()).toBe(`smpr eval: ${modelFlag[0]} is about running a model; with --results there is none`);
  }
  const stray = await smpr('eval', '--data', data, '--results', resultsFile);
  expect(stray.code).toBe(2);
  expect(stray.stderr.trim()).toBe(`smpr: ${resultsFile}: [0].image_id: 999 is not the id of an image in the ground truth`);

  const image = join(dir, 'blank.png');
  writePng(image, createImage(64, 64, [90, 120, 60]));
  const predicted = await smpr('predict', '--weights', join(dir, 'straight', 'last.safetensors'), '--out', join(dir, 'pred'), image);
  expect(predicted.code, predicted.stderr).toBe(0);
  expect(existsSync(join(dir, 'pred', 'blank.pose.png'))).toBe(true);
  expect(Array.isArray(JSON.parse(readFileSync(join(dir, 'pred', 'results.json'), 'utf8')))).toBe(true);

  // export keeps the weights, the config, the step and the seed, and drops the optimizer state and the run settings.
  const exported = join(dir, 'weights.safetensors');
  const exportRun = await smpr('export', '--weights', join(dir, 'straight', 'last.safetensors'), '--out', exported);
  expect(exportRun.code, exportRun.stderr).toBe(0);
  const full = readCheckpoint(join(dir, 'straight', 'last.safetensors'));
  const slim = readCheckpoint(exported);
  expect(Object.keys(full.optimizer).length).toBeGreaterThan(0);
  expect(slim.optimizer).toEqual({});
  expect(slim.info).toEqual({ ...full.info, optimizer: undefined, run: undefined });
  expect(full.info.run?.['--batch']).toBe(2);
  // The run settings hold the seed too, and those are what a resume compares: this pins the metadata's own seed.
  expect(slim.info.seed).toBe(3);
  expect([...slim.model.keys()]).toEqual([...full.model.keys()]);
  for (const [name, t] of full.model) expect(slim.model.get(name)!.toArraySync(), name).toEqual(t.toArraySync());
});

test("predict --data gives each result its image's id, so that eval --results scores predict's file as eval scores the model", async () => {
  const data = join(dir, 'ids');
  expect((await smpr('synth', '--out', data, '--images', '4', '--seed', '77')).code).toBe(0);
  const evaluation = await smpr('eval', '--data', data, '--json', join(dir, 'ids-eval.json'));
  expect(evaluation.code, evaluation.stderr).toBe(0);
  const direct = JSON.parse(readFileSync(join(dir, 'ids-eval.json'), 'utf8')).stats;
  expect(direct.AP).toBeGreaterThan(0.1); // the shipped model finds these people, so a mismatched id would show

  // Given out of order: ids by position would pair each image's people with another image's ground truth.
  const images = ['000004.png', '000002.png', '000003.png', '000001.png'].map((name) => join(data, 'images', name));
  const predicted = await smpr('predict', '--data', data, '--out', join(dir, 'ids-pred'), ...images);
  expect(predicted.code, predicted.stderr).toBe(0);
  const fromFile = await smpr('eval', '--data', data, '--results', join(dir, 'ids-pred', 'results.json'), '--json', join(dir, 'ids-file.json'));
  expect(fromFile.code, fromFile.stderr).toBe(0);
  expect(JSON.parse(readFileSync(join(dir, 'ids-file.json'), 'utf8')).stats.AP).toBeCloseTo(direct.AP, 9);

  const stranger = join(dir, 'stranger.png');
  writePng(stranger, createImage(32, 32, [0, 0, 0]));
  const unlisted = await smpr('predict', '--data', data, '--out', join(dir, 'ids-pred2'), stranger);
  expect(unlisted.code).toBe(2);
  expect(unlisted.stderr.trim()).toBe(`smpr: ${stranger}: --data ${join(data, 'annotations.json')} lists no image of that file name`);
  const twice = await smpr('predict', '--data', data, '--out', join(dir, 'ids-pred3'), images[0]!, images[1]!, images[0]!);
  expect(twice.code).toBe(2);
  expect(twice.stderr.trim()).toBe(`smpr: ${images[0]}: given twice; its people would be counted twice`);
  // By its path in the dataset first: 'sub/000001.png' and '000001.png' are two images, not one ambiguous name.
  const json = JSON.parse(readFileSync(join(data, 'annotations.json'), 'utf8'));
  json.images[1].file_name = 'sub/000001.png';
  mkdirSync(join(data, 'images', 'sub'));
  renameSync(join(data, 'images', '000002.png'), join(data, 'images', 'sub', '000001.png'));
  writeFileSync(join(data, 'annotations.json'), JSON.stringify(json));
  const nested = await smpr('predict', '--data', data, '--out', join(dir, 'ids-nested'), join(data, 'images', 'sub', '000001.png'), join(data, 'images', '000001.png'));
  expect(nested.code, nested.stderr).toBe(0);
  const ids = JSON.parse(readFileSync(join(dir, 'ids-nested', 'results.json'), 'utf8')).map((r: { image_id: number }) => r.image_id);
  expect([...new Set(ids)]).toEqual([json.images[1].id, json.images[0].id]);
});

test("predict without --data numbers the images 1, 2, … as given; a base name met twice gets a -2 overlay; an earlier run's overlays go", async () => {
  const data = join(dir, 'numbered');
  expect((await smpr('synth', '--out', data, '--images', '2', '--seed', '78')).code).toBe(0);
  // Two inputs named 000001.png in different folders: one overlay each, neither overwriting the other.
  mkdirSync(join(dir, 'numbered-other'));
  const second = join(dir, 'numbered-other', '000001.png');
  copyFileSync(join(data, 'images', '000002.png'), second);
  const out = join(dir, 'numbered-pred');
  mkdirSync(out);
  writeFileSync(join(out, 'old.pose.png'), 'an earlier run');
  writeFileSync(join(out, 'notes.txt'), 'mine');
  const predicted = await smpr('predict', '--out', out, join(data, 'images', '000001.png'), second);
  expect(predicted.code, predicted.stderr).toBe(0);
  expect(readdirSync(out).sort()).toEqual(['000001-2.pose.png', '000001.pose.png', 'notes.txt', 'results.json']);
  // The shipped model reports people on both images; their ids are the places on the command line, from 1
  // (COCO ids: an id 0 would match no image of a dataset numbered from 1).
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number; category_id: number; keypoints: number[]; score: number }[];
  expect([...new Set(results.map((r) => r.image_id))]).toEqual([1, 2]);
  for (const r of results) {
    expect(Object.keys(r).sort()).toEqual(['category_id', 'image_id', 'keypoints', 'score']);
    expect(r.category_id).toBe(1);
    expect(r.keypoints).toHaveLength(51);
  }
});

describe('train hands the trainer what its flags say', () => {
  // A flag that parses but never reaches its option trains another run than the one asked for, with no error:
  // each value below differs from every default, so a dropped flag shows as the default.
  const data = join(dir, 'wiring-data');
  writeSynthDataset(data, { images: 2, width: 64, height: 64 });
  /** The options `smpr train --data <2 images> --out … <argv>` calls the trainer with (nothing is trained). */
  async function trainOptions(...argv: string[]): Promise<TrainOptions> {
    let seen: TrainOptions | undefined;
    vi.mocked(trainer.train).mockImplementationOnce(async (options) => {
      seen = options;
      return { model: undefined as never, records: [], iterations: 0, startIter: 0, curve: null };
    });
    const { code, stderr } = await smpr('train', '--data', data, '--out', join(dir, 'wiring-run'), ...argv);
    expect(code, stderr).toBe(0);
    expect(seen).toBeDefined();
    return seen!;
  }

  test('every training flag reaches the option it names', async () => {
    const workers = defaultWorkers() + 1;
    const options = await trainOptions(
      '--lr', '0.0125', '--warmup', '7', '--epochs', '3', '--decay', '1,2', '--batch', '2', '--size', '64', '--workers', String(workers),
      '--save-every', '5', '--positives', 'init', '--pose-weights', 'uniform', '--no-heatmap', '--neck', 'fpn', '--clip', '3',
      '--optimizer', 'sgd', '--weight-decay', '0.001', '--seed', '9', '--max-iters', '11', '--log-every', '4',
      '--backbone-weights', 'backbone.pth', '--weights', 'start.safetensors',
    );
    expect(options).toMatchObject({
      lr: 0.0125, warmupIters: 7, epochs: 3, decayEpochs: [1, 2], batchSize: 2, workers, saveEvery: 5, clipNorm: 3, optimizer: 'sgd',
      weightDecay: 0.001, seed: 9, maxIters: 11, logEvery: 4, backboneWeights: 'backbone.pth', initWeights: 'start.safetensors', outDir: join(dir, 'wiring-run'),
    });
    expect(options.config).toMatchObject({ name: 'tiny', inputSize: 64, neck: 'fpn' });
    expect(options.loss).toEqual({ positives: 'init', poseWeights: 'uniform', weights: { ...SMPR_LOSS_WEIGHTS, heatmap: 0 } });
    expect(options.data.json.images).toHaveLength(2);
    expect((await trainOptions('--workers', '64')).workers).toBe(64);
  });

  test("--recipe fills in the flags left out; --clip defaults to the config's (none for HRNet)", async () => {
    const scratch = await trainOptions();
    expect(scratch).toMatchObject({ lr: 2e-3, warmupIters: 100, epochs: 9, decayEpochs: [7, 8], batchSize: 8, optimizer: 'adamw', clipNorm: 35, workers: defaultWorkers() });
    expect(scratch.saveEvery).toBeUndefined();
    expect(scratch.loss).toEqual({ positives: 'oks', poseWeights: 'oks', weights: SMPR_LOSS_WEIGHTS });
    expect(scratch.config).toMatchObject({ name: 'tiny', inputSize: 128, neck: 'pafpn' });
    const reference = await trainOptions('--recipe', 'reference');
    expect(reference).toMatchObject({ lr: 0.02, warmupIters: 500, epochs: 100, decayEpochs: [80, 90], batchSize: 32, optimizer: 'sgd', clipNorm: 35 });
    // The authors' HRNet configs set no grad_clip: their runs train unclipped, and so does ours unless asked.
    expect((await trainOptions('--config', 'hrnet_w32')).clipNorm).toBe(0);
    expect((await trainOptions('--config', 'hrnet_w48', '--clip', '10')).clipNorm).toBe(10);
    expect((await trainOptions('--config', 'r18')).clipNorm).toBe(35);
  });
});

describe('eval and train --val hand the evaluation what their flags say', () => {
  type EvalOptions = Parameters<typeof evaluate.evaluateDataset>[2];
  /** Runs the command line with the next evaluation swapped for a recorder; returns the options it was called with. */
  async function evalOptions(...argv: string[]): Promise<NonNullable<EvalOptions>> {
    let seen: EvalOptions;
    vi.mocked(evaluate.evaluateDataset).mockImplementationOnce(async (_model, _data, options) => {
      seen = options;
      return { stats: Array.from({ length: 10 }, () => 0), results: [], seconds: 0 };
    });
    const { code, stderr } = await smpr(...argv);
    expect(code, stderr).toBe(0);
    expect(seen).toBeDefined();
    return seen!;
  }
  const data = join(dir, 'results-data');

  test('eval: --flip, --nms, --cls-only and --initial-pose reach the options they name', async () => {
    expect(await evalOptions('eval', '--data', data, '--flip', '--nms', 'oks', '--cls-only', '--initial-pose'))
      .toMatchObject({ flip: true, nms: 'oks', usePoseScore: false, useInitialPose: true });
    const plain = await evalOptions('eval', '--data', data);
    expect(plain).toMatchObject({ nms: 'soft', usePoseScore: true });
    expect(plain.flip).toBeFalsy();
    expect(plain.useInitialPose).toBeFalsy();
  });

  test("train --val evaluates as it trained: the 'init' baseline by cls alone on its initial poses", async () => {
    const train = async (...argv: string[]) => {
      vi.mocked(trainer.train).mockImplementationOnce(async () => ({ model: undefined as never, records: [], iterations: 0, startIter: 0, curve: null }));
      return evalOptions('train', '--data', data, '--val', data, '--out', join(dir, 'val-wiring-run'), ...argv);
    };
    expect(await train('--positives', 'init')).toMatchObject({ usePoseScore: false, useInitialPose: true });
    expect(await train()).toMatchObject({ usePoseScore: true, useInitialPose: false });
  });
});
