// The page's static server (src/node/web-server.ts): it serves the page, the compiled modules and the weights, and
// nothing else of the repository, whatever the path says.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type WebServer } from '../src/node/web-server.js';

let web: WebServer;
beforeAll(async () => {
  web = await startWebServer(0);
});
afterAll(() => web.close());

const get = (path: string) => fetch(new URL(path, web.url), { redirect: 'manual' });

describe('the web server', () => {
  it('sends / to the page and serves it, its modules and the weights with their types', async () => {
    for (const path of ['/', '/web']) {
      // '/web' without its slash would resolve the page's relative imports against the root.
      const root = await get(path);
      expect(root.status, path).toBe(302);
      expect(root.headers.get('location')).toBe('/web/');
    }
    const page = await get('/web/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('../dist/web/app.js');
    const module = await get('/dist/src/browser.js');
    expect(module.headers.get('content-type')).toMatch(/^text\/javascript/);
    const weights = await get('/weights/smpr-tiny-synth.safetensors');
    expect(weights.status).toBe(200);
    expect((await weights.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
  });

  it('serves nothing outside web/, dist/ and weights/', async () => {
    for (const path of ['/package.json', '/src/index.ts', '/web/../package.json', '/web/%2e%2e/package.json', '/dist/..%2f..%2fpackage.json', '/web/%00', '/%E0%A4%A']) {
      expect([400, 404], path).toContain((await get(path)).status);
    }
  });
});

describe('the web server on a root of its own', () => {
  // A scratch root holds what the repository's does not: a file of every served type, a sibling folder whose name
  // starts like a served one, and a file beside the folders that a '..' would reach.
  const root = mkdtempSync(join(tmpdir(), 'web-root-'));
  for (const folder of ['web', 'dist', 'weights', 'web-private']) mkdirSync(join(root, folder));
  writeFileSync(join(root, 'package.json'), '{"private": true}');
  writeFileSync(join(root, 'web-private', 'notes.txt'), 'private');
  const types: Record<string, RegExp> = {
    'web/page.html': /^text\/html/, 'web/style.css': /^text\/css/, 'dist/app.js': /^text\/javascript/, 'dist/app.js.map': /^application\/json$/,
    'web/data.json': /^application\/json$/, 'web/logo.png': /^image\/png$/, 'weights/model.safetensors': /^application\/octet-stream$/,
    'web/readme.txt': /^application\/octet-stream$/,
  };
  for (const file of Object.keys(types)) writeFileSync(join(root, file), file);
  let own: WebServer;
  beforeAll(async () => {
    own = await startWebServer(0, root);
  });
  afterAll(() => own.close());
  const getOwn = (path: string) => fetch(new URL(path, own.url), { redirect: 'manual' });

  it('listens on the loopback address only', () => {
    // Bound to every interface, the page (and the weights) would be served to the whole network.
    expect((own.server.address() as AddressInfo).address).toBe('127.0.0.1');
  });

  it('sends each served file with the content type of its extension, and unknown ones as octet-stream', async () => {
    for (const [file, type] of Object.entries(types)) {
      const response = await getOwn(`/${file}`);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type'), file).toMatch(type);
      expect(await response.text()).toBe(file);
    }
  });

  it("resolves an encoded '..' before the folder check, and a folder named like a served one is not served", async () => {
    // '%2f' is not a separator to the URL parser, so '/dist/..%2fpackage.json' reaches the server whole and decodes to
    // dist/../package.json: a check of the prefix before normalising would take it for a file of dist/.
    for (const path of ['/dist/..%2fpackage.json', '/web%2f..%2fpackage.json', '/web-private/notes.txt']) {
      expect((await getOwn(path)).status, path).toBe(404);
    }
  });
});
