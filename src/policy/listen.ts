// Remote listen allow-list entries, in the spirit of sshd's PermitListen:
//   "localhost:8080"      one host pattern, one port
//   "*:8000-8999"         a port range on any bind address
//   "[::1]:*"             any port 1-65535 (never 0)
//   "*:0"                 lets the client ask the node to allocate a port
// The host part is a glob ('*' and '?') matched, without case, against the bind address
// exactly as the client sent it; an empty bind address ("", meaning all interfaces) is
// matched by '*' only.

import { ValidationError } from '../errors';

export interface ListenRule {
  text: string;
  hostPattern: RegExp;
  /** Inclusive. A rule matches port 0 only when it says 0 explicitly. */
  minPort: number;
  maxPort: number;
}

const PORT_PART = /^(\*|\d{1,5}|\d{1,5}-\d{1,5})$/;

export function parseListenRule(text: string): ListenRule {
  const bad = (why: string) =>
    new ValidationError(`listen rule "${text}": ${why} (expected HOST:PORT, HOST:LOW-HIGH or HOST:*, e.g. "localhost:8000-8999")`);
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw bad('unbalanced brackets');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw bad('missing port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (host === '') throw bad('empty host pattern (use "*" for any address)');
  if (!PORT_PART.test(portText)) throw bad(`bad port "${portText}"`);
  let minPort = 1;
  let maxPort = 65535;
  if (portText !== '*') {
    const [low, high = low] = portText.split('-').map(Number) as [number, number?];
    if (low > 65535 || high > 65535) throw bad('port above 65535');
    if (high < low) throw bad('range is backwards');
    if (low === 0 && high !== 0) throw bad('port 0 must be listed on its own ("HOST:0")');
    minPort = low;
    maxPort = high;
  }
  return { text, hostPattern: globToRegExp(host), minPort, maxPort };
}

export function matchesListenRule(rule: ListenRule, bindAddress: string, port: number): boolean {
  return port >= rule.minPort && port <= rule.maxPort && rule.hostPattern.test(bindAddress);
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}
