import { existsSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { Interrupted, UserError } from '../../errors.js';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readImage, readImageSize } from '../../data/image-file.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { writeOverlay } from '../overlay.js';
import type { CocoKeypointResult } from '../../coco/format.js';
import { predictImage } from '../../smpr/predict.js';
import { defineCommand, refuseEmptyPaths } from '../args.js';
import { CONFIG_FOR_WEIGHTS_FLAG, SHIPPED_WEIGHTS, SHIPPED_WEIGHTS_NOTE, loadModel, openDataset } from '../model-io.js';
import { prepareFolder } from '../../io/folders.js';

export const predictCommand = defineCommand({
  name: 'predict',
  summary: 'find people in PNG or JPEG images: COCO results JSON plus an overlay PNG per image',
  flags: {
    weights: { type: 'string', default: SHIPPED_WEIGHTS, description: `checkpoint (.safetensors) written by smpr train or smpr export, or a .pth with --config; ${SHIPPED_WEIGHTS_NOTE}`, valueName: 'FILE' },
    config: CONFIG_FOR_WEIGHTS_FLAG,
    data: { type: 'string', description: "a dataset folder or annotation file listing the images: each result takes its image's id there (found by its path in the dataset, else its file name), so that `smpr eval --data` with `--results` can score results.json; without it the ids are the images' places on the command line (1, 2, …)", valueName: 'DIR' },
    out: { type: 'string', default: 'predictions', description: 'folder for results.json and the overlays', valueName: 'DIR' },
    'min-score': { type: 'number', min: 0, max: 1, default: 0.1, description: 'draw only people scoring above this' },
    flip: { type: 'boolean', description: 'also run on the flipped image and merge (flip test)' },
    nms: { type: 'string', choices: ['soft', 'oks'], default: 'soft', description: "'soft': linear soft-NMS on keypoint boxes (the authors' code); 'oks': OKS-NMS (the paper)" },
  },
  positionals: [{ name: 'IMAGE', description: 'PNG or JPEG images', variadic: true }],
  async run({ flags, positionals }) {
    refuseEmptyPaths('predict', { weights: flags.weights, data: flags.data, IMAGE: positionals.find((path) => path === '') });
    prepareFolder('--out', flags.out);
    if (!existsSync(flags.weights)) throw new UserError(`${flags.weights}: no such checkpoint`);
    for (const path of positionals) readImageSize(path); // a missing or unreadable file stops here, before any work
    // An earlier run's overlay given again (`smpr predict --out . *.png`) would be written over or deleted below.
    const out = realpathSync(flags.out);
    const overlay = positionals.find((path) => basename(path).endsWith(OVERLAY_SUFFIX) && realpathSync(dirname(path)) === out);
    if (overlay !== undefined) throw new UserError(`${overlay}: is an overlay in --out ${flags.out}, which this run replaces; leave it out, or write to another --out`);
    const imageIds = flags.data !== undefined ? idsInDataset(positionals, flags.data) : positionals.map((_, i) => i + 1);
    // Ctrl-C stops before the next image and keeps what was done, as a bad image does below. Node's own exit wrote
    // no results.json, and left an earlier run's, and its overlays, beside this run's.
    let stopCode: number | null = null;
    const onSignal = (signal: NodeJS.Signals) => void (stopCode = signal === 'SIGINT' ? 130 : 143);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const all: CocoKeypointResult[] = [];
    const names = overlayNames(positionals);
    const resultsPath = join(flags.out, 'results.json');
    let done = 0;
    try {
      const model = await loadModel(flags.weights, flags.config);
      for (const [i, path] of positionals.entries()) {
        if (stopCode !== null) break;
        const image = await readImage(path);
        const people = await predictImage(model, image, imageIds[i]!, { flip: flags.flip, nms: flags.nms as 'soft' | 'oks' });
        all.push(...people);
        const shown = people.filter((p) => p.score > flags['min-score']);
        const overlayPath = join(flags.out, names[i]!);
        writeOverlay(overlayPath, image, shown, model.config.keypoints);
        process.stdout.write(`${path}: ${shown.length} ${shown.length === 1 ? 'person' : 'people'} above ${flags['min-score']} (${people.length} detections) → ${overlayPath}\n`);
        done += 1;
      }
    } finally {
      // The results of every image done so far are kept, also when a later one turns out to be unreadable; a run
      // that did none leaves an earlier run's results as they were. Once this run has written, an earlier run's
      // overlays go, so that the folder holds one run's pictures beside its results.
      if (done > 0) {
        writeFileAtomic(resultsPath, [Buffer.from(JSON.stringify(all))]);
        const written = new Set(names.slice(0, done));
        for (const name of readdirSync(flags.out)) if (name.endsWith(OVERLAY_SUFFIX) && !written.has(name)) rmSync(join(flags.out, name));
      }
      // Only now: a second Ctrl-C before would end the process as Node does, with the results half done.
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    // A signal during the last image still exits 130, as a signal does; every result is written by then.
    if (stopCode !== null) {
      throw new Interrupted(`predict: stopped after ${done} of ${positionals.length} images${done > 0 ? `; their results are in ${resultsPath}` : ''}`, stopCode);
    }
  },
});

/**
 * Each image's id in the dataset at `data`: by its path under the dataset's image folder when it lies there, else
 * by its file name (one line naming the first image it lacks, or one given twice).
 */
function idsInDataset(paths: readonly string[], data: string): number[] {
  const dataset = openDataset(data);
  const byPath = new Map<string, number[]>();
  const byName = new Map<string, number[]>();
  for (const image of dataset.json.images) {
    byPath.set(image.file_name, [...(byPath.get(image.file_name) ?? []), image.id]);
    byName.set(basename(image.file_name), [...(byName.get(basename(image.file_name)) ?? []), image.id]);
  }
  const seen = new Set<string>();
  return paths.map((path) => {
    if (seen.has(resolve(path))) throw new UserError(`${path}: given twice; its people would be counted twice`);
    seen.add(resolve(path));
    const inside = relative(resolve(dataset.imageDir), resolve(path));
    const underImages = inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
    const found = (underImages ? byPath.get(inside.split(sep).join('/')) : undefined) ?? byName.get(basename(path)) ?? [];
    if (found.length !== 1) {
      const problem = found.length === 0 ? 'lists no image of that file name' : `lists ${found.length} images of that file name (ids ${found.join(', ')})`;
      throw new UserError(`${path}: --data ${dataset.annotationsPath} ${problem}`);
    }
    return found[0]!;
  });
}

const OVERLAY_SUFFIX = '.pose.png';

/** `name.pose.png` per input; one whose name is taken (the same base name in another folder) gets `name-2.pose.png`, … */
function overlayNames(paths: readonly string[]): string[] {
  const used = new Set<string>();
  return paths.map((path) => {
    const stem = basename(path, extname(path));
    let name = `${stem}${OVERLAY_SUFFIX}`;
    for (let n = 2; used.has(name); n++) name = `${stem}-${n}${OVERLAY_SUFFIX}`;
    used.add(name);
    return name;
  });
}
