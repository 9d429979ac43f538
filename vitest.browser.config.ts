import { defineConfig } from 'vitest/config';

// `npm run test:browser`: the page in headless Chromium (test/browser/). The Node side of each comparison runs on
// Dawn, as `npm test` does, so the same setup acquires its device.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    pool: 'forks',
    setupFiles: ['test/setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
