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
  /** The account's expiry from the shadow database, in days since 1970-01-01; unset if none. */
  expiresDay?: number;
  /** Why the shadow database could not be read for a root node; the login is then refused. */
  shadowError?: string;
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
  return Object.assign(user, await shadow);
}

/** getent's status for a key that is not in the database. */
const GETENT_NOT_FOUND = 2;

/**
 * Field 8 of the login's shadow entry (getent, so NSS as for passwd). Only root can read it, so
 * an unprivileged node gets nothing, as does a login with no shadow entry or no expiry. Any
 * other failure is reported: pam_unix refuses a login whose shadow entry it cannot read.
 */
async function readShadowExpiry(login: string): Promise<Pick<OsUser, 'expiresDay' | 'shadowError'>> {
  if (!daemonIsRoot()) return {};
  try {
    const expire = (await run('getent', ['shadow', login])).stdout.split('\n')[0]?.split(':')[7] ?? '';
    return /^\d+$/.test(expire) ? { expiresDay: Number(expire) } : {};
  } catch (err) {
    const e = err as { code?: number | string; message?: string };
    if (e.code === GETENT_NOT_FOUND) return {};
    return { shadowError: typeof e.code === 'number' ? `getent shadow exited with status ${e.code}` : String(e.message) };
  }
}

/**
 * Why sshd would turn this account away before any key is looked at, or undefined: an expired
 * account (PAM's pam_unix, as Debian's sshd runs it, refuses from the expiry day on), or a
 * login shell that does not exist or cannot be executed (sshd's allowed_user). A locked
 * password ("!") is not a refusal: with PAM, sshd lets key logins through it.
 */
export function accountRefusal(user: OsUser, now = new Date()): { code: string; reason: string } | undefined {
  if (user.shadowError) {
    return { code: 'login_unverifiable', reason: `the shadow entry of login "${user.name}" could not be read (${user.shadowError})` };
  }
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
