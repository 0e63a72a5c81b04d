/**
 * The dashboard's static files, all shipped in the package (no CDN): htmx
 * and uPlot from their npm packages (found with require.resolve, so they
 * load from wherever npm installed them), and the dashboard's own CSS and
 * script from ./assets next to this module (copied into dist by the build).
 * Read once, kept in memory, served with a content hash in the URL so a
 * browser caches each version for good.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Api } from '../routes/types.js';

interface Asset {
  body: Uint8Array;
  type: string;
  hash: string;
}

const require = createRequire(import.meta.url);
const own = (file: string) => fileURLToPath(new URL(`./assets/${file}`, import.meta.url));

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** URL name → the files it is made of (the dashboard's CSS: three files, one response). */
const SOURCES: Record<string, { paths: () => string[]; type: string }> = {
  'htmx.min.js': { paths: () => [require.resolve('htmx.org/dist/htmx.min.js')], type: JS },
  'uplot.min.js': { paths: () => [require.resolve('uplot/dist/uPlot.iife.min.js')], type: JS },
  'uplot.min.css': { paths: () => [require.resolve('uplot/dist/uPlot.min.css')], type: CSS },
  'dashboard.js': { paths: () => [own('dashboard.js')], type: JS },
  'dashboard.css': {
    paths: () => ['base.css', 'lists.css', 'pages.css'].map((f) => own(`css/${f}`)),
    type: CSS,
  },
};

export type AssetName = keyof typeof SOURCES;

let loaded: Map<string, Asset> | null = null;

function assets(): Map<string, Asset> {
  if (loaded) return loaded;
  const out = new Map<string, Asset>();
  for (const [name, src] of Object.entries(SOURCES)) {
    const body = Buffer.concat(src.paths().map((p) => readFileSync(p)));
    out.set(name, {
      body,
      type: src.type,
      hash: createHash('sha256').update(body).digest('hex').slice(0, 12),
    });
  }
  loaded = out;
  return out;
}

/** The URL of an asset, with its content hash. */
export function assetUrl(base: string, name: AssetName): string {
  return `${base}/assets/${name}?v=${assets().get(name)!.hash}`;
}

/** GET /assets/:name — public (the login page needs them), cached by version. */
export function assetRoutes(app: Api): void {
  app.get('/assets/:name', (c) => {
    const asset = assets().get(c.req.param('name'));
    if (!asset) return c.text('no such asset', 404);
    const etag = `"${asset.hash}"`;
    const headers: Record<string, string> = {
      'content-type': asset.type,
      etag,
      'x-content-type-options': 'nosniff',
      'cache-control':
        c.req.query('v') === asset.hash
          ? 'public, max-age=31536000, immutable'
          : 'public, max-age=0, must-revalidate',
    };
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, headers);
  });
}
