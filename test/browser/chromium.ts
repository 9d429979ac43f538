/**
 * Headless Chromium with WebGPU, for the browser suite: Debian's `chromium` package driven by playwright-core
 * (Playwright's own browser download is not needed). `--enable-unsafe-webgpu` turns WebGPU on where Chromium
 * does not enable it by default (Linux, headless); with no GPU it gives SwiftShader's software adapter.
 * CHROMIUM=/path/to/chrome picks another binary.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string {
  const path = process.env.CHROMIUM ?? CANDIDATES.find((p) => existsSync(p));
  if (!path || !existsSync(path)) {
    throw new Error(`no Chromium found (looked for ${process.env.CHROMIUM ?? CANDIDATES.join(', ')}): install it with \`apt-get install -y chromium\`, or set CHROMIUM to a Chrome or Chromium binary`);
  }
  return path;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--enable-unsafe-webgpu'] });
}
