// The OS account behind a login. Everything the node does for a login (run its commands,
// create its unix sockets, bind privileged ports) is bounded by what this account may do.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  groups: number[];
  home: string;
  shell: string;
  /** The account's expiry from the shadow database, in days since 1970-01-01; unset if none or unreadable. */
  expiresDay?: number;
}

/** Looks a login up through NSS (getent), as sshd's getpwnam does; undefined if unknown. */
export async function lookupOsUser(login: string): Promise<OsUser | undefined> {
  if (!/^[A-Za-z_][A-Za-z0-9._-]*\$?$/.test(login)) return undefined;
  const shadow = readShadowExpiry(login); // in parallel: one more process per login, not one more wait
  let passwd: string;
  try {
    passwd = (await run('getent', ['passwd', login])).stdout.trim();
  } catch {
    await shadow;
    return undefined;
  }
  const fields = passwd.split('\n')[0]?.split(':') ?? [];
  if (fields.length < 7) return undefined;
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  let groups = [gid];
  try {
    groups = (await run('id', ['-G', login])).stdout.trim().split(/\s+/).map(Number);
  } catch {
    // A user with no supplementary groups still has its primary group.
  }
  const user: OsUser = { name: login, uid, gid, groups, home: fields[5] || '/', shell: fields[6] || '/bin/sh' };
  const expiresDay = await shadow;
  if (expiresDay !== undefined) user.expiresDay = expiresDay;
  return user;
}

/**
 * Field 8 of the login's shadow entry (getent, so NSS as for passwd). Only root can read it; an
 * unprivileged node, a login without a shadow entry or without an expiry gets undefined.
 */
async function readShadowExpiry(login: string): Promise<number | undefined> {
  if (!daemonIsRoot()) return undefined;
  try {
    const expire = (await run('getent', ['shadow', login])).stdout.split('\n')[0]?.split(':')[7] ?? '';
    return /^\d+$/.test(expire) ? Number(expire) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why sshd would turn this account away before any key is looked at, or undefined: an expired
 * account (PAM's pam_unix, as Debian's sshd runs it, refuses from the expiry day on), or a
 * login shell that does not exist or cannot be executed (sshd's allowed_user). A locked
 * password ("!") is not a refusal: with PAM, sshd lets key logins through it.
 */
export function accountRefusal(user: OsUser, now = new Date()): { code: string; reason: string } | undefined {
  if (user.expiresDay !== undefined && Math.floor(now.getTime() / 86_400_000) >= user.expiresDay) {
    const day = new Date(user.expiresDay * 86_400_000).toISOString().slice(0, 10);
    return { code: 'login_expired', reason: `the account of login "${user.name}" expired on ${day}` };
  }
  let why: string | undefined;
  try {
    const st = fs.statSync(user.shell);
    if (!st.isFile() || (st.mode & 0o111) === 0) why = 'is not executable';
  } catch {
    why = 'does not exist';
  }
  return why ? { code: 'login_shell_unusable', reason: `the login shell ${user.shell} of "${user.name}" ${why}` } : undefined;
}

export function daemonIsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The daemon can act as `user` only when it is root or already runs as that user. */
export function canActAs(user: OsUser): boolean {
  return daemonIsRoot() || process.getuid?.() === user.uid;
}

/**
 * The argv that runs `argv` as `user`, with its groups: setpriv (util-linux) when the daemon
 * is root; unchanged when the daemon already is that user.
 */
export function asUser(user: OsUser, argv: string[]): string[] {
  if (!daemonIsRoot() || user.uid === 0) return argv;
  return [
    'setpriv',
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    `--groups=${user.groups.join(',')}`,
    '--inh-caps=-all',
    '--',
    ...argv,
  ];
}
