// Name lookups for the connections forwards make, shared by the client and the node.

import dns from 'node:dns';
import net from 'node:net';

/** How long a successful lookup is reused. */
export const LOOKUP_TTL_MS = 1000;

type Addresses = dns.LookupAddress[];
type Callback = (err: NodeJS.ErrnoException | null, address: string | Addresses, family?: number) => void;
export type Resolve = (hostname: string, options: dns.LookupOptions, then: (err: NodeJS.ErrnoException | null, addresses: Addresses) => void) => void;

interface Entry {
  expires: number;
  addresses: Addresses;
}

/**
 * Reuses a name's addresses for LOOKUP_TTL_MS. Node resolves each connection's name on its
 * thread pool, which cost a forwarded connection to `localhost` a fifth more CPU in the client
 * and a third more latency; ssh resolves each one too, but in-process, in microseconds. A
 * second is short enough that a changed hosts file or DNS answer is seen about as soon as
 * anyone sees it, and long enough that a burst of connections (a page's assets, a debugger's
 * requests) resolves once. Failures are not kept.
 */
export class ForwardResolver {
  readonly #cache = new Map<string, Entry>();
  readonly #resolve: Resolve;
  readonly #now: () => number;

  constructor(resolve: Resolve = lookupAll, now: () => number = () => performance.now()) {
    this.#resolve = resolve;
    this.#now = now;
  }

  /** A `lookup` for net.connect. */
  readonly lookup = ((hostname: string, options: dns.LookupOptions, callback: Callback) => {
    const key = cacheKey(hostname, options);
    const hit = this.#fresh(key);
    if (hit) return answer(hit, options, callback);
    this.#resolve(hostname, options, (err, addresses) => {
      if (err) return callback(err, '');
      if (this.#cache.size > 256) this.#cache.clear(); // names come from forward specs and SOCKS requests; keep it bounded
      this.#cache.set(key, { expires: this.#now() + LOOKUP_TTL_MS, addresses });
      answer(addresses, options, callback);
    });
  }) as net.LookupFunction;

  /**
   * net.connect to host:port. A name that resolved to one address is dialled as that address,
   * which spares Node's lookup path too; otherwise Node tries each address in turn, as ssh does.
   */
  connect(host: string, port: number, options: { allowHalfOpen?: boolean } = {}): net.Socket {
    const only = this.#fresh(cacheKey(host, {}));
    if (only?.length === 1 && only[0]) return net.connect({ ...options, host: only[0].address, port });
    return net.connect({ ...options, host, port, lookup: this.lookup });
  }

  #fresh(key: string): Addresses | undefined {
    const hit = this.#cache.get(key);
    return hit && hit.expires > this.#now() ? hit.addresses : undefined;
  }
}

/**
 * By family and name. The hints are left out: the only caller is net.connect from
 * `connect()`, which always passes the same ones (ADDRCONFIG on Linux), and `connect()` has to
 * find the entry before net.connect is called.
 */
function cacheKey(hostname: string, options: dns.LookupOptions): string {
  return `${options.family ?? 0}/${hostname}`;
}

function lookupAll(hostname: string, options: dns.LookupOptions, then: (err: NodeJS.ErrnoException | null, addresses: Addresses) => void): void {
  dns.lookup(hostname, { ...options, all: true }, then);
}

function answer(addresses: Addresses, options: dns.LookupOptions, callback: Callback): void {
  if (options.all) return callback(null, addresses);
  const first = addresses[0];
  if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '');
  callback(null, first.address, first.family);
}

/** The resolver the client and node use for the connections forwards make. */
export const forwardResolver = new ForwardResolver();
