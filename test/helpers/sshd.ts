// A stock OpenSSH sshd for interop tests: its own host key and config in a temp dir,
// trusting the test cluster's user CA, on a loopback port picked here.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SSHD, ensureOpenSSH } from './system';
import { freePort, start, type Running } from './process';

export interface Sshd {
  port: number;
  dir: string;
  process: Running;
  stop(): Promise<void>;
}

export async function startSshd(userCA: string, extraConfig: string[] = []): Promise<Sshd> {
  ensureOpenSSH();
  const dir = fs.mkdtempSync('/tmp/ferry-sshd-');
  fs.chmodSync(dir, 0o755);
  const hostKey = path.join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  fs.writeFileSync(path.join(dir, 'user_ca.pub'), userCA);
  const port = await freePort();
  // sshd keeps the first value it reads for a keyword: the test's own lines come first.
  const config = [
    ...extraConfig,
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `TrustedUserCAKeys ${path.join(dir, 'user_ca.pub')}`,
    'AuthorizedKeysFile none',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PidFile none',
    'LogLevel ERROR',
    'MaxStartups 100',
  ];
  const configFile = path.join(dir, 'sshd_config');
  fs.writeFileSync(configFile, `${config.join('\n')}\n`);
  const proc = start(SSHD, ['-D', '-e', '-f', configFile]);
  const deadline = Date.now() + 5000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`sshd did not start:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    dir,
    process: proc,
    async stop() {
      proc.kill();
      await proc.exited().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
