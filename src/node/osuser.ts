// The OS account behind a login. Everything the node does for a login (run its commands,
// create its unix sockets, bind privileged ports) is bounded by what this account may do.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  groups: number[];
  home: string;
  shell: string;
}

/** Looks a login up through NSS (getent), as sshd's getpwnam does; undefined if unknown. */
export async function lookupOsUser(login: string): Promise<OsUser | undefined> {
  if (!/^[A-Za-z_][A-Za-z0-9._-]*\$?$/.test(login)) return undefined;
  let passwd: string;
  try {
    passwd = (await run('getent', ['passwd', login])).stdout.trim();
  } catch {
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
  return { name: login, uid, gid, groups, home: fields[5] || '/', shell: fields[6] || '/bin/sh' };
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
