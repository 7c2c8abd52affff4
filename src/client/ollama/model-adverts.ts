/**
 * From a local Ollama's `/api/tags` to the models a node advertises: only shared models, only the
 * fields the super node routes and rewards with (name, digest, size, modified time, a few details),
 * and never more than fits in one control message (64 KiB).
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { DETAIL_FIELDS, DIGEST_PATTERN, isPrintable, modelNameProblem } from '../../proto/control/advert-fields.js';
import { MAX_MESSAGE_BYTES } from '../../proto/control/codec.js';
import type { ModelAdvert, ServiceAdvert } from '../../proto/control/messages.js';
import type { ShareFilter } from './model-share.js';

/** Longest name, digest or detail string kept; longer ones are not Ollama's. */
const MAX_FIELD_CHARS = 256;
const MAX_DIGEST_CHARS = 128;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const shortString = (v: unknown, max = MAX_FIELD_CHARS): v is string => typeof v === 'string' && v !== '' && v.length <= max;

/**
 * The shared models of a parsed `/api/tags` answer, sorted by name. Entries without a usable name or
 * digest are skipped; a body that is not `{"models": [...]}` is PRX_ERR_HTTP_BAD_RESPONSE.
 */
export function modelAdverts(tags: unknown, isShared: ShareFilter): ModelAdvert[] {
  if (!isObject(tags) || !Array.isArray(tags.models)) {
    throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, '/api/tags did not answer {"models": [...]}');
  }
  const adverts: ModelAdvert[] = [];
  for (const entry of tags.models) {
    // The super node refuses an advert with a name or digest it could not serve safely: skip those.
    if (!isObject(entry) || modelNameProblem(entry.name) !== undefined || !shortString(entry.digest, MAX_DIGEST_CHARS)) continue;
    if (!DIGEST_PATTERN.test(entry.digest)) continue;
    if (!isShared(entry.name as string)) continue;
    const advert: ModelAdvert = { name: entry.name as string, digest: entry.digest };
    if (typeof entry.size === 'number' && Number.isSafeInteger(entry.size) && entry.size >= 0) advert.size = entry.size;
    if (shortString(entry.modified_at, 64) && isPrintable(entry.modified_at)) advert.modifiedAt = entry.modified_at;
    if (isObject(entry.details)) advert.details = pickDetails(entry.details);
    adverts.push(advert);
  }
  return adverts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function pickDetails(details: Json): Json {
  const out: Json = {};
  for (const key of DETAIL_FIELDS) {
    const v = details[key];
    if (typeof v === 'string' && v.length <= MAX_FIELD_CHARS && isPrintable(v)) out[key] = v;
    else if (Array.isArray(v) && v.length <= 16 && v.every((s) => shortString(s, 64) && isPrintable(s))) out[key] = v;
  }
  return out;
}

/**
 * `services` trimmed so that one `advertise` message fits the control protocol's cap: models are
 * dropped from the end of the longest list until it fits. Returns how many were dropped.
 */
export function fitAdvertise(services: readonly ServiceAdvert[]): { services: ServiceAdvert[]; dropped: number } {
  const out = services.map((s) => (s.models === undefined ? s : { ...s, models: [...s.models] }));
  const bytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));
  // Every model costs its JSON and a comma (the cap counts the JSON, not its length prefix).
  let total = bytes({ type: 'advertise', services: out });
  let dropped = 0;
  while (total > MAX_MESSAGE_BYTES) {
    const longest = out.reduce<ServiceAdvert | undefined>(
      (best, s) => ((s.models?.length ?? 0) > (best?.models?.length ?? 0) ? s : best),
      undefined,
    );
    const model = longest?.models?.pop();
    if (model === undefined) break;
    total -= bytes(model) + 1;
    dropped++;
  }
  return { services: out, dropped };
}
