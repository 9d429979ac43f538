// The page's static server (src/node/web-server.ts): it serves the page, the compiled modules and the weights, and
// nothing else of the repository, whatever the path says.
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
    const root = await get('/');
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/web/');
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
