/**
 * What `tls: true` trusts: Node's CA list (Mozilla's, plus NODE_EXTRA_CA_CERTS) and the system's
 * store, so that a private CA installed system-wide works as it does for curl. Node 20 has no API for
 * the system store, so the usual bundle files are read; newer Node versions are asked directly.
 */
import fs from 'node:fs';
import type { SecureContext } from 'node:tls';

/** Where Linux distributions and macOS keep the system's CA bundle; the first readable one is used. */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/ssl/cert.pem', // macOS, BSDs
];

type CaGetter = (type: 'default' | 'system') => string[];

let context: SecureContext | undefined;

/** node:tls, loaded when first asked for (only a TLS dial asks): a node on plain TCP never loads it. */
const tls = () => process.getBuiltinModule('node:tls');

/** The PEM certificates `tls: true` trusts. */
export function trustedCas(): string[] {
  const getCACertificates = (tls() as unknown as { getCACertificates?: CaGetter }).getCACertificates;
  if (getCACertificates !== undefined) return [...getCACertificates('default'), ...getCACertificates('system')];
  // Passing `ca` replaces Node's list, so it is passed along, with the extra file Node would have added.
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  const system = SYSTEM_BUNDLES.find(readable);
  const files = [extra, system].filter((file): file is string => file !== undefined && file !== '');
  return [...tls().rootCertificates, ...files.flatMap(readPem)];
}

/** A TLS context trusting {@link trustedCas}, made once: hundreds of certificates are parsed for it. */
export function trustedContext(): SecureContext {
  context ??= tls().createSecureContext({ ca: trustedCas() });
  return context;
}

function readable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function readPem(file: string): string[] {
  try {
    return [fs.readFileSync(file, 'utf8')];
  } catch {
    return []; // a missing bundle is no reason not to connect: Node's own list still applies
  }
}
