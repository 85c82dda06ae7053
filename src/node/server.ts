// The SSH service: listens on ssh_service.listen_addr and hands each connection to
// handleConnection. Closing the service closes every connection, listener and socket.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Server, utils } from 'ssh2';
import { Scope } from '../scope';
import { fingerprintSha256 } from '../auth/sshcert';
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

/** The node's host key, made on first start and kept in the data dir. */
export function loadOrCreateHostKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'host_key');
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pair = utils.generateKeyPairSync('ed25519');
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

  private constructor(scope: Scope, server: Server, tunnels: TunnelRegistry, hostKeyFingerprint: string) {
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
    const deps = {
      auth: opts.auth,
      audit: new NodeAudit(opts.auth, opts.nodeName),
      tunnels,
      log,
      loginGraceSeconds: opts.loginGraceSeconds ?? 120,
    };
    const hostKey = loadOrCreateHostKey(opts.dataDir);
    const parsed = utils.parseKey(hostKey);
    const fingerprint = parsed instanceof Error ? 'unknown' : fingerprintSha256((Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH());
    const server = new Server({ hostKeys: [hostKey], ident: SERVER_IDENT }, (client, info) => {
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
    return new NodeService(scope, server, tunnels, fingerprint);
  }

  address(): HostPort {
    const addr = this.#server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      void this.#scope.close();
    });
    await this.#tunnels.stop();
  }
}
