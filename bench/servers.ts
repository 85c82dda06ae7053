// The two servers under test, each its own process so that its memory can be read from
// /proc: ferryd (started from bin/ferryd with a throwaway config and data dir) and OpenSSH's
// sshd (its own config, host key and port, trusting the ferry user CA). Both can be
// restarted, so that memory figures start from a fresh process.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { codeRoot } from './build';
import { Proc, adoptDescendantsOf, canConnect, descendants, eventually, freePort, memoryOf, type Memory } from './procs';

export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';
export const LOGIN = 'ferry-bench';
const FERRY_USER = 'bench';
const ROLE = 'bench';

export interface Credentials {
  key: string;
  cert: string;
  login: string;
}

export interface ServerUnderTest {
  readonly name: 'ferryd' | 'sshd';
  readonly port: number;
  /** What memory() sums, for the report. */
  readonly memoryNote: string;
  restart(): Promise<void>;
  /** The processes doing the server's work: what memory() and CPU figures read. */
  pids(): number[];
  memory(): Memory;
  stop(): Promise<void>;
  /** Last lines of the server's own output. */
  output(): string;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** The OS user the bench logs in as. sshd with UsePAM no treats a "!" password as locked. */
export function ensureLogin(): void {
  if (process.getuid?.() !== 0) throw new Error(`the bench must run as root: it creates the OS user ${LOGIN} and starts sshd`);
  if (spawnSync('getent', ['passwd', LOGIN]).status !== 0) run('useradd', ['--create-home', '--shell', '/bin/sh', LOGIN]);
  const shadow = spawnSync('getent', ['shadow', LOGIN], { encoding: 'utf8' }).stdout.split(':');
  if ((shadow[1] ?? '').startsWith('!')) run('usermod', ['-p', '*', LOGIN]);
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

export class FerryNode implements ServerUnderTest {
  readonly name = 'ferryd';
  readonly memoryNote = 'VmRSS and Private_Dirty (smaps_rollup) of the ferryd process';
  readonly dir: string;
  readonly configFile: string;
  #proc: Proc | undefined;
  #port = 0;
  #log = '';

  constructor(dir: string) {
    this.dir = dir;
    this.configFile = path.join(dir, 'ferry.yaml');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(this.configFile, [
      'version: v1',
      'ferry:',
      `  data_dir: ${path.join(dir, 'data')}`,
      '  node_name: bench',
      'auth_service:',
      '  enabled: false',
      'ssh_service:',
      '  enabled: true',
      '  listen_addr: 127.0.0.1:0',
      '',
    ].join('\n'));
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get port(): number {
    return this.#port;
  }

  get pid(): number {
    return this.#proc?.pid ?? -1;
  }

  /** Starts ferryd; `nodeFlags` go to node itself (e.g. --cpu-prof). */
  async start(nodeFlags: string[] = []): Promise<void> {
    const proc = new Proc('ferryd', process.execPath, [...NODE_FLAGS, ...nodeFlags, path.join(codeRoot(), 'bin', 'ferryd'), 'start', '--config', this.configFile], { cwd: this.dir });
    this.#proc = proc;
    const m = await proc.waitFor(/ssh node\s+\S+:(\d+)/, 30_000);
    this.#port = Number(m[1]);
  }

  async restart(nodeFlags: string[] = []): Promise<void> {
    await this.stop();
    await this.start(nodeFlags);
  }

  pids(): number[] {
    return this.#proc ? [this.#proc.pid] : [];
  }

  memory(): Memory {
    return memoryOf(this.pids());
  }

  output(): string {
    return this.#log + (this.#proc?.output() ?? '');
  }

  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    const exit = await proc.stop('SIGTERM', 10_000);
    this.#log += proc.output();
    if (exit.signal === 'SIGKILL') this.#log += '\n[bench: ferryd did not stop within 10 s of SIGTERM and was killed]\n';
  }

  ctl(args: string[]): string {
    return run(process.execPath, [path.join(codeRoot(), 'bin', 'ferryctl'), '--data-dir', this.dataDir, ...args]);
  }

  /** Role, user, key pair and certificate for the bench, made with ferryctl and ssh-keygen. */
  provision(maxForwards: number): Credentials {
    const roleFile = path.join(this.dir, 'role.yaml');
    // The shape of test/helpers/cluster.ts roleYaml(); JSON is YAML.
    fs.writeFileSync(roleFile, JSON.stringify({
      kind: 'role',
      version: 'v1',
      metadata: { name: ROLE },
      spec: {
        options: {
          ssh_port_forwarding: {
            local: { enabled: true },
            remote: { enabled: true, permit_listen: ['*:1024-65535', '*:0'], max_forwards: maxForwards },
          },
        },
        allow: { logins: [LOGIN] },
      },
    }));
    this.ctl(['roles', 'create', '-f', roleFile, '--force']);
    this.ctl(['users', 'add', FERRY_USER, '--logins', LOGIN, '--roles', ROLE]);
    const key = path.join(this.dir, 'bench_key');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ferry-bench', '-f', key]);
    this.ctl(['auth', 'sign', '--user', FERRY_USER, '--pubkey', `${key}.pub`, '--ttl', '2h', '--out', `${key}-cert.pub`]);
    return { key, cert: `${key}-cert.pub`, login: LOGIN };
  }

  userCA(): string {
    return this.ctl(['auth', 'export', '--type', 'user']);
  }
}

export class OpenSshd implements ServerUnderTest {
  readonly name = 'sshd';
  readonly memoryNote = 'sum of VmRSS and of Private_Dirty of every sshd process below the listener (per connection: the privsep monitor and the user\'s child); the listener itself is not counted';
  readonly dir: string;
  readonly #userCA: string;
  #proc: Proc | undefined;
  #port = 0;
  #log = '';

  constructor(dir: string, userCA: string) {
    this.dir = dir;
    this.#userCA = userCA;
    fs.mkdirSync(dir, { recursive: true });
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'ssh_host_ed25519_key')]);
    fs.writeFileSync(path.join(dir, 'user_ca.pub'), userCA.endsWith('\n') ? userCA : `${userCA}\n`);
  }

  get port(): number {
    return this.#port;
  }

  get userCA(): string {
    return this.#userCA;
  }

  async start(): Promise<void> {
    this.#port = await freePort();
    const config = path.join(this.dir, 'sshd_config');
    fs.writeFileSync(config, [
      `Port ${this.#port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(this.dir, 'ssh_host_ed25519_key')}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      `TrustedUserCAKeys ${path.join(this.dir, 'user_ca.pub')}`,
      'AuthorizedKeysFile none',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${LOGIN}`,
      'AllowTcpForwarding yes',
      'GatewayPorts no',
      'X11Forwarding no',
      'PrintMotd no',
      'UseDNS no',
      'MaxSessions 1000',
      'MaxStartups 1000',
      'LogLevel ERROR',
      '',
    ].join('\n'));
    const proc = new Proc('sshd', SSHD, ['-D', '-e', '-f', config]);
    this.#proc = proc;
    adoptDescendantsOf(proc.pid);
    await eventually(`sshd listening on 127.0.0.1:${this.#port}`, async () => {
      if (proc.exit) throw new Error(`sshd exited (${proc.exit.code ?? proc.exit.signal ?? '?'}):\n${proc.output()}`);
      return canConnect(this.#port);
    }, 10_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  pids(): number[] {
    return this.#proc ? descendants(this.#proc.pid) : [];
  }

  memory(): Memory {
    return memoryOf(this.pids());
  }

  output(): string {
    return this.#log + (this.#proc?.output() ?? '');
  }

  /** Stops the listener and any per-connection process still below it. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    const children = descendants(proc.pid);
    await proc.stop('SIGTERM', 5000);
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
    this.#log += proc.output();
  }
}
