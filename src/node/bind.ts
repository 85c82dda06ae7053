// Opening the listeners of a remote forward, with sshd's bind-address semantics
// (channels.c channel_fwd_bind_addr, GatewayPorts=clientspecified when allowed):
// - without gateway_ports, "127.0.0.1" and "::1" bind that address and anything else binds
//   loopback of every family;
// - with it, "" and "*" bind every interface, "localhost" loopback of every family, and any
//   other address binds that address;
// - "localhost" never goes through DNS.

import net from 'node:net';

export const LOOPBACK = ['127.0.0.1', '::1'];
export const WILDCARD = ['::', '0.0.0.0'];

export interface BindPlan {
  hosts: string[];
  /** Try the hosts in order and keep the first that binds (the wildcard forms). */
  firstOnly: boolean;
}

export function planBind(bindAddress: string, gatewayPorts: boolean): BindPlan {
  if (bindAddress === '127.0.0.1' || bindAddress === '::1') return { hosts: [bindAddress], firstOnly: false };
  if (!gatewayPorts || bindAddress === 'localhost') return { hosts: LOOPBACK, firstOnly: false };
  if (bindAddress === '' || bindAddress === '*') return { hosts: WILDCARD, firstOnly: true };
  return { hosts: [bindAddress], firstOnly: false };
}

/** Address families that are simply absent on this host: skipped, not failed. */
const ABSENT = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT']);

function listenOne(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, ipv6Only: host === '::' ? false : undefined }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeAll(servers: net.Server[]): void {
  for (const s of servers) s.close();
}

/**
 * Binds every host of the plan to one port (for port 0, the port the first bind allocates),
 * retrying allocation a few times if another address family already holds that port.
 * Returns the listening servers and the bound port, or throws the bind error.
 */
export async function bindAll(plan: BindPlan, port: number, onConnection: (socket: net.Socket) => void): Promise<{ servers: net.Server[]; port: number }> {
  const attempts = port === 0 ? 5 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const servers: net.Server[] = [];
    let boundPort = port;
    try {
      for (const host of plan.hosts) {
        const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, onConnection);
        try {
          await listenOne(server, host, boundPort);
        } catch (err) {
          if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '') && (plan.hosts.length > 1)) continue;
          throw err;
        }
        servers.push(server);
        const address = server.address();
        if (boundPort === 0 && address && typeof address === 'object') boundPort = address.port;
        if (plan.firstOnly) break;
      }
      if (servers.length === 0) throw lastError ?? new Error(`no address of ${plan.hosts.join(', ')} could be bound`);
      return { servers, port: boundPort };
    } catch (err) {
      closeAll(servers);
      lastError = err;
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  throw lastError;
}

/** The peer address as sshd reports it: IPv4-mapped IPv6 addresses in their IPv4 form. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
