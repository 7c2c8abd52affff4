/**
 * The dashboard's files, read once into memory: the chart library (uPlot, copied from its npm
 * package into dist by the build), the page's script and style, and the two HTML pages. Assets are
 * named with a hash of their content, so they can be cached for a year; the pages are never cached.
 * Every answer carries a strict Content-Security-Policy: no inline script or style, nothing from
 * another origin, no framing.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { HttpResponse } from '../../../http/exchange.js';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Headers on every dashboard answer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The files under assets/ (next to this module, in dist) and their types. */
const FILES: Record<string, string> = {
  'uPlot.iife.min.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  /** `/dashboard/assets/<name>?v=<hash>`. */
  url: string;
  etag: string;
}

/** The assets in memory, and the pages that name them. */
export class DashboardPages {
  readonly #assets = new Map<string, Asset>();

  /** Reads every asset from `dir` (one missing is a broken build: the constructor throws). */
  constructor(dir: URL = new URL('./assets/', import.meta.url)) {
    for (const [name, type] of Object.entries(FILES)) {
      let body: Buffer;
      try {
        body = fs.readFileSync(new URL(name, dir));
      } catch (err) {
        throw new Error(`the dashboard's ${name} is missing from the build (run "npm run build")`, { cause: err });
      }
      const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16);
      this.#assets.set(name, { body, type, url: `/dashboard/assets/${name}?v=${hash}`, etag: `"${hash}"` });
    }
  }

  /** Answers GET /dashboard/assets/<name>; false when there is no such asset. */
  serveAsset(name: string, ifNoneMatch: string | undefined, res: HttpResponse): boolean {
    const asset = this.#assets.get(name);
    if (asset === undefined) return false;
    const headers = { ...SECURITY_HEADERS, 'cache-control': 'public, max-age=31536000, immutable', etag: asset.etag };
    if (ifNoneMatch === asset.etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-type': asset.type, 'content-length': asset.body.length }).end(asset.body);
    return true;
  }

  /** The login page; `problem` is a fixed sentence of ours, never user input. */
  login(res: HttpResponse, status: number, problem?: string): void {
    const body = `<main class="login">
<h1>Proxima dashboard</h1>
${problem === undefined ? '' : `<p class="problem" role="alert">${escapeHtml(problem)}</p>`}
<form method="post" action="/dashboard/login">
<label>Node name <small>(empty for the admin token)</small><input name="node" autocomplete="username" maxlength="63"></label>
<label>Token<input name="token" type="password" autocomplete="current-password" required maxlength="512"></label>
<button type="submit">Log in</button>
</form>
</main>`;
    this.#page(res, status, 'Proxima dashboard: log in', body, false);
  }

  /** The dashboard itself: empty sections that the script fills from /dashboard/state. */
  dashboard(res: HttpResponse): void {
    const body = `<header><h1>Proxima dashboard</h1><span id="viewer"></span><span id="updated"></span>
<form method="post" action="/dashboard/logout"><button type="submit">Log out</button></form></header>
<main>
<section><h2>Nodes</h2><table id="nodes"></table></section>
<section><h2>Models</h2><table id="models"></table></section>
<section><h2>Traffic</h2><div class="charts"><div id="chart-requests"></div><div id="chart-tokens"></div><div id="chart-ttft"></div></div></section>
<section><h2>Rewards</h2><div id="rewards"></div></section>
<section><h2>Recent errors</h2><table id="errors"></table></section>
</main>
<script src="${this.#url('uPlot.iife.min.js')}"></script>
<script src="${this.#url('dashboard.js')}"></script>`;
    this.#page(res, 200, 'Proxima dashboard', body, true);
  }

  #page(res: HttpResponse, status: number, title: string, body: string, charts: boolean): void {
    const styles = (charts ? ['uPlot.min.css', 'dashboard.css'] : ['dashboard.css'])
      .map((name) => `<link rel="stylesheet" href="${this.#url(name)}">`)
      .join('\n');
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title>
${styles}</head>
<body>${body}</body></html>
`;
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'cache-control': 'no-store',
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
    });
    res.end(html);
  }

  #url(name: string): string {
    return escapeHtml(this.#assets.get(name)!.url);
  }
}

/** Text made safe to put in HTML, in text or in a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
