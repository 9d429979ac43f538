/**
 * A small static file server for the browser page: `npm run web` (or `node dist/src/node/web-server.js [PORT]`)
 * serves web/, the compiled modules in dist/ and the shipped weights from the package root, on localhost — which
 * browsers treat as a secure context, where `navigator.gpu` exists. No bundler is involved: tsc already emits ES
 * modules that import each other by relative paths, and the browser's import graph holds nothing else
 * (test/browser-imports.test.ts), so serving the files as they are is the whole build.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from './package-root.js';

/** The folders a page may read; nothing else of the repository is served. */
const SERVED = ['web', 'dist', 'weights'];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
};

/**
 * The file a request path names, or null unless it is a file inside a served folder. normalize() resolves '..'
 * before the folder check, and the check is made again on the real paths, so that a symbolic link inside a served
 * folder cannot reach a file outside it (the folders themselves may be links).
 */
function servedFile(root: string, path: string): string | null {
  const relative = normalize(path).replace(/^[/\\]+/, '');
  const folder = SERVED.find((name) => relative.startsWith(name + sep));
  if (!folder || relative.includes('\0')) return null;
  try {
    const file = realpathSync(join(root, relative));
    return file.startsWith(realpathSync(join(root, folder)) + sep) && statSync(file).isFile() ? file : null;
  } catch {
    return null; // no such file, or one that cannot be read
  }
}

export interface WebServer {
  server: Server;
  /** http://127.0.0.1:PORT/web/ — the page. */
  url: string;
  close(): Promise<void>;
}

/** Serves the page on 127.0.0.1; port 0 picks a free one. */
export async function startWebServer(port = 0, root = packageRoot()): Promise<WebServer> {
  const server = createServer((request, response) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    } catch {
      response.writeHead(400, { 'content-type': 'text/plain' });
      response.end('bad request path\n');
      return;
    }
    if (path === '/' || path === '/web') {
      response.writeHead(302, { location: '/web/' });
      response.end();
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
      response.end(`${request.method} is not served; the page only reads\n`);
      return;
    }
    const file = servedFile(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end(`not found: ${path}\n`);
      return;
    }
    response.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    url: `http://127.0.0.1:${actual}/web/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// `node dist/src/node/web-server.js [PORT]`: serve until Ctrl-C.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.argv[2] ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`web-server: the port must be an integer from 0 to 65535, got '${process.argv[2]}'\n`);
    process.exit(2);
  }
  startWebServer(port).then(
    (web) => process.stdout.write(`serving the SMPR page at ${web.url} (Ctrl-C stops); open it in Chrome or Edge, or Chromium with --enable-unsafe-webgpu\n`),
    (error: Error) => {
      process.stderr.write(`web-server: ${error.message}\n`);
      process.exit(2);
    },
  );
}
