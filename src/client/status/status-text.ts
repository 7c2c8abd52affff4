/**
 * The status as `proxima-client status` prints it in a terminal, and how it finds the running
 * client: GET /api/status on the configured address, then on the next ports the client may have
 * moved to when its own was taken.
 */
import http from 'node:http';
import type { StatusSnapshot } from './node-status.js';
import { PORT_TRIES } from './status-server.js';

const READ_TIMEOUT_MS = 3_000;
const MAX_STATUS_BYTES = 1024 * 1024;

/** The snapshot as lines of text: control characters a name could carry are shown as `?`. */
export function statusText(s: StatusSnapshot): string {
  const clean = (v: unknown): string => String(v).replace(/\p{Cc}/gu, '?');
  const lines = [
    `node ${clean(s.node)}: ${s.connected ? 'connected' : 'NOT connected'} since ${clean(s.since)}`,
    `super node:    ${clean(s.server)}${s.tls ? ' (TLS)' : ''}`,
    `public URL:    ${clean(s.publicUrl ?? '-')}`,
    `network's API: ${clean(s.apiUrl ?? '-')}`,
    `served:        ${s.totals.served} (${s.totals.failed} failed), ${s.totals.inFlight} in flight`,
    'services:',
    ...s.services.flatMap((v) => [
      `  ${clean(v.name)} (${v.kind}, ${v.expose}): ${clean(v.urls.join(' and ') || v.note || '')}`,
      `    served ${v.served} (${v.failed} failed), ${v.inFlight} in flight; models: ${clean(v.models.join(', ') || '-')}`,
    ]),
    "this epoch's earnings:",
    ...(s.earnings.earnings === undefined ? [] : Object.entries(s.earnings.earnings.line).map(([k, v]) => `  ${clean(k)}: ${clean(v)}`)),
    ...(s.earnings.error === undefined ? [] : [`  (${clean(s.earnings.error)})`]),
    `recent errors (${s.errors.length}):`,
    ...s.errors.slice(0, 10).map((e) => `  ${clean(e.at)} ${clean(e.message)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The status of the client running as `node`, read from `host:port` or the next ports; undefined when none answers. */
export async function findStatus(host: string, port: number, node: string): Promise<{ port: number; status: StatusSnapshot } | undefined> {
  const dial = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const tries = port === 0 ? 0 : Math.min(PORT_TRIES, 65536 - port);
  for (let i = 0; i < tries; i++) {
    const status = await readStatus(dial, port + i).catch(() => undefined);
    if (status !== undefined && status.node === node) return { port: port + i, status };
  }
  return undefined;
}

function readStatus(host: string, port: number): Promise<StatusSnapshot | undefined> {
  return new Promise((resolve, reject) => {
    const hostHeader = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const req = http.get({ host, port, path: '/api/status', headers: { host: hostHeader }, timeout: READ_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > MAX_STATUS_BYTES) req.destroy(new Error('status too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusSnapshot;
          resolve(res.statusCode === 200 && typeof body?.node === 'string' && Array.isArray(body.services) ? body : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
