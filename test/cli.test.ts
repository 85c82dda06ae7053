// ferryd and ferryctl as a newcomer runs them: separate processes, a fresh data dir, the
// example role from the README, and the stock OpenSSH client through the daemon.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { canConnect, echoServer, eventually, roundTrip, start, type Running } from './helpers/process';
import { SSH, ensureOpenSSH, ensureOsUser, type TestOsUser } from './helpers/system';
import { NODE_FLAGS } from '../src/cli/node-flags';

const ROOT = path.resolve(__dirname, '..', '..');
const bin = (name: string) => path.join(ROOT, 'bin', name);

interface Result { code: number; stdout: string; stderr: string }

async function run(cmd: string, args: string[], nodeFlags: readonly string[] = NODE_FLAGS): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...nodeFlags, bin(cmd), ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('ferryd and ferryctl', () => {
  let dir: string;
  let config: string;
  let daemon: Running;
  let sshPort: number;
  let dev: TestOsUser;
  const ctl = (...args: string[]) => run('ferryctl', ['--config', config, ...args]);

  before(async () => {
    ensureOpenSSH();
    dev = ensureOsUser('ferry-dev');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-cli-'));
    config = path.join(dir, 'ferry.yaml');
    fs.writeFileSync(config, `version: v1\nferry:\n  data_dir: ${path.join(dir, 'data')}\n  node_name: cli-node\nauth_service:\n  listen_addr: 127.0.0.1:0\nssh_service:\n  listen_addr: 127.0.0.1:0\n`);
    daemon = start(process.execPath, [...NODE_FLAGS, bin('ferryd'), 'start', '--config', config], { cwd: dir });
    sshPort = Number((await daemon.waitFor(/ssh node\s+127\.0\.0\.1:(\d+)/))[1]);
  });

  after(async () => {
    daemon?.kill('SIGTERM');
    await daemon?.exited().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ends quietly, with status 141 as SIGPIPE would, when its reader goes away (| head)', async () => {
    // Our end of its stdout is closed before it writes: its write fails with EPIPE.
    const child = spawn(process.execPath, [...NODE_FLAGS, bin('ferryctl'), '--config', config, 'roles', 'ls'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '', 'no stack trace');
    assert.equal(code, 141);
  });

  it('prints the next steps and creates the preset role on a fresh data dir', async () => {
    assert.match(daemon.output(), /created preset role: access/);
    assert.match(daemon.output(), /Next steps/);
    // Started outside the checkout, the commands it suggests still name files that exist.
    for (const name of ['ferryctl', 'ferry']) {
      const cmd = new RegExp(`^\\s+(\\S*${name}) (--config|ssh)`, 'm').exec(daemon.output())?.[1] ?? '';
      assert.ok(fs.existsSync(path.resolve(dir, cmd)), `${cmd} from ${dir}`);
    }
    const roles = await ctl('roles', 'ls');
    assert.equal(roles.code, 0, roles.stderr);
    assert.match(roles.stdout, /^access\s/m);
  });

  it('manages roles: create, refuse a duplicate, replace with --force, get, and name the bad field', async () => {
    const example = path.join(ROOT, 'examples', 'role-dev.yaml');
    assert.equal((await ctl('roles', 'create', '-f', example)).code, 0);
    const dup = await ctl('roles', 'create', '-f', example);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /role "dev" already exists \(use --force to replace it\)/);
    assert.equal((await ctl('roles', 'create', '-f', example, '--force')).code, 0);
    const got = await ctl('roles', 'get', 'dev');
    assert.equal(got.stdout, fs.readFileSync(example, 'utf8'));
    const bad = path.join(dir, 'bad-role.yaml');
    fs.writeFileSync(bad, fs.readFileSync(example, 'utf8').replace('max_forwards: 8', 'max_forwards: lots'));
    const refused = await ctl('roles', 'create', '-f', bad, '--force');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad-role\.yaml: spec\.options\.ssh_port_forwarding\.remote\.max_forwards: must be integer/);
    assert.match((await ctl('roles', 'get', 'dev')).stdout, /max_forwards: 8/, 'the stored role is untouched');
  });

  it('signs a certificate that the stock ssh uses for -R through the daemon, then shows tunnels and audit', async () => {
    const add = await ctl('users', 'add', 'alice', '--logins', dev.name, '--roles', 'dev');
    assert.equal(add.code, 0, add.stderr);
    const users = JSON.parse((await ctl('users', 'ls', '--format', 'json')).stdout) as { name: string; logins: string[] }[];
    assert.deepEqual(users.map((u) => [u.name, u.logins]), [['alice', [dev.name]]]);
    const key = path.join(dir, 'alice');
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const sign = await ctl('auth', 'sign', '--user', 'alice', '--pubkey', `${key}.pub`, '--ttl', '1h', '--out', `${key}-cert.pub`);
    assert.equal(sign.code, 0, sign.stderr);
    assert.match(sign.stdout, new RegExp(`principals: ${dev.name}`));
    const hostCA = await ctl('auth', 'export', '--type', 'host');
    assert.match(hostCA.stdout, /^@cert-authority \* ssh-ed25519 AAAA/);
    const userCA = await ctl('auth', 'export', '--type', 'user');
    assert.match(userCA.stdout, /^ssh-ed25519 AAAA\S+ ferry user CA/);

    const echo = await echoServer();
    // The role allows 8000-9999 and port 0 on localhost only.
    const ssh = start(SSH, ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-i', key, '-p', String(sshPort), '-N', '-R', `0:127.0.0.1:${echo.port}`, `${dev.name}@127.0.0.1`]);
    try {
      const port = Number((await ssh.waitFor(/Allocated port (\d+)/))[1]);
      assert.equal((await roundTrip(port, 'ping', 9)).toString(), 'echo:ping');
      await eventually('tunnels ls shows the forward', async () => {
        const t = await ctl('tunnels', 'ls');
        return new RegExp(`alice\\s+${dev.name}\\s+cli-node\\s+\\S+\\s+localhost\\s+${port}\\s+1\\s`).test(t.stdout);
      }, 3000);
      const denied = start(SSH, ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ExitOnForwardFailure=yes', '-i', key, '-p', String(sshPort), '-N', '-R', `0.0.0.0:7000:127.0.0.1:${echo.port}`, `${dev.name}@127.0.0.1`]);
      assert.equal((await denied.exited()).code, 255);
    } finally {
      ssh.kill('SIGKILL');
      await echo.close();
    }
    await eventually('tunnel gone from tunnels ls', async () => !/localhost/.test((await ctl('tunnels', 'ls')).stdout), 3000);
    const audit = JSON.parse((await ctl('audit', 'ls', '--type', 'tunnel', '--since', '1h', '--format', 'json')).stdout) as { type: string; success: boolean; code?: string }[];
    const types = new Set(audit.map((e) => `${e.type}:${e.success}`));
    for (const t of ['tunnel.listen:true', 'tunnel.conn.start:true', 'tunnel.conn.end:true', 'tunnel.close:true', 'tunnel.listen:false']) assert.ok(types.has(t), `${t} in ${[...types].join(', ')}`);
    const failed = await ctl('audit', 'ls', '--failed');
    assert.match(failed.stdout, /tunnel\.listen\s+NO\s+alice.*address_not_allowed/);
    assert.equal((await ctl('audit', 'ls', '--since', 'yesterday')).code, 1);
  });

  it('refuses a malformed config naming the field, and a role still in use', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'ssh_service:\n  listen_adr: 127.0.0.1:3022\n');
    const r = await run('ferryd', ['start', '--config', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml: ssh_service\.listen_adr: unknown field/);
    assert.doesNotMatch(r.stderr, /note: node was started without/);
    const bare = await run('ferryd', ['start', '--config', bad], []);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /ferryd: note: node was started without --initial-old-space-size=64, which bin\/ferryd passes/);
    const inUse = await ctl('roles', 'rm', 'dev');
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /still assigned to alice/);
    assert.equal((await ctl('users', 'rm', 'alice')).code, 0);
    assert.equal((await ctl('roles', 'rm', 'dev')).code, 0);
    assert.equal((await ctl('users', 'rm', 'alice')).code, 1);
  });

  it('stops cleanly on SIGTERM and frees its port', async () => {
    daemon.kill('SIGTERM');
    const exit = await daemon.exited();
    assert.equal(exit.code, 0, daemon.output());
    assert.equal(await canConnect(sshPort), false);
  });
});
