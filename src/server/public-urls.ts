/**
 * The URLs users reach the network at, as shown to operators: in the welcome a node gets, in
 * `proxima-server nodes add`, in logs. Behind nginx or a TLS terminator the listener's own address
 * is not what users type, so `http.publicUrl` gives a template: `https://{host}`, where `{host}` is
 * the hostname the super node routes on (`<node>.<domain>`, `<service>--<node>.<domain>`,
 * `api.<domain>`), `{node}` its first label and `{domain}` the domain.
 */

/** The placeholders a template may use. */
const PLACEHOLDER = /\{([a-z]+)\}/g;
const KNOWN = new Set(['host', 'node', 'domain']);

/** The first label of the API's own hostname (`api.<domain>`; the bare domain serves it too). */
export const API_LABEL = 'api';

/** The separator between service and node in a hostname's first label (see public/host-route.ts). */
const SERVICE_SEPARATOR = '--';

/** What is wrong with `template` as `http.publicUrl`, or undefined when it is usable. */
export function publicUrlProblem(template: string): string | undefined {
  if (!/^https?:\/\//i.test(template)) return 'must start with http:// or https://, e.g. https://{host}';
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  const unknown = names.find((n) => !KNOWN.has(n));
  if (unknown !== undefined) return `has an unknown placeholder {${unknown}}: use {host}, {node} or {domain}`;
  if (!names.includes('host') && !names.includes('node')) return 'must contain {host} or {node}, e.g. https://{host}';
  let url: URL;
  try {
    url = new URL(expand(template, 'alpha', 'example.com'));
  } catch {
    return 'is not a URL once its placeholders are filled in';
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    return 'must not carry a query, a fragment or credentials';
  return undefined;
}

function expand(template: string, label: string, domain: string): string {
  const values: Record<string, string> = { host: `${label}.${domain}`, node: label, domain };
  return template.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole).replace(/\/+$/, '');
}

/** The public URLs of one network. */
export class PublicUrls {
  readonly #template: string | undefined;
  readonly #domain: string;
  readonly #port: number;

  /** `template` from `http.publicUrl` (checked); without it, `http://<host>[:port]` on the listener's port. */
  constructor(options: { template?: string; domain: string; port: number }) {
    this.#template = options.template;
    this.#domain = options.domain;
    this.#port = options.port;
  }

  /** The URL of the hostname whose first label is `label`. */
  #url(label: string): string {
    if (this.#template !== undefined) return expand(this.#template, label, this.#domain);
    return `http://${label}.${this.#domain}${this.#port === 80 ? '' : `:${this.#port}`}`;
  }

  /** A node's default service: `<node>.<domain>`. */
  node(name: string): string {
    return this.#url(name);
  }

  /** A named service of a node: `<service>--<node>.<domain>`. */
  service(node: string, service: string): string {
    return this.#url(`${service}${SERVICE_SEPARATOR}${node}`);
  }

  /** The network's OpenAI/Ollama-compatible API: `api.<domain>`. */
  api(): string {
    return this.#url(API_LABEL);
  }

  /** A node's service URLs with `{service}` left for the node to fill in (sent in `welcome`). */
  serviceTemplate(node: string): string {
    return this.service(node, '{service}');
  }
}
