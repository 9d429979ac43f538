/** A training sample: one image and the people to learn from it (pure data, so that it runs in a browser too). */
import type { Person } from '../coco/person.js';
import type { Image } from './image.js';

/** One image and the people to learn from it. */
export interface Sample {
  image: Image;
  people: Person[];
}
