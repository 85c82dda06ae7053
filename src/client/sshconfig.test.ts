// readSshConfig against the real OpenSSH client (installed by scripts/system-deps.sh).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parseDynamicForward, parseLocalForward, parseRemoteForward } from './forwardspec';
import { forwardArgument, readSshConfig, unvis, type SshConfigEntry } from './sshconfig';

describe('ssh_config through ssh -G', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  /** ssh -G of `ferry ssh -F cfg ARGS`. */
  const query = (cfg: string, args: string[], more: { ssh?: string; timeoutMs?: number } = {}) => readSshConfig({ args: ['-F', cfg, ...args], file: cfg, ...more });
  const values = (entries: SshConfigEntry[] | null, keyword: string) => (entries ?? []).filter((e) => e.keyword === keyword).map((e) => e.value);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sshcfg-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('resolves Host, Match and Include as ssh does, first value winning', async () => {
    const inc = file('inc.conf', 'Host dev\n  Port 4000\n  User included\n');
    const cfg = file('config', [`Include ${inc}`, 'Host dev', '  HostName 127.0.0.1', '  Port 5000', 'Match user bob', '  IdentityFile ~/.ssh/bob_%h', 'Host *', '  User fallback', ''].join('\n'));
    const got = await query(cfg, ['dev']);
    assert.deepEqual(values(got, 'hostname'), ['127.0.0.1']);
    assert.deepEqual(values(got, 'port'), ['4000']);
    assert.deepEqual(values(got, 'user'), ['included']);
    const bob = await query(cfg, ['-p', '6000', 'bob@dev']);
    assert.deepEqual(values(bob, 'port'), ['6000'], '-p wins');
    assert.deepEqual(values(bob, 'identityfile'), ['~/.ssh/bob_%h'], 'Match user sees the login typed');
  });

  it('passes -o options, so that Match blocks see them as ssh would', async () => {
    const cfg = file('match', 'Match user bob\n  HostName 10.9.9.9\n');
    assert.deepEqual(values(await query(cfg, ['-o', 'User=bob', 'dev']), 'hostname'), ['10.9.9.9']);
    assert.deepEqual(values(await query(cfg, ['-o', 'User=bob', 'alice@dev']), 'user'), ['bob'], '-o User wins over user@');
    assert.deepEqual(values(await query(cfg, ['-o', 'Port=2300', '-p', '2222', 'dev']), 'port'), ['2300'], 'the first given wins');
  });

  it('gives up on a Match exec that hangs, and takes its command down with it', async () => {
    const marker = `sleep 30.${process.pid}2`; // sh execs the command, so its arguments are what can be found
    const cfg = file('hang', `Match exec "${marker}"\n  Port 2\n`);
    const asked = query(cfg, ['dev'], { timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(spawnSync('pgrep', ['-f', marker]).status, 0, 'the Match exec runs');
    await assert.rejects(asked, /ssh -G did not answer within 1 s/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(spawnSync('pgrep', ['-f', marker]).status, 1, 'no sleep left behind');
  });

  it("answers when ssh -G exits, whatever a Match exec left running with its pipes", async () => {
    const marker = `sleep 6.${process.pid}3`;
    try {
      const got = await query(file('bg', `Match exec "(${marker} &) ; true"\n  Port 2\n`), ['dev'], { timeoutMs: 3000 });
      assert.deepEqual(values(got, 'port'), ['2']);
    } finally {
      spawnSync('pkill', ['-f', marker]);
    }
  });

  it('gives every forward form in the -L/-R/-D argument that means the same', async () => {
    const remote = ['127.0.0.1:9003 localhost:9003', '*:9004 localhost:9004', '[::1]:9005 [::1]:9005', '/tmp/r.sock localhost:80', '9006', '9007 /tmp/l.sock', '9008 localhost:9008'];
    const local = ['127.0.0.1:5432 db:5432', '/tmp/l2.sock db:5432', '5433 /tmp/db.sock'];
    const dynamic = ['127.0.0.1:1080', '*:1081', '1082'];
    const cfg = file('forwards', ['Host dev', ...remote.map((f) => `  RemoteForward ${f}`), ...local.map((f) => `  LocalForward ${f}`), ...dynamic.map((f) => `  DynamicForward ${f}`), ''].join('\n'));
    const got = await query(cfg, ['dev']);
    const asTyped = (f: string) => f.replace(' ', ':');
    const strip = <T extends { spec: string }>(f: T) => ({ ...f, spec: '' });
    assert.deepEqual(values(got, 'remoteforward').map((v) => strip(parseRemoteForward(forwardArgument(v)))), remote.map((f) => strip(parseRemoteForward(asTyped(f)))));
    assert.deepEqual(values(got, 'localforward').map((v) => strip(parseLocalForward(forwardArgument(v)))), local.map((f) => strip(parseLocalForward(asTyped(f)))));
    assert.deepEqual(values(got, 'dynamicforward').map((v) => strip(parseDynamicForward(forwardArgument(v)))), dynamic.map((f) => strip(parseDynamicForward(f))));
  });

  it('reads EscapeChar back as it was written', async () => {
    assert.equal(unvis('\\040'), ' ');
    assert.equal(unvis('a\\\\b'), 'a\\b');
    for (const [written, expected] of [['^A', '^A'], ['%', '%'], ['none', 'none']]) {
      const got = await query(file('esc', `Host dev\n  EscapeChar ${written}\n`), ['dev']);
      assert.deepEqual(values(got, 'escapechar').map(unvis), [expected]);
    }
  });

  it("refuses a config ssh refuses, in ssh's words", async () => {
    await assert.rejects(query(file('bad', 'Host dev\n  Colour blue\n'), ['dev']), /line 2: Bad configuration option: colour/);
    await assert.rejects(query(path.join(dir, 'missing'), ['dev']), /Can't open user config file .*missing/);
    await assert.rejects(query(file('both', 'Host dev\n  RemoteCommand top\n'), ['dev', 'ls']), /Cannot execute command-line and remote command/);
  });

  it('reads nothing without an OpenSSH client, unless -F asked for a file', async () => {
    assert.equal(await readSshConfig({ args: ['dev'], file: undefined, ssh: path.join(dir, 'no-ssh') }), null);
    await assert.rejects(query(file('any', ''), ['dev'], { ssh: path.join(dir, 'no-ssh') }), /-F .*any: reading an ssh_config needs OpenSSH's ssh/);
  });
});
