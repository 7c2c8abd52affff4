/**
 * The authority of a request, as in a Host header or an absolute-form target: `host[:port]`,
 * where host is a DNS name, an IPv4 address or a bracketed IPv6 literal (RFC 3986 3.2.2).
 */
import { REQUEST_SIDE } from './error.js';

/** A parsed authority. */
export interface HostPort {
  /** Lower-cased, without a trailing dot; an IPv6 literal keeps its brackets (`[::1]`). */
  hostname: string;
  /** 1..65535, or undefined when the authority names none. */
  port: number | undefined;
}

/** The longest DNS name (RFC 1035), which also bounds an IPv6 literal. */
const MAX_HOSTNAME_LENGTH = 253;
const REG_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/;
const IPV6_LITERAL = /^\[[0-9a-f]*:[0-9a-f:.]*\]$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Parses `host[:port]`. Throws PRX_ERR_HTTP_BAD_REQUEST (400) for an empty or malformed host,
 * userinfo, or a port outside 1..65535. Only DNS-like names are accepted (letters, digits, `-`,
 * `_`, dots): percent-encoding and sub-delims have no place in a hostname routed by this proxy.
 */
export function parseHostPort(value: string): HostPort {
  const lower = value.toLowerCase();
  let host = lower;
  let portText: string | undefined;
  const close = lower.lastIndexOf(']');
  const colon = lower.lastIndexOf(':');
  if (colon > close && (close >= 0 || lower.indexOf(':') === colon)) {
    host = lower.slice(0, colon);
    portText = lower.slice(colon + 1);
  }
  const ipv6 = host.startsWith('[');
  if (host.length === 0 || host.length > MAX_HOSTNAME_LENGTH + 1 || !(ipv6 ? IPV6_LITERAL : REG_NAME).test(host)) {
    throw REQUEST_SIDE.syntax(`invalid host ${JSON.stringify(value)}`);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = PORT.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) throw REQUEST_SIDE.syntax(`invalid port in host ${JSON.stringify(value)}`);
  }
  const hostname = !ipv6 && host.endsWith('.') ? host.slice(0, -1) : host;
  return { hostname, port };
}
