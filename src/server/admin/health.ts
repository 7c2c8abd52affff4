/**
 * `/healthz` and `/readyz` on the admin listener, open to anyone who can reach it (GET and HEAD).
 * `/healthz` is 200 whenever the process answers. `/readyz` runs every readiness check (each
 * bounded in time) and is 200 when all pass, else 503 naming each failing check and why.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { SECOND_MS } from '../../time.js';
import type { ApiPart } from '../api-host/api-router.js';
import { sendError, sendJson } from '../api-host/http-json.js';

/** A check that passes with something to say (shown instead of 'ok'). */
export interface ReadyWithNote {
  ready: true;
  note: string;
}

/** One readiness check: resolves undefined when it passes, else a short reason (never a secret). */
export type CheckResult = string | ReadyWithNote | undefined;
export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

/** How long one check may take before it counts as failed. */
export const CHECK_TIMEOUT_MS = 2 * SECOND_MS;

/** The health part: `checks` are run in parallel on each /readyz. */
export function healthPart(checks: Readonly<Record<string, ReadinessCheck>>, logger: Logger): ApiPart {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/healthz' && path !== '/readyz') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${path} answers GET and HEAD`), logger, { allow: 'GET, HEAD' });
      return true;
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' }); // node:http sends no body to HEAD
      return true;
    }
    const failed = new Set<string>();
    const results = await runChecks(checks, failed);
    const failing = failed.size > 0;
    sendJson(res, failing ? 503 : 200, { status: failing ? 'unavailable' : 'ready', checks: results });
    return true;
  };
}

/** Every check's result: 'ok', its note, or its reason (and then its name joins `failed`). */
export async function runChecks(
  checks: Readonly<Record<string, ReadinessCheck>>,
  failed = new Set<string>(),
): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const result = await bounded(check);
      if (typeof result === 'string') failed.add(name);
      return [name, result === undefined ? 'ok' : typeof result === 'string' ? result : result.note] as const;
    }),
  );
  return Object.fromEntries(entries);
}

async function bounded(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race<CheckResult>([Promise.resolve().then(check), timeout]);
  } catch (err) {
    return err instanceof ProximaError ? err.code : 'failed';
  } finally {
    clearTimeout(timer);
  }
}
