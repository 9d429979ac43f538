/** The pictures predict and demo draw: the people found, over a copy of the image, as a PNG. */
import type { KeypointSpec } from '../coco/keypoints.js';
import { drawPoses, type PoseToDraw } from '../data/draw.js';
import { cloneImage, type Image } from '../data/image.js';
import { encodePng } from '../data/png.js';
import { writeFileAtomic } from '../io/atomic.js';

/** Writes `people` drawn over `image` to `path`, atomically: a full disk leaves no cut-off picture behind, and the error names the file. */
export function writeOverlay(path: string, image: Image, people: readonly PoseToDraw[], keypoints: KeypointSpec): void {
  const overlay = cloneImage(image);
  drawPoses(overlay, people, keypoints, { scoreText: true });
  writeFileAtomic(path, [encodePng(overlay)]);
}
