// The page's static server (src/node/web-server.ts): it serves the page, the compiled modules and the weights, and
// nothing else of the repository, whatever the path says.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('follows no symbolic link out of its served folder (not even into another), and serves one that stays inside', async () => {
    // A link is a file to the path checks; only its real path tells where it leads.
    symlinkSync(join(root, 'package.json'), join(root, 'web', 'escape.json'));
    symlinkSync('/etc/hostname', join(root, 'weights', 'host.png'));
    symlinkSync(join(root, 'web-private'), join(root, 'dist', 'private'));
    symlinkSync(join(root, 'web', 'data.json'), join(root, 'dist', 'data.json'));
    symlinkSync('app.js', join(root, 'dist', 'alias.js'));
    for (const path of ['/web/escape.json', '/weights/host.png', '/dist/private/notes.txt', '/dist/data.json']) expect((await getOwn(path)).status, path).toBe(404);
    const inside = await getOwn('/dist/alias.js');
    expect(inside.status).toBe(200);
    expect(await inside.text()).toBe('dist/app.js');
  });

  it('answers only GET and HEAD', async () => {
    const head = await fetch(new URL('/web/page.html', own.url), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/html/);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await fetch(new URL('/web/page.html', own.url), { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
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
