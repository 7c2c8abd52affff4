/**
 * The status page's HTML, script and style. The HTML is rendered on the server with every value
 * escaped; the script (same origin, no inline code: the Content-Security-Policy forbids it) polls
 * /api/status and redraws with textContent only. Nothing is loaded from elsewhere.
 */
import type { StatusSnapshot } from './node-status.js';

/** Allows this page's own script, style and JSON, and nothing else. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` safe inside HTML text and quoted attributes. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The page as it is now; the script keeps it fresh. */
export function renderPage(s: StatusSnapshot): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>proxima-client: ${escapeHtml(s.node)}</title><link rel="stylesheet" href="/status.css"></head>
<body><main id="status">${renderBody(s)}</main><script src="/status.js"></script></body></html>
`;
}

function renderBody(s: StatusSnapshot): string {
  const rows = (pairs: [string, unknown][]): string =>
    pairs.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  const services = s.services
    .map(
      (svc) =>
        `<tr><td>${escapeHtml(svc.name)}</td><td>${escapeHtml(`${svc.kind}, ${svc.expose}`)}</td><td>${escapeHtml(svc.urls.join(' ') || svc.note || '')}</td>` +
        `<td>${escapeHtml(svc.models.join(', ') || '-')}</td><td>${svc.served}</td><td>${svc.inFlight}</td><td>${svc.failed}</td></tr>`,
    )
    .join('');
  const errors = s.errors.map((e) => `<li>${escapeHtml(`${e.at} ${e.message}`)}</li>`).join('') || '<li>none</li>';
  const earned = s.earnings.earnings === undefined ? [] : Object.entries(s.earnings.earnings.line);
  return `<h1>${escapeHtml(s.node)} <span class="${s.connected ? 'on' : 'off'}">${s.connected ? 'connected' : 'not connected'}</span></h1>
<table>${rows([
    ['since', s.since],
    ['super node', `${s.server}${s.tls ? ' (TLS)' : ''}`],
    ['public URL', s.publicUrl ?? '-'],
    ["network's API", s.apiUrl ?? '-'],
    ['served', `${s.totals.served} (${s.totals.failed} failed), ${s.totals.inFlight} in flight`],
    ['version', s.version],
  ])}</table>
<h2>Services</h2><table><tr><th>name</th><th>kind</th><th>reached at</th><th>models</th><th>served</th><th>in flight</th><th>failed</th></tr>${services}</table>
<h2>This epoch's earnings</h2><table>${rows(earned)}</table><p>${escapeHtml(s.earnings.error ?? (s.earnings.earnings ? `read at ${s.earnings.earnings.fetchedAt}` : ''))}</p>
<h2>Recent errors</h2><ul>${errors}</ul>`;
}

/** Redraws #status from /api/status every 2 s, building every element with textContent. */
export const STATUS_SCRIPT = `'use strict';
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; };
const row = (cells, tag) => { const tr = el('tr'); for (const c of cells) tr.append(el(tag || 'td', c)); return tr; };
const table = (rows) => { const t = el('table'); for (const r of rows) t.append(r); return t; };
function draw(s) {
  const main = document.getElementById('status');
  const h1 = el('h1', s.node + ' ');
  h1.append(el('span', s.connected ? 'connected' : 'not connected', s.connected ? 'on' : 'off'));
  const t = s.totals;
  const facts = table([
    row(['since', s.since]), row(['super node', s.server + (s.tls ? ' (TLS)' : '')]), row(['public URL', s.publicUrl || '-']),
    row(["network's API", s.apiUrl || '-']), row(['served', t.served + ' (' + t.failed + ' failed), ' + t.inFlight + ' in flight']), row(['version', s.version]),
  ]);
  const services = table([row(['name', 'kind', 'reached at', 'models', 'served', 'in flight', 'failed'], 'th'),
    ...s.services.map((v) => row([v.name, v.kind + ', ' + v.expose, v.urls.join(' ') || v.note || '', v.models.join(', ') || '-', v.served, v.inFlight, v.failed]))]);
  const line = s.earnings.earnings ? s.earnings.earnings.line : {};
  const earned = table(Object.keys(line).map((k) => row([k, line[k]])));
  const note = el('p', s.earnings.error || (s.earnings.earnings ? 'read at ' + s.earnings.earnings.fetchedAt : ''));
  const errors = el('ul');
  for (const e of s.errors.length ? s.errors : [{ at: '', message: 'none' }]) errors.append(el('li', (e.at ? e.at + ' ' : '') + e.message));
  main.replaceChildren(h1, facts, el('h2', 'Services'), services, el('h2', "This epoch's earnings"), earned, note, el('h2', 'Recent errors'), errors);
}
async function poll() {
  try { const r = await fetch('/api/status', { cache: 'no-store' }); if (r.ok) draw(await r.json()); } catch {}
  setTimeout(poll, 2000);
}
setTimeout(poll, 2000);
`;

export const STATUS_STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}th,td{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}
.on{color:#070}.off{color:#a00}h1 span{font-size:60%}ul{padding-left:1.2rem}
`;
