/**
 * The value kinds both config files share: hostnames, host:port pairs, listen addresses, durations,
 * files (resolved against the config file's folder) and secrets given inline or in a file.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LOG_FORMATS, type LogFormat } from '../log.js';
import { TUNING_MODES, type TuningMode } from '../runtime/index.js';
import { HOUR_MS, MINUTE_MS, SECOND_MS } from '../time.js';
import {
  type CheckContext,
  type Checked,
  fail,
  isSet,
  type KeyRules,
  map,
  oneOf,
  optional,
  pathOf,
  type Schema,
  scalar,
  section,
  withDefault,
} from './schema.js';

/** A parsed `host:port`. */
export interface HostPort {
  host: string;
  port: number;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function hostnameProblem(v: string): string | undefined {
  const labels = v.toLowerCase().split('.');
  if (v.length > 253 || !labels.every((l) => LABEL.test(l))) return 'must be a hostname, e.g. proxima.example.com';
  if (/^\d+$/.test(labels[labels.length - 1]!)) return 'must be a hostname, not an IP address';
  return undefined;
}

/** A DNS hostname such as `proxima.example.com` or `localhost`, lower-cased. */
export function hostname(): Schema<string> {
  const name = scalar<string>('a hostname', (v) =>
    typeof v === 'string' ? hostnameProblem(v) : 'must be a hostname, e.g. proxima.example.com',
  );
  return map(name, (v) => v.toLowerCase());
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/;

/** Parses `host:port`, `[v6]:port` or, when `defaultHost` is given, `:port`; undefined when malformed. */
export function parseHostPort(text: string, minPort: number, defaultHost?: string): HostPort | undefined {
  const m = HOST_PORT.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < minPort || port > 65535) return undefined;
  if (m[1] !== undefined) return net.isIPv6(m[1]) ? { host: m[1], port } : undefined;
  const host = m[2]!;
  if (host === '') return defaultHost === undefined ? undefined : { host: defaultHost, port };
  if (/^[\d.]+$/.test(host)) return net.isIPv4(host) ? { host, port } : undefined;
  return host.split('.').every((l) => LABEL.test(l.toLowerCase())) ? { host: host.toLowerCase(), port } : undefined;
}

function addressSchema(message: string, parse: (v: unknown) => HostPort | undefined): Schema<HostPort> {
  return {
    expected: 'host:port',
    check(value, at, ctx) {
      return parse(value) ?? fail(ctx, at, message);
    },
  };
}

/** An address to dial: `host:port` with a port from 1. */
export function hostPort(example: string): Schema<HostPort> {
  const message = `must be host:port, e.g. ${example}`;
  return addressSchema(message, (v) => (typeof v === 'string' ? parseHostPort(v, 1) : undefined));
}

/** An address to listen on: `host:port`, `:port` or a bare port (all interfaces); port 0 picks a free one. */
export function listenAddress(example: string): Schema<HostPort> {
  const message = `must be host:port, :port or a port, e.g. ${example}`;
  return addressSchema(message, (v) => {
    if (typeof v === 'number') return Number.isInteger(v) ? parseHostPort(`:${v}`, 0, '0.0.0.0') : undefined;
    if (typeof v !== 'string') return undefined;
    return parseHostPort(/^\d+$/.test(v) ? `:${v}` : v, 0, '0.0.0.0');
  });
}

const UNIT_MS: Record<string, number> = { ms: 1, s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS };
const DURATION = /^(\d+)\s*(ms|s|m|h)$/;

/** A duration in milliseconds: an integer (ms), or a string with a unit such as `"15s"` or `"500ms"`. */
export function duration(minMs: number, maxMs: number): Schema<number> {
  const message = `must be a duration from ${minMs} to ${maxMs} ms: an integer of milliseconds or a string such as "15s"`;
  const toMs = (v: unknown): number | undefined => {
    if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
    const m = typeof v === 'string' ? DURATION.exec(v.trim()) : null;
    return m === null ? undefined : Number(m[1]) * UNIT_MS[m[2]!]!;
  };
  return {
    expected: 'a duration',
    check(value, at, ctx) {
      const ms = toMs(value);
      return ms !== undefined && ms >= minMs && ms <= maxMs ? ms : fail(ctx, at, message);
    },
  };
}

/** Relative paths mean the config file's folder; joined, not resolved, so a relative base stays relative. */
function resolveAgainst(ctx: CheckContext, file: string): string {
  return path.isAbsolute(file) ? path.normalize(file) : path.join(ctx.baseDir, file);
}

/** A folder path, resolved against the config file's folder; it need not exist yet. */
export function folderPath(): Schema<string> {
  return {
    expected: 'a path',
    check(value, at, ctx) {
      return typeof value === 'string' && value !== '' ? resolveAgainst(ctx, value) : fail(ctx, at, 'must be a path');
    },
  };
}

/** A file that exists and can be read now, resolved against the config file's folder. */
export function readableFile(): Schema<string> {
  return {
    expected: 'a file path',
    check(value, at, ctx) {
      if (typeof value !== 'string' || value === '') return fail(ctx, at, 'must be a file path');
      const file = resolveAgainst(ctx, value);
      try {
        if (!fs.statSync(file).isFile()) return fail(ctx, at, `not a file: ${file}`);
        fs.accessSync(file, fs.constants.R_OK);
        return file;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        return fail(ctx, at, code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file} (${code ?? 'error'})`);
      }
    },
  };
}

function secretProblem(v: unknown, minLength: number): string | undefined {
  if (typeof v !== 'string') return 'must be a string';
  if (v.length < minLength) return `must be at least ${minLength} characters`;
  return /\s/.test(v) ? 'must not contain spaces' : undefined;
}

/** The keys of a secret given either inline (`token`) or in a file (`tokenFile`). */
export function tokenFields(minLength: number): { token: Schema<string | undefined>; tokenFile: Schema<string | undefined> } {
  return {
    token: optional(scalar<string>('a token', (v) => secretProblem(v, minLength))),
    tokenFile: optional(readableFile()),
  };
}

/** Key rules for {@link tokenFields}: never both; with `required`, one of them. */
export function tokenRules(required: boolean): KeyRules {
  return (raw, report) => {
    if (isSet(raw, 'token') && isSet(raw, 'tokenFile')) report('tokenFile', 'give token or tokenFile, not both');
    else if (required && !isSet(raw, 'token') && !isSet(raw, 'tokenFile')) report('token', 'required (or tokenFile)');
  };
}

/**
 * The secret from `token`, or read now from the file `tokenFile` and trimmed; `at` is where the
 * two keys live. The secret itself never appears in a message.
 */
export function resolveToken(
  value: { token?: string | undefined; tokenFile?: string | undefined },
  at: string,
  ctx: CheckContext,
  minLength: number,
): Checked<string | undefined> {
  const { token, tokenFile } = value;
  if (tokenFile === undefined) return token;
  let text: string;
  try {
    text = fs.readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    return fail(ctx, pathOf(at, 'tokenFile'), `cannot read ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const problem = secretProblem(text, minLength);
  return problem === undefined ? text : fail(ctx, pathOf(at, 'tokenFile'), `the token in ${tokenFile} ${problem}`);
}

/** The log levels a config file may set (a subset of the logger's). */
export const CONFIG_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** The `log` section both programs share. */
export interface LogConfig {
  level: (typeof CONFIG_LOG_LEVELS)[number];
  /** `auto`: readable lines on a terminal, JSON otherwise. */
  format: LogFormat;
}

/** The keys of the `log` section both programs share (a program adds its own to them). */
export const logShape = { level: withDefault(oneOf(CONFIG_LOG_LEVELS), 'info'), format: withDefault(oneOf(LOG_FORMATS), 'auto') };

/** The schema of the `log` section. */
export const logSection: Schema<LogConfig> = section(logShape);

/** The `runtime` section of both config files: the switch for the runtime tricks (src/runtime). */
export interface RuntimeConfig {
  tuning: TuningMode;
}

export const runtimeSection: Schema<RuntimeConfig> = section({ tuning: withDefault(oneOf(TUNING_MODES), 'auto') });
