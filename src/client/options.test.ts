import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildInvocation, expandTokens, optionsFirst, sshGArguments, type RawSshFlags } from './options';
import type { SshConfigEntry } from './sshconfig';

const flags = (extra: Partial<RawSshFlags> = {}): RawSshFlags => ({ i: [], o: [], R: [], L: [], D: [], ...extra });

/** `keyword value` lines as ssh -G prints them. */
function config(text: string): SshConfigEntry[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [keyword = '', ...rest] = line.trim().split(' ');
      return { keyword, value: rest.join(' ') };
    });
}

describe('ferry ssh options with ssh_config', () => {
  it('takes what the config sets, as ssh -G printed it', () => {
    const inv = buildInvocation('dev', [], flags(), 'me', config(`
      host dev
      user dev1
      hostname 127.0.0.1
      port 3022
      stricthostkeychecking accept-new
      exitonforwardfailure yes
      serveraliveinterval 30
      connecttimeout 5
      requesttty false
      escapechar \\^A
      sessiontype none
      userknownhostsfile /tmp/kh1 /tmp/kh2`));
    assert.equal(inv.host, '127.0.0.1');
    assert.equal(inv.login, 'dev1');
    assert.equal(inv.port, 3022);
    assert.equal(inv.strictHostKeyChecking, 'accept-new');
    assert.equal(inv.exitOnForwardFailure, true);
    assert.equal(inv.serverAliveInterval, 30);
    assert.equal(inv.connectTimeout, 5);
    assert.equal(inv.pty, 'never');
    assert.equal(inv.escapeChar, 1);
    assert.equal(inv.noCommand, true);
    assert.deepEqual(inv.userKnownHostsFiles, ['/tmp/kh1', '/tmp/kh2']);
  });

  it("leaves ferry's own defaults where the config holds only OpenSSH's, and looks the host up as ssh does", () => {
    const home = os.userInfo().homedir;
    const inv = buildInvocation('Dev.Example', [], flags(), 'me', config(`
      user me
      hostname dev.example
      port 22
      connecttimeout none
      escapechar ~
      enableescapecommandline no
      ${['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((k) => `identityfile ~/.ssh/${k}`).join('\n')}
      userknownhostsfile ${home}/.ssh/known_hosts ${home}/.ssh/known_hosts2
      globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2`));
    assert.equal(inv.host, 'dev.example', 'ssh lowercases the name it looks up in known_hosts');
    assert.deepEqual(inv.identityFiles, [], "ssh's default identities: ferry's defaults, the same");
    assert.deepEqual(inv.userKnownHostsFiles, [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`]);
    assert.equal(inv.escapeCommandline, true);
    assert.equal(inv.connectTimeout, 0);
    assert.deepEqual(inv.configNotes, []);
    assert.deepEqual(buildInvocation('dev', [], flags(), 'me', config('identityfile ~/.ssh/id_rsa')).identityFiles, [path.join(os.userInfo().homedir, '.ssh', 'id_rsa')], 'one default name, set on purpose');
    assert.equal(buildInvocation('[::1]', [], flags(), 'me', config('hostname [::1]')).host, '::1');
    assert.deepEqual(buildInvocation('dev', [], flags(), 'me', config('userknownhostsfile none\nglobalknownhostsfile none')).userKnownHostsFiles, []);
  });

  it('takes what ssh -G answered for the whole command line', () => {
    // As ssh -G prints them for `-o User=ouser -p 2222 -i /cli/key -v -T -R 8080:localhost:80 -D 1081 bob@dev`
    // with a config that adds IdentityFile /cfg/key, LogLevel QUIET, RequestTTY force and forwards.
    const cfg = config(`
      user ouser
      port 2222
      identityfile /cli/key
      identityfile /cfg/key
      loglevel DEBUG1
      requesttty false
      remoteforward 8080 [localhost]:80
      remoteforward 9003 [localhost]:9003
      remoteforward 8080 [localhost]:80
      localforward [127.0.0.1]:5432 [db]:5432
      dynamicforward 1081
      dynamicforward 1080`);
    const inv = buildInvocation('bob@dev', [], flags({ p: '2222', o: ['User=ouser'], i: ['/cli/key'], v: 1, T: true, R: ['8080:localhost:80'], D: ['1081'] }), 'me', cfg);
    assert.equal(inv.login, 'ouser');
    assert.equal(inv.port, 2222);
    assert.deepEqual(inv.identityFiles, ['/cli/key', '/cfg/key'], 'each, -i first');
    assert.deepEqual(inv.warnings, ['Warning: Identity file /cli/key not accessible: No such file or directory.']);
    assert.equal(inv.verbosity, 1);
    assert.equal(inv.quiet, false);
    assert.equal(inv.pty, 'never', '-T');
    assert.deepEqual(inv.remote.map((f) => f.spec), ['8080:[localhost]:80', '9003:[localhost]:9003'], 'a forward named twice, once');
    assert.deepEqual(inv.local.map((f) => f.spec), ['[127.0.0.1]:5432:[db]:5432']);
    assert.deepEqual(inv.dynamic.map((f) => f.spec), ['1081', '1080']);
    assert.equal(buildInvocation('dev', [], flags(), 'me', config('requesttty true')).pty, 'yes', 'RequestTTY yes (-t): a terminal only when stdin is one');
    assert.equal(buildInvocation('dev', [], flags({ t: 2 }), 'me').pty, 'force', '-tt');
    assert.equal(buildInvocation('dev', [], flags({ o: ['EnableEscapeCommandline=no'] }), 'me', config('enableescapecommandline no')).escapeCommandline, false);
  });

  it('reads the command line alone as ssh would when no config is read', () => {
    const uri = buildInvocation('ssh://bob@H:2200', [], flags(), 'me');
    assert.deepEqual([uri.login, uri.host, uri.port], ['bob', 'h', 2200], 'ssh:// destinations, the host lower-cased');
    const o = buildInvocation('bob@dev', [], flags({ o: ['User=ouser', 'Port=2300'] }), 'me');
    assert.deepEqual([o.login, o.port], ['ouser', 2300], '-o User wins over user@');
    const l = buildInvocation('bob@dev', [], flags({ l: 'lee', p: '2222', o: ['User=ouser', 'Port=2300'] }), 'me');
    assert.deepEqual([l.login, l.port], ['lee', 2222]);
  });

  it('reads a reverse dynamic forward ([socks]:0) and a unix socket forward', () => {
    const inv = buildInvocation('dev', [], flags(), 'me', config(`
      remoteforward 9006 [socks]:0
      remoteforward /tmp/r.sock [localhost]:80
      remoteforward []:9004 [localhost]:9004`));
    assert.deepEqual(inv.remote.map((f) => (f.kind === 'remote-tcp' ? `${f.bindAddress}|${f.port}|${f.target.kind}` : `${f.socketPath}|${f.target.kind}`)), ['localhost|9006|socks', '/tmp/r.sock|tcp', '|9004|tcp']);
  });

  it('ClearAllForwardings drops the forwards of the command line too, as ssh does', () => {
    const inv = buildInvocation('dev', [], flags({ R: ['8080:localhost:80'] }), 'me', config(`
      clearallforwardings yes
      remoteforward 9003 [localhost]:9003`));
    assert.deepEqual(inv.remote, []);
  });

  it('runs RemoteCommand when no command is given, and refuses both as ssh does', () => {
    const cfg = config('remotecommand tmux attach');
    assert.deepEqual(buildInvocation('dev', [], flags(), 'me', cfg).command, ['tmux attach']);
    assert.deepEqual(buildInvocation('dev', [], flags({ N: true }), 'me', cfg).command, []);
    assert.throws(() => buildInvocation('dev', ['ls'], flags(), 'me', cfg), /Cannot execute command-line and remote command/);
  });

  it('refuses by name the settings that would reach another host, trust another key or open more', () => {
    for (const [line, name] of [['proxyjump bastion', 'ProxyJump'], ['proxycommand nc %h %p', 'ProxyCommand'], ['hostkeyalias other', 'HostKeyAlias'], ['revokedhostkeys /etc/ssh/revoked', 'RevokedHostKeys'], ['permitremoteopen 10.0.0.1:80', 'PermitRemoteOpen']] as const) {
      assert.throws(() => buildInvocation('dev', [], flags(), 'me', config(line)), new RegExp(`ssh_config: ${name} .* applies to dev, and ferry ssh does not support ${name}`));
    }
    // -o PermitRemoteOpen=any reaches ssh -G, which then prints any.
    assert.equal(buildInvocation('dev', [], flags({ o: ['PermitRemoteOpen=any'] }), 'me', config('permitremoteopen any')).host, 'dev');
    assert.throws(() => buildInvocation('dev', [], flags(), 'me', config('hostkeyalias none')), /HostKeyAlias none applies to dev, .*\(-F none connects without it\)/, 'to ssh, none is an alias like any other');
    assert.throws(() => buildInvocation('dev', [], flags({ o: ['HostKeyAlias=none'] }), 'me'), /-o HostKeyAlias: ferry ssh does not support HostKeyAlias$/);
    assert.throws(() => buildInvocation('dev', [], flags({ o: ['ProxyJump=bastion'] }), 'me'), /-o ProxyJump: ferry ssh does not support ProxyJump/);
    assert.throws(() => buildInvocation('dev', [], flags(), 'me', config('sessiontype subsystem')), /ssh_config SessionType: unsupported value "subsystem"/);
    assert.throws(() => buildInvocation('dev', [], flags(), 'me', config('forkafterauthentication yes')), /ForkAfterAuthentication/);
  });

  it('names the config in a bad value', () => {
    assert.throws(() => buildInvocation('dev', [], flags(), 'me', config('serveraliveinterval soon')), /^ValidationError: ssh_config serveraliveinterval: "soon" is not a number of seconds/);
    assert.throws(() => buildInvocation('dev', [], flags({ o: ['ServerAliveInterval=soon'] }), 'me'), /-o ServerAliveInterval: "soon"/);
  });

  it("takes the config's identities, agent and prompts, with their tokens expanded", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-idf-'));
    try {
      fs.writeFileSync(path.join(dir, 'key_127.0.0.1_dev1'), '');
      const inv = buildInvocation('dev', [], flags(), 'me', config(`
        user dev1
        hostname 127.0.0.1
        identityfile ${dir}/missing
        identityfile ${dir}/key_%h_%r
        certificatefile ${dir}/cert_%n`));
      assert.deepEqual(inv.identityFiles, [`${dir}/missing`, path.join(dir, 'key_127.0.0.1_dev1')]);
      assert.deepEqual(inv.certFiles, [path.join(dir, 'cert_dev')]);
      const agent = buildInvocation('dev', [], flags(), 'me', config('identityagent /run/agent.sock\nidentitiesonly yes\nbatchmode yes\nnumberofpasswordprompts 1'));
      assert.equal(agent.identityAgent, '/run/agent.sock');
      assert.deepEqual([agent.identitiesOnly, agent.batchMode, agent.passwordPrompts], [true, true, 1]);
      const defaults = buildInvocation('dev', [], flags(), 'me', config('identitiesonly no\nbatchmode no\nnumberofpasswordprompts 3'));
      assert.deepEqual([defaults.identityAgent, defaults.identitiesOnly, defaults.batchMode, defaults.passwordPrompts, defaults.configNotes], [undefined, false, false, 3, []]);
      const noConfig = buildInvocation('dev', [], flags({ i: ['~/a', '~/b'], o: ['IdentityFile=~/c', 'IdentityAgent=~/agent_%r', 'NumberOfPasswordPrompts=0'] }), 'me');
      assert.deepEqual(noConfig.identityFiles, ['~/a', '~/b', '~/c'].map((f) => path.join(os.userInfo().homedir, f.slice(2))), 'without ssh -G: each, -i first');
      assert.equal(noConfig.identityAgent, path.join(os.userInfo().homedir, 'agent_me'));
      assert.equal(noConfig.passwordPrompts, 0);
      assert.throws(() => buildInvocation('dev', [], flags({ o: ['NumberOfPasswordPrompts=x'] }), 'me'), /NumberOfPasswordPrompts: "x"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const orders: [string, string[], string[]][] = [
    ['options after the host, as ssh reads them', ['-i', 'k', 'dev', '-p', '2299', 'echo', '-n', 'hi'], ['-i', 'k', '-p', '2299', 'dev', 'echo', '-n', 'hi']],
    ['a grouped flag with its value in the word, and one with it next', ['dev', '-NR0:localhost:80', '-Lx', '-tt', 'ls'], ['-NR0:localhost:80', '-Lx', '-tt', 'dev', 'ls']],
    ['-- after the host ends the options', ['dev', '-p', '1', '--', '-p', '2'], ['-p', '1', 'dev', '--', '-p', '2']],
    ['-- before the host: nothing moves', ['--', 'dev', '-p', '2'], ['--', 'dev', '-p', '2']],
    ['a value that looks like an option', ['-l', '-odd', 'dev', '-o', 'User=x'], ['-l', '-odd', '-o', 'User=x', 'dev']],
    ['no host', ['-p', '2'], ['-p', '2']],
  ];
  for (const [name, args, expected] of orders) {
    it(`reads the command line in ssh's order: ${name}`, () => assert.deepEqual(optionsFirst(args), expected));
  }

  it('keeps EnableEscapeCommandline from ssh -G, which ssh before 9.2 refuses', () => {
    assert.deepEqual(sshGArguments(['-o', 'EnableEscapeCommandline=no', '-oEnableEscapeCommandline yes', '-o', 'User=x', 'dev']), ['-o', 'User=x', 'dev']);
  });

  it('expands tokens, environment variables and ~ as ssh does, and names a token it does not know', () => {
    const env = (name: string) => `$${'{'}${name}}`; // ${NAME}, as a config writes it
    const tokens = { '%': '%', h: 'host', r: 'bob', d: '/home/me' };
    assert.equal(expandTokens('%d/.ssh/%r@%h%%', tokens, 'IdentityFile'), '/home/me/.ssh/bob@host%');
    process.env.FERRY_TEST_KEYS = '/keys';
    assert.equal(expandTokens(`${env('FERRY_TEST_KEYS')}/k`, tokens, 'IdentityFile'), '/keys/k');
    assert.equal(expandTokens('~/k', tokens, 'IdentityFile'), path.join(os.userInfo().homedir, 'k'));
    assert.throws(() => expandTokens('~/.ssh/%C', tokens, 'IdentityFile'), /IdentityFile ~\/\.ssh\/%C: token %C is not supported/);
    assert.throws(() => expandTokens(`${env('FERRY_TEST_UNSET')}/k`, tokens, 'CertificateFile'), /environment variable FERRY_TEST_UNSET is not set/);
  });
});
