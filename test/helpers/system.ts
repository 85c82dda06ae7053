// Real components the tests need, installed or created by the suite itself: OpenSSH's
// client and server (apt-get when missing: CI is root on a fresh Debian machine) and
// unprivileged OS users to log in as.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

let aptUpdated = false;

function aptInstall(packages: string[]): void {
  if (process.getuid?.() !== 0) throw new Error(`missing ${packages.join(' ')} and not root: install them first`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0 || fs.existsSync(cmd);
}

/** Makes sure ssh, ssh-keygen and sshd exist; fails (never skips) if they cannot be had. */
export function ensureOpenSSH(): void {
  const missing: string[] = [];
  if (!have('ssh') || !have('ssh-keygen')) missing.push('openssh-client');
  if (!have('/usr/sbin/sshd')) missing.push('openssh-server');
  if (missing.length > 0) aptInstall(missing);
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

export interface TestOsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * An unprivileged OS user with a home directory, created once. `expire` (YYYY-MM-DD, or '' for
 * never) and `shell` set the account's expiry date and login shell each time.
 */
export function ensureOsUser(name: string, opts: { expire?: string; shell?: string } = {}): TestOsUser {
  if (spawnSync('getent', ['passwd', name]).status !== 0) {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name]);
  }
  // useradd leaves the password "!" (locked), and sshd without PAM refuses locked accounts
  // even for key logins; "*" means "no password" without the lock.
  execFileSync('usermod', [
    '-p', '*',
    ...(opts.expire === undefined ? [] : ['--expiredate', opts.expire]),
    ...(opts.shell === undefined ? [] : ['--shell', opts.shell]),
    name,
  ]);
  const fields = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? `/home/${name}` };
}

export const SSH = '/usr/bin/ssh';
export const SSHD = '/usr/sbin/sshd';
