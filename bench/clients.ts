// Client kinds: how to start an SSH client holding one `-R` forward. Each kind is a command
// plus an argument builder, so another client can be added without touching the figures.

import fs from 'node:fs';
import path from 'node:path';
import { Proc } from './procs';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { codeRoot } from './build';
import { SSH, type Credentials } from './servers';

export interface TunnelArgs {
  port: number;
  creds: Credentials;
  /** The -R argument, e.g. 0:localhost:PORT. */
  spec: string;
  /** Flags for node itself (e.g. --cpu-prof), for clients that run on node. */
  nodeFlags?: string[];
}

export interface ClientKind {
  readonly name: 'ferry' | 'openssh';
  readonly label: string;
  /** Whether nodeFlags reach a node process (so the client can be profiled). */
  readonly runsOnNode: boolean;
  /** Why this client cannot run here, or undefined when it can. */
  unavailable(): string | undefined;
  command(): string;
  args(t: TunnelArgs): string[];
}

export const openssh: ClientKind = {
  name: 'openssh',
  label: 'OpenSSH ssh',
  runsOnNode: false,
  unavailable: () => (fs.existsSync(SSH) ? undefined : `${SSH} not found`),
  command: () => SSH,
  args: (t) => [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'LogLevel=INFO', // "Allocated port N" is logged at INFO
    '-i', t.creds.key,
    '-o', `CertificateFile=${t.creds.cert}`,
    '-p', String(t.port),
    '-N',
    '-R', t.spec,
    `${t.creds.login}@127.0.0.1`,
  ],
};

const ferryBin = () => path.join(codeRoot(), 'bin', 'ferry');
const ferryJs = () => path.join(codeRoot(), 'dist', 'src', 'cli', 'ferry.js');

/** `ferry ssh`, with OpenSSH's flags; it finds KEY-cert.pub beside -i KEY as ssh does. */
export const ferry: ClientKind = {
  name: 'ferry',
  label: 'ferry client',
  runsOnNode: true,
  unavailable: () => (fs.existsSync(ferryBin()) && fs.existsSync(ferryJs()) ? undefined : 'ferry client not built'),
  command: () => process.execPath,
  args: (t) => [
    ...NODE_FLAGS,
    ...(t.nodeFlags ?? []),
    ferryBin(), 'ssh',
    '-F', '/dev/null', // as ssh's: ferry still asks ssh -G, as it does for every user
    '-p', String(t.port),
    '-i', t.creds.key,
    '-N',
    '-R', t.spec,
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'ExitOnForwardFailure=yes',
    `${t.creds.login}@127.0.0.1`,
  ],
};

export interface RunningTunnel {
  proc: Proc;
  /** The port the server allocated for `-R 0:...`. */
  port: number;
}

const ALLOCATED = /Allocated port (\d+) for remote forward to/;

/** Starts `kind` with one `-R 0:localhost:targetPort` forward, the target named as people type it; resolves with the allocated port. */
export async function startTunnel(kind: ClientKind, serverPort: number, creds: Credentials, targetPort: number, timeoutMs: number, nodeFlags?: string[]): Promise<RunningTunnel> {
  const t: TunnelArgs = { port: serverPort, creds, spec: `0:localhost:${targetPort}` };
  if (nodeFlags) t.nodeFlags = nodeFlags;
  const proc = new Proc(`${kind.name} -R`, kind.command(), kind.args(t));
  try {
    const m = await proc.waitFor(ALLOCATED, timeoutMs);
    return { proc, port: Number(m[1]) };
  } catch (err) {
    await proc.stop('SIGKILL', 1000);
    throw err;
  }
}
