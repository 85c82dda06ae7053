// The SSH service: listens on ssh_service.listen_addr and hands each connection to
// handleConnection. Closing the service closes every connection, listener and socket.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { Server } from 'ssh2';
import { FerryError } from '../errors';
import { certifiedKey, parseFirstKey } from '../protocol/ssh2-ext';
import { Scope } from '../scope';
import { fingerprintSha256 } from '../auth/sshcert';
import { generateEd25519 } from '../auth/sshkey';
import type { AuthService } from '../auth/service';
import type { HostPort } from '../config/config';
import { NodeAudit } from './audit';
import { handleConnection } from './connection';
import { TunnelRegistry } from './tunnels';

export interface NodeServiceOptions {
  auth: AuthService;
  nodeName: string;
  listen: HostPort;
  dataDir: string;
  log?: (line: string) => void;
  loginGraceSeconds?: number;
}

export const SERVER_IDENT = 'Ferry_0.1';
const HOST_CERT_TTL_MS = 365 * 24 * 3600 * 1000;

/** The names a host certificate vouches for: the node name, host name, loopback and every interface address. */
function hostPrincipals(opts: NodeServiceOptions): string[] {
  const names = [opts.nodeName, os.hostname(), 'localhost', '127.0.0.1', '::1'];
  if (opts.listen.host !== '0.0.0.0' && opts.listen.host !== '::' && opts.listen.host !== '') names.push(opts.listen.host);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const addr of list ?? []) names.push(addr.address);
  }
  return names;
}

/** The node's host key, made on first start and kept in the data dir. */
export function loadOrCreateHostKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'host_key');
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pair = generateEd25519(`ferry-node@${os.hostname()}`);
  fs.writeFileSync(file, pair.private, { mode: 0o600 });
  fs.writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
  return Buffer.from(pair.private);
}

export class NodeService {
  /** SHA256 fingerprint of the host key, as ssh prints it, so users can check the prompt. */
  readonly hostKeyFingerprint: string;
  readonly #scope: Scope;
  readonly #server: Server;
  readonly #tunnels: TunnelRegistry;

  readonly #audit: NodeAudit;

  private constructor(scope: Scope, server: Server, tunnels: TunnelRegistry, audit: NodeAudit, hostKeyFingerprint: string) {
    this.#audit = audit;
    this.hostKeyFingerprint = hostKeyFingerprint;
    this.#scope = scope;
    this.#server = server;
    this.#tunnels = tunnels;
  }

  static async start(opts: NodeServiceOptions): Promise<NodeService> {
    const log = opts.log ?? ((line: string) => process.stderr.write(`ferryd: ${line}\n`));
    const scope = new Scope((err) => log(`cleanup error: ${String(err)}`));
    const tunnels = new TunnelRegistry(opts.auth.storage, opts.nodeName);
    await tunnels.start();
    const audit = new NodeAudit(opts.auth, opts.nodeName);
    const deps = {
      auth: opts.auth,
      audit,
      tunnels,
      log,
      loginGraceSeconds: opts.loginGraceSeconds ?? 120,
    };
    const hostKey = loadOrCreateHostKey(opts.dataDir);
    const plainKey = parseFirstKey(hostKey);
    if (plainKey instanceof Error) throw new FerryError('bad_host_key', `${path.join(opts.dataDir, 'host_key')}: ${plainKey.message}`);
    // The plain key for clients that know it, and a certificate from the host CA for
    // clients that trust the cluster (@cert-authority in known_hosts).
    const certLine = await opts.auth.signHostCert(plainKey.getPublicSSH(), opts.nodeName, hostPrincipals(opts), HOST_CERT_TTL_MS);
    const server = new Server({ hostKeys: [{ key: plainKey }, { key: certifiedKey(plainKey, certLine, 'host certificate') }] as unknown as Buffer[], ident: SERVER_IDENT }, (client, info) => {
      // ssh2 gives no direct handle on the socket; it is the client's private _sock.
      const socket = (client as unknown as { _sock: net.Socket })._sock;
      void info;
      handleConnection(deps, client, socket, scope);
    });
    server.on('error', (err: Error) => log(`server error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listen.port, opts.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new NodeService(scope, server, tunnels, audit, fingerprintSha256(plainKey.getPublicSSH()));
  }

  address(): HostPort {
    const addr = this.#server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  /** Closes every connection, waits (briefly) for hung-up sessions to end, writes the last audit events. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#scope.close();
    await closed;
    await this.#tunnels.stop();
    await this.#audit.flush();
  }
}
