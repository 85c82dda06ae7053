// An all-in-one cluster for tests: real SQLite in a temp data dir, the real node listening
// on a loopback port the OS picks, keys and certificates made by the real ssh-keygen.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthService } from '../../src/auth/service';
import { SqliteStorage } from '../../src/auth/sqlite';
import type { AuditQuery, StoredAuditEvent } from '../../src/auth/types';
import { NodeService } from '../../src/node/server';
import { eventually } from './process';
import { ensureOpenSSH, ensureOsUser, type TestOsUser } from './system';

export interface Credentials {
  key: string;
  cert: string;
}

export class TestCluster {
  readonly dir: string;
  readonly auth: AuthService;
  readonly node: NodeService;
  readonly port: number;
  readonly nodeName = 'test-node';

  private constructor(dir: string, auth: AuthService, node: NodeService) {
    this.dir = dir;
    this.auth = auth;
    this.node = node;
    this.port = node.address().port;
  }

  static async start(): Promise<TestCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-test-'));
    fs.chmodSync(dir, 0o755);
    const auth = new AuthService(new SqliteStorage(path.join(dir, 'ferry.db')), 'test');
    await auth.ensureCAs();
    const node = await NodeService.start({
      auth,
      nodeName: 'test-node',
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: dir,
      log: () => {},
    });
    return new TestCluster(dir, auth, node);
  }

  async stop(): Promise<void> {
    await this.node.stop();
    await this.auth.storage.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async role(yaml: string): Promise<void> {
    await this.auth.createRole(yaml, 'test role', true);
  }

  /** Adds (or replaces) a user and issues a key pair and certificate for it. */
  async user(name: string, logins: string[], roles: string[], ttlMs = 3600_000): Promise<Credentials> {
    if (await this.auth.storage.getUser(name)) await this.auth.removeUser(name);
    await this.auth.addUser(name, logins, roles);
    const key = path.join(this.dir, `key-${name}-${Math.random().toString(36).slice(2, 8)}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
    const signed = await this.auth.signUserCert(name, fs.readFileSync(`${key}.pub`, 'utf8'), ttlMs);
    const cert = `${key}-cert.pub`;
    fs.writeFileSync(cert, `${signed.certificateLine}\n`);
    return { key, cert };
  }

  /**
   * OpenSSH client arguments that log in to this node with the given credentials. `extra`
   * comes first because ssh keeps the first value it sees for an option.
   */
  sshArgs(creds: Credentials, login: string, extra: string[] = [], command: string[] = []): string[] {
    return [
      ...extra,
      '-F', '/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'LogLevel=ERROR',
      '-i', creds.key,
      '-o', `CertificateFile=${creds.cert}`,
      '-p', String(this.port),
      `${login}@127.0.0.1`,
      ...command,
    ];
  }

  audit(query: AuditQuery = {}): Promise<StoredAuditEvent[]> {
    return this.auth.storage.queryAudit(query);
  }

  /** Waits for an audit event matching `match` (audit writes are not awaited by the node). */
  async expectAudit(type: string, match: (e: StoredAuditEvent) => boolean, ms = 5000): Promise<StoredAuditEvent> {
    let found: StoredAuditEvent | undefined;
    await eventually(`audit event ${type}`, async () => {
      found = (await this.audit({ type })).find((e) => e.type === type && match(e));
      return found !== undefined;
    }, ms).catch(async (err: Error) => {
      const all = await this.audit({});
      throw new Error(`${err.message}\naudit log:\n${all.map((e) => JSON.stringify(e)).join('\n')}`);
    });
    if (!found) throw new Error('unreachable');
    return found;
  }
}

/** A role document for tests, with forwarding switches and listen rules filled in. */
export function roleYaml(name: string, opts: {
  logins: string[];
  local?: boolean;
  remote?: boolean;
  permitListen?: string[];
  gatewayPorts?: boolean;
  maxForwards?: number;
  unixSockets?: boolean;
  pty?: boolean;
}): string {
  const remote: Record<string, unknown> = { enabled: opts.remote ?? true };
  if (opts.permitListen) remote.permit_listen = opts.permitListen;
  if (opts.gatewayPorts !== undefined) remote.gateway_ports = opts.gatewayPorts;
  if (opts.maxForwards !== undefined) remote.max_forwards = opts.maxForwards;
  if (opts.unixSockets !== undefined) remote.unix_sockets = opts.unixSockets;
  const doc = {
    kind: 'role',
    version: 'v1',
    metadata: { name },
    spec: {
      options: {
        ...(opts.pty === undefined ? {} : { permit_pty: opts.pty }),
        ssh_port_forwarding: { local: { enabled: opts.local ?? true }, remote },
      },
      allow: { logins: opts.logins },
    },
  };
  return JSON.stringify(doc); // JSON is YAML
}

/** A cluster with OpenSSH at hand, where alice (role dev) may log in as the OS user ferry-dev. */
export async function devCluster(): Promise<{ cluster: TestCluster; dev: TestOsUser; creds: Credentials }> {
  ensureOpenSSH();
  const dev = ensureOsUser('ferry-dev');
  const cluster = await TestCluster.start();
  await cluster.role(roleYaml('dev', { logins: [dev.name] }));
  return { cluster, dev, creds: await cluster.user('alice', [dev.name], ['dev']) };
}
