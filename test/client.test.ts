// `ferry ssh` end to end: against the ferry node and against a stock OpenSSH sshd.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestCluster, devCluster, roleYaml, type Credentials } from './helpers/cluster';
import { canConnect, echoServer, eventually, freePort, halfCloseExchange, halfCloseServer, roundTrip, start } from './helpers/process';
import { startSshd, type Sshd } from './helpers/sshd';
import { TypedTerminal, inTerminal } from './helpers/terminal';
import { SSH, ensureOpenSSH, ensureOsUser, type TestOsUser } from './helpers/system';
import { NODE_FLAGS } from '../src/cli/node-flags';

const FERRY = path.resolve(__dirname, '..', '..', 'bin', 'ferry');
// Never execFileSync a client here: the node under test runs in this process's event loop.
const curl = async (args: string[]) => (await promisify(execFile)('curl', ['-s', '--max-time', '10', ...args], { encoding: 'utf8' })).stdout;

function ferryArgs(creds: Credentials, port: number, extra: string[], dest: string, command: string[] = []): string[] {
  return ['ssh', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-i', creds.key, '-p', String(port), ...extra, dest, ...command];
}

function ferry(args: string[]) {
  return start(process.execPath, [...NODE_FLAGS, FERRY, ...args]);
}

async function httpServer(body: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

function httpGet(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('ferry ssh against the ferry node', () => {
  let cluster: TestCluster;
  let dev: TestOsUser;
  let creds: Credentials;
  let web: Awaited<ReturnType<typeof httpServer>>;
  let dest: string;

  before(async () => {
    ensureOpenSSH();
    dev = ensureOsUser('ferry-dev');
    cluster = await TestCluster.start();
    await cluster.role(roleYaml('dev', { logins: [dev.name], permitListen: ['*:1024-65535', '*:0'] }));
    await cluster.role(roleYaml('no-remote', { logins: [dev.name], remote: false }));
    creds = await cluster.user('alice', [dev.name], ['dev']);
    web = await httpServer('hello from the workstation');
    dest = `${dev.name}@127.0.0.1`;
  });

  after(async () => {
    await web?.close();
    await cluster?.stop();
  });

  it('runs a remote command and exits with its status, arguments untouched', async () => {
    const run = ferry(ferryArgs(creds, cluster.port, [], dest, ['echo', '-n', 'a b;', 'exit 3']));
    const exit = await run.exited();
    assert.equal(exit.code, 3, run.output());
    assert.match(run.output(), /a b/);
  });

  it('-t asks for a terminal only when stdin is one, -tt always, as ssh', async () => {
    const once = ferry(ferryArgs(creds, cluster.port, ['-t'], dest, ['tty']));
    assert.equal((await once.exited()).code, 1, once.output());
    assert.match(once.output(), /Pseudo-terminal will not be allocated because stdin is not a terminal\.[^]*not a tty/);
    const twice = ferry(ferryArgs(creds, cluster.port, ['-tt'], dest, ['tty']));
    assert.equal((await twice.exited()).code, 0, twice.output());
    assert.match(twice.output(), /\/dev\/pts\/\d+/);
  });

  it('takes options typed after the host, as ssh does, and runs the words after them', async () => {
    const run = ferry(['ssh', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-i', creds.key, dest, '-p', String(cluster.port), 'echo', '-n', 'after-the-host']);
    assert.equal((await run.exited()).code, 0, run.output());
    assert.match(run.output(), /after-the-host/);
    const missing = ferry(ferryArgs(creds, cluster.port, ['-i', path.join(cluster.dir, 'no-such-key')], dest, ['true']));
    await missing.exited();
    assert.match(missing.output(), /Warning: Identity file .*no-such-key not accessible/);
  });

  it('-N -R 0 prints the Allocated line and serves HTTP from the workstation', async () => {
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', `0:127.0.0.1:${web.port}`], dest));
    try {
      const m = await run.waitFor(new RegExp(`Allocated port (\\d+) for remote forward to 127\\.0\\.0\\.1:${web.port}`));
      assert.equal(await httpGet(Number(m[1])), 'hello from the workstation');
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('-R to localhost, as people type it, serves one connection after another', async () => {
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', `0:localhost:${web.port}`], dest));
    try {
      const m = await run.waitFor(new RegExp(`Allocated port (\\d+) for remote forward to localhost:${web.port}`));
      // the first connection resolves localhost, the ones after use the cached answer (src/lookup.test.ts)
      for (let i = 0; i < 3; i++) assert.equal(await httpGet(Number(m[1])), 'hello from the workstation');
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('keeps forwarded connections half-open both ways, as ssh does', async () => {
    const answers = await halfCloseServer('answer-after-eof');
    const speaks = await halfCloseServer('speak-first');
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', `0:127.0.0.1:${answers.port}`, '-R', `0:127.0.0.1:${speaks.port}`], dest));
    try {
      const ports = new Map<number, number>();
      for (const target of [answers.port, speaks.port]) {
        ports.set(target, Number((await run.waitFor(new RegExp(`Allocated port (\\d+) for remote forward to 127\\.0\\.0\\.1:${target}`)))[1]));
      }
      // The origin shuts its side first: the target still answers through the node.
      assert.equal(await halfCloseExchange(ports.get(answers.port) ?? 0, 'question', { afterEof: false }), 'got:question');
      // The target shuts its side first: what the origin sends after still reaches it.
      assert.equal(await halfCloseExchange(ports.get(speaks.port) ?? 0, 'late', { afterEof: true }), 'ready');
      assert.equal(await speaks.received, 'late');
    } finally {
      run.kill('SIGKILL');
      await answers.close();
      await speaks.close();
    }
  });

  it('a target that answers a half-closed request and closes gets its whole answer through, read slowly', async () => {
    // 24 MiB is more than the channel window and the socket buffers: the answer is still in the client's
    // channel when the target's socket closes, and must not be cut off there.
    const big = 'x'.repeat(24 * 1024 * 1024);
    const answers = await halfCloseServer('answer-after-eof', { answer: big });
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', `0:127.0.0.1:${answers.port}`], dest));
    try {
      const port = Number((await run.waitFor(/Allocated port (\d+)/))[1]);
      const got = await halfCloseExchange(port, 'question', { afterEof: false, readDelayMs: 500 });
      assert.equal(got.length, 'got:question'.length + big.length);
      assert.ok(got.startsWith('got:question') && got.endsWith('xxxx'));
    } finally {
      run.kill('SIGKILL');
      await answers.close();
    }
  });

  it('-q hides the Allocated line', async () => {
    const run = ferry(ferryArgs(creds, cluster.port, ['-q', '-NR', `0:127.0.0.1:${web.port}`], dest));
    try {
      await cluster.expectAudit('tunnel.listen', (e) => e.success && e.fields?.bind_address === 'localhost' && run.output() === '');
      assert.doesNotMatch(run.output(), /Allocated/);
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('SIGINT cancels every forward, frees the node port and exits 255, as ssh -N does', async () => {
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', `0:127.0.0.1:${web.port}`], dest));
    const port = Number((await run.waitFor(/Allocated port (\d+)/))[1]);
    assert.equal(await canConnect(port), true);
    run.kill('SIGINT');
    const exit = await run.exited();
    assert.equal(exit.code, 255, run.output());
    assert.doesNotMatch(run.output(), /closed by remote host/);
    assert.equal(await canConnect(port), false);
    await cluster.expectAudit('tunnel.close', (e) => e.fields?.port === port);
  });

  it('a refused forward warns with the node reason; ExitOnForwardFailure makes it fatal (255)', async () => {
    const denied = await cluster.user('bob', [dev.name], ['no-remote']);
    const soft = ferry(ferryArgs(denied, cluster.port, ['-R', `0:127.0.0.1:${web.port}`], dest, ['echo', 'ran']));
    const softExit = await soft.exited();
    assert.equal(softExit.code, 0, soft.output());
    assert.match(soft.output(), /Warning: remote port forwarding failed for listen port 0: remote port forwarding is not allowed for you/);
    assert.match(soft.output(), /ran/);
    const hard = ferry(ferryArgs(denied, cluster.port, ['-o', 'ExitOnForwardFailure=yes', '-N', '-R', `0:127.0.0.1:${web.port}`], dest));
    const hardExit = await hard.exited();
    assert.equal(hardExit.code, 255, hard.output());
    assert.match(hard.output(), /Error: remote port forwarding failed for listen port 0: remote port forwarding is not allowed for you/);
  });

  it('a dead local target refuses the channel with the reason and keeps the tunnel up', async () => {
    const dead = await freePort();
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', `0:127.0.0.1:${dead}`], dest));
    try {
      const port = Number((await run.waitFor(/Allocated port (\d+)/))[1]);
      const s = net.connect({ port, host: '127.0.0.1' });
      await new Promise<void>((r) => s.once('close', () => r()));
      await run.waitFor(new RegExp(`connect_to 127\\.0\\.0\\.1:${dead}: failed: .*ECONNREFUSED`));
      const refused = await cluster.expectAudit('tunnel.conn.start', (e) => !e.success && e.fields?.port === port);
      assert.match(refused.message ?? '', /ECONNREFUSED/);
      assert.equal(await canConnect(port), true, 'the tunnel stays up');
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('ends its own lines in \\r\\n while the terminal is raw (-t), as ssh does', async () => {
    // Output processing is off then: a bare \n left the next line starting mid-screen.
    const [dead, listen] = [await freePort(), await freePort()];
    const args = ferryArgs(creds, cluster.port, ['-t', '-R', `127.0.0.1:${listen}:127.0.0.1:${dead}`], dest, [`curl -s -m 5 http://127.0.0.1:${listen}/; echo done`]);
    const { code, output } = await inTerminal([process.execPath, ...NODE_FLAGS, FERRY, ...args]);
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`connect_to 127\\.0\\.0\\.1:${dead}: failed: [^\\r\\n]*\\r\\n`));
    assert.doesNotMatch(output, /[^\r]\n/, JSON.stringify(output));
    assert.match(output, /\r\nConnection to 127\.0\.0\.1 closed\.\r\n$/, 'as ssh ends a terminal session');
  });

  /** `ferry ssh -t ... cat` in a terminal of the test's, once the session echoes what is typed. */
  async function catSession(port = cluster.port): Promise<TypedTerminal> {
    const term = new TypedTerminal([process.execPath, ...NODE_FLAGS, FERRY, ...ferryArgs(creds, port, ['-t'], dest, ['cat'])]);
    term.type('up\r');
    await term.waitFor(/up\r\nup\r\n/).catch((err: Error) => {
      term.kill();
      throw err;
    });
    return term;
  }

  it('escapes as ssh does: ~C adds and cancels forwards in a running session, ~# lists them, ~. ends it', async () => {
    const term = await catSession();
    try {
      term.type('~?');
      await term.waitFor(/~\. {3}- terminate connection/);
      let mark = term.output.length;
      term.type('~C');
      await term.waitFor(/ssh> $/, mark);
      term.type(`-R 0:127.0.0.1:${web.port}\r`);
      const port = Number((await term.waitFor(/Allocated port (\d+) for remote forward/, mark))[1]);
      assert.equal(await httpGet(port), 'hello from the workstation');
      const local = await freePort();
      mark = term.output.length;
      term.type(`~C-L ${local}:127.0.0.1:${web.port}\r`);
      await term.waitFor(/Forwarding port\./, mark);
      await eventually('the -L listener is up', () => canConnect(local));
      mark = term.output.length;
      term.type('~#');
      await term.waitFor(new RegExp(`-R localhost:${port} -> 127\\.0\\.0\\.1:${web.port}\\r\\n  -L localhost:${local} -> `), mark);
      term.type('a~.b\r'); // not at the start of a line: typed through
      await term.waitFor(/a~\.b\r\na~\.b\r\n/);
      mark = term.output.length;
      term.type(`~C-KR ${port}\r~C-KL ${local}\r`);
      await term.waitFor(/Canceled forwarding\.[^]*Canceled forwarding\./, mark);
      await eventually('the node port and the local one close', async () => !(await canConnect(port)) && !(await canConnect(local)));
      term.type('~.');
      assert.equal(await term.exited, 255);
      assert.match(term.output, /~\.\r\nConnection to 127\.0\.0\.1 closed\.\r\n$/);
    } finally {
      term.kill();
    }
  });

  it('leaves the ~C prompt on ^C or ^D with the session still taking input', async () => {
    const term = await catSession();
    try {
      term.type('~C-R 1\x03one\r');
      await term.waitFor(/one\r\none\r\n/);
      term.type('~C\x04two\r');
      await term.waitFor(/two\r\ntwo\r\n/);
      assert.doesNotMatch(term.output, /Forwarding port/);
    } finally {
      term.kill();
    }
  });

  for (const garbage of [false, true]) {
    it(`~. ends a session whose connection hangs, at once${garbage ? ', after a protocol error half-closed it' : ''}`, async () => {
      // A proxy that stops passing bytes either way, as a dead network does: not even a FIN.
      // With garbage first, ssh2 half-closes the socket itself, and its destroy() did nothing.
      let frozen = false;
      const held: net.Socket[] = [];
      const proxy = net.createServer({ allowHalfOpen: true }, (a) => {
        const b = net.connect(cluster.port, '127.0.0.1');
        held.push(a, b);
        a.on('data', (d: Buffer) => { if (!frozen) b.write(d); });
        b.on('data', (d: Buffer) => { if (!frozen) a.write(d); });
        a.on('error', () => {});
        b.on('error', () => {});
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
      let term: TypedTerminal | undefined;
      try {
        term = await catSession((proxy.address() as net.AddressInfo).port);
        frozen = true;
        if (garbage) {
          held[0]?.write(Buffer.alloc(4096, 0x41));
          await new Promise((r) => setTimeout(r, 300));
        }
        term.type('~.');
        const code = await Promise.race([term.exited, new Promise<string>((r) => setTimeout(() => r('still running after 3 s'), 3000))]);
        assert.equal(code, 255);
      } finally {
        term?.kill();
        for (const sock of held) sock.destroy();
        proxy.close();
      }
    });
  }

  it('takes input after the host key question of a first connection', async () => {
    const known = path.join(cluster.dir, 'known_hosts_first');
    fs.writeFileSync(known, '');
    const args = ferryArgs(creds, cluster.port, ['-t'], dest, ['cat']).map((a) => (a === 'StrictHostKeyChecking=no' ? 'StrictHostKeyChecking=ask' : a === 'UserKnownHostsFile=/dev/null' ? `UserKnownHostsFile=${known}` : a));
    const term = new TypedTerminal([process.execPath, ...NODE_FLAGS, FERRY, ...args]);
    try {
      await term.waitFor(/\(yes\/no\)\? /);
      term.type('yes\r');
      await term.waitFor(/Permanently added/);
      term.type('typed\r');
      await term.waitFor(/typed\r\ntyped\r\n/);
    } finally {
      term.kill();
    }
  });

  it('-e none passes ~. through to the session', async () => {
    const term = new TypedTerminal([process.execPath, ...NODE_FLAGS, FERRY, ...ferryArgs(creds, cluster.port, ['-t', '-e', 'none'], dest, ['head -c 3'])]);
    try {
      term.type('~.\r');
      assert.equal(await term.exited, 0, term.output);
      assert.match(term.output, /^~\.\r\n/);
    } finally {
      term.kill();
    }
  });

  it('forwards a remote unix socket to a local TCP service', async () => {
    const sock = path.join(dev.home, `ferry-client-${process.pid}.sock`);
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `${sock}:127.0.0.1:${web.port}`], dest));
    try {
      await eventually('socket exists', () => fs.existsSync(sock));
      const body = await new Promise<string>((resolve, reject) => {
        http.get({ socketPath: sock, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => { b += d.toString(); });
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.equal(body, 'hello from the workstation');
    } finally {
      run.kill('SIGINT');
      await run.exited();
    }
    assert.equal(fs.existsSync(sock), false);
  });

  it('reverse dynamic forwarding (-R port alone) answers SOCKS on the client side', async () => {
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-R', '0'], dest));
    try {
      const port = Number((await run.waitFor(/Allocated port (\d+)/))[1]);
      const body = await curl(['--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${web.port}/`]);
      assert.equal(body, 'hello from the workstation');
      const body4a = await curl(['--socks4a', `127.0.0.1:${port}`, `http://localhost:${web.port}/`]);
      assert.equal(body4a, 'hello from the workstation');
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('-L and -D work end to end through the node', async () => {
    const echo = await echoServer();
    const [lport, dport] = await Promise.all([0, 0].map(() => new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    })));
    const answers = await halfCloseServer('answer-after-eof');
    const localSocket = path.join(cluster.dir, `l-${process.pid}.sock`);
    const run = ferry(ferryArgs(creds, cluster.port, ['-N', '-L', `${lport}:127.0.0.1:${echo.port}`, '-L', `${localSocket}:127.0.0.1:${answers.port}`, '-D', String(dport)], dest));
    try {
      await eventually('-L listening', () => canConnect(lport ?? 0));
      assert.equal((await roundTrip(lport ?? 0, 'hi', 7)).toString(), 'echo:hi');
      // A unix-socket -L half-closes as ssh's does: the request's EOF, then the whole answer.
      await eventually('-L socket listening', () => fs.existsSync(localSocket));
      assert.equal(await halfCloseExchange(localSocket, 'question', { afterEof: false }), 'got:question');
      const body = await curl(['--socks5', `127.0.0.1:${dport}`, `http://127.0.0.1:${web.port}/`]);
      assert.equal(body, 'hello from the workstation');
    } finally {
      run.kill('SIGKILL');
      await echo.close();
      await answers.close();
    }
  });

  it('Ctrl-C while ssh -G still reads the config ends it and the Match exec it runs', async () => {
    const marker = `sleep 30.${process.pid}1`; // sh execs the command, so its arguments are what can be found
    const cfg = path.join(cluster.dir, 'ssh_config_slow');
    fs.writeFileSync(cfg, `Match exec "${marker}"\n  Port 2\n`);
    const running = () => {
      try {
        execFileSync('pgrep', ['-f', marker]);
        return true;
      } catch {
        return false;
      }
    };
    const run = ferry(['ssh', '-F', cfg, dest, 'true']);
    await eventually('the Match exec runs', running);
    run.kill('SIGINT');
    assert.equal((await run.exited()).signal, 'SIGINT', run.output());
    await eventually('the Match exec is gone', () => !running(), 2000);
  });

  it('refuses a bad -R spec before connecting, quoting it, with exit 255', async () => {
    const run = ferry(['ssh', '-R', '8080:host', '-p', '1', dest]);
    const exit = await run.exited();
    assert.equal(exit.code, 255);
    assert.match(run.output(), /Bad remote forwarding specification '8080:host'/);
    assert.match(run.output(), /\[bind_address:\]port:host:hostport/);
  });

  it('reads ssh_config as ssh does: a Host alias brings its HostName, Port, User, key and RemoteForward', async () => {
    const other = await cluster.user('carol', [dev.name], ['dev']);
    const cfg = path.join(cluster.dir, 'ssh_config');
    fs.writeFileSync(cfg, [
      'Host devbox',
      '  HostName 127.0.0.1',
      `  Port ${cluster.port}`,
      `  User ${dev.name}`,
      `  IdentityFile ${creds.key}`,
      '  StrictHostKeyChecking no',
      '  UserKnownHostsFile /dev/null',
      `  RemoteForward 0 127.0.0.1:${web.port}`,
      '  RemoteForward 0 127.0.0.1:' + String(web.port), // the same forward again: asked for once, as by ssh
      'Host behind-bastion',
      '  ProxyJump bastion',
      'Host *',
      // As ssh: CertificateFiles come first and then none is looked for beside the key. Another
      // key's, with that key nowhere, is passed over; the second is signed for by the IdentityFile.
      `  CertificateFile ${other.cert}`,
      `  CertificateFile ${creds.cert}`,
      '',
    ].join('\n'));
    const run = ferry(['ssh', '-F', cfg, '-N', 'devbox']);
    try {
      const m = await run.waitFor(new RegExp(`Allocated port (\\d+) for remote forward to 127\\.0\\.0\\.1:${web.port}`));
      assert.equal(await httpGet(Number(m[1])), 'hello from the workstation');
      await cluster.expectAudit('tunnel.listen', (e) => e.success && e.user === 'alice' && e.fields?.port === Number(m[1]));
      assert.equal(run.output().match(/Allocated port/g)?.length, 1, run.output());
      assert.doesNotMatch(run.output(), /Warning/);
    } finally {
      run.kill('SIGKILL');
    }
    // -o options reach ssh -G: RemoteCommand with its tokens expanded, as ssh sends it.
    const remote = ferry(['ssh', '-F', cfg, '-o', 'RemoteCommand=echo command-for-%n', 'devbox']);
    assert.equal((await remote.exited()).code, 0, remote.output());
    assert.match(remote.output(), /command-for-devbox/);
    // A host ferry cannot reach as configured is refused before connecting, by name.
    const jump = ferry(['ssh', '-F', cfg, 'behind-bastion', 'true']);
    assert.equal((await jump.exited()).code, 255);
    assert.match(jump.output(), /ProxyJump bastion applies to behind-bastion, and ferry ssh does not support ProxyJump/);
    // A config ssh refuses, in ssh's words.
    fs.writeFileSync(cfg, 'Host devbox\n  Colour blue\n');
    const bad = ferry(['ssh', '-F', cfg, 'devbox', 'true']);
    assert.equal((await bad.exited()).code, 255);
    assert.match(bad.output(), /line 2: Bad configuration option: colour/);
  });

  it('trusts the node through an @cert-authority line for the cluster host CA, and refuses a foreign CA', async () => {
    const known = path.join(cluster.dir, 'known_hosts_ca');
    const line = (await cluster.auth.exportCA('host')).replace('@cert-authority *', `@cert-authority [127.0.0.1]:${cluster.port}`);
    fs.writeFileSync(known, line);
    const args = ['ssh', '-F', '/dev/null', '-v', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${known}`, '-i', creds.key, '-p', String(cluster.port), dest, 'echo', 'trusted'];
    const ok = ferry(args);
    assert.equal((await ok.exited()).code, 0, ok.output());
    assert.match(ok.output(), /presented a certificate \(key id "test-node"\) signed by a trusted CA/);
    // The same line in a system-wide file (GlobalKnownHostsFile) is trusted too, as by ssh.
    const global = ferry(['ssh', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'UserKnownHostsFile=/dev/null', '-o', `GlobalKnownHostsFile=${known}`, '-i', creds.key, '-p', String(cluster.port), dest, 'echo', 'trusted']);
    assert.equal((await global.exited()).code, 0, global.output());
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(cluster.dir, 'other-ca'), '-C', 'x']);
    const foreign = fs.readFileSync(path.join(cluster.dir, 'other-ca.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    fs.writeFileSync(known, `@cert-authority [127.0.0.1]:${cluster.port} ${foreign}\n`);
    const bad = ferry(args);
    assert.equal((await bad.exited()).code, 255);
    assert.match(bad.output(), /Host certificate for \[127\.0\.0\.1\]:\d+ not accepted: /);
  });

  it('takes no new host key without a known_hosts file to put it in, and hashes what it adds when asked, as ssh', async () => {
    const base = ['ssh', '-F', '/dev/null', '-i', creds.key, '-p', String(cluster.port)];
    const none = ferry([...base, '-o', 'UserKnownHostsFile=none', '-o', 'StrictHostKeyChecking=no', dest, 'true']);
    assert.equal((await none.exited()).code, 255);
    assert.match(none.output(), /UserKnownHostsFile is none[^]*Host key verification failed/);
    const known = path.join(cluster.dir, 'known_hosts_hashed');
    const add = ferry([...base, '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=accept-new', '-o', 'HashKnownHosts=yes', dest, 'true']);
    assert.equal((await add.exited()).code, 0, add.output());
    const line = fs.readFileSync(known, 'utf8');
    assert.match(line, /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /);
    assert.doesNotMatch(line, /127\.0\.0\.1/);
    const again = ferry([...base, '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes', dest, 'true']);
    assert.equal((await again.exited()).code, 0, again.output());
    const stock = await promisify(execFile)(SSH, ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes', '-i', creds.key, '-p', String(cluster.port), dest, 'echo', 'ssh-reads-it'], { encoding: 'utf8' });
    assert.match(stock.stdout, /ssh-reads-it/);
  });

  it('verifies host keys: adds a new one with accept-new, refuses a changed one loudly', async () => {
    const known = path.join(cluster.dir, 'known_hosts');
    const args = (mode: string) => ['ssh', '-F', '/dev/null', '-o', `StrictHostKeyChecking=${mode}`, '-o', `UserKnownHostsFile=${known}`, '-i', creds.key, '-p', String(cluster.port), dest, 'true'];
    const strict = ferry(args('yes'));
    assert.equal((await strict.exited()).code, 255);
    assert.match(strict.output(), /Host key verification failed/);
    // BatchMode: no question, even with a terminal to ask on.
    const batch = new TypedTerminal([process.execPath, ...NODE_FLAGS, FERRY, 'ssh', '-o', 'BatchMode=yes', ...args('ask').slice(1)]);
    assert.equal(await batch.exited, 255, batch.output);
    assert.match(batch.output, /BatchMode is on[^]*Host key verification failed/);
    assert.doesNotMatch(batch.output, /Are you sure/);
    const first = ferry(args('accept-new'));
    assert.equal((await first.exited()).code, 0, first.output());
    assert.match(fs.readFileSync(known, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${cluster.port} ssh-ed25519 `));
    const again = ferry(args('yes'));
    assert.equal((await again.exited()).code, 0, again.output());
    const other = execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(cluster.dir, 'other'), '-C', 'x']);
    void other;
    const otherKey = fs.readFileSync(path.join(cluster.dir, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    fs.writeFileSync(known, `[127.0.0.1]:${cluster.port} ${otherKey}\n`);
    const changed = ferry(args('accept-new'));
    assert.equal((await changed.exited()).code, 255);
    assert.match(changed.output(), /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  });
});

describe('ferry ssh against a stock OpenSSH sshd', () => {
  let cluster: TestCluster;
  let dev: TestOsUser;
  let creds: Credentials;
  let web: Awaited<ReturnType<typeof httpServer>>;
  let sshd: Sshd;
  let sshdLocalOnly: Sshd;

  before(async () => {
    ({ cluster, dev, creds } = await devCluster());
    const userCA = await cluster.auth.exportCA('user');
    sshd = await startSshd(userCA, ['AllowTcpForwarding yes']);
    sshdLocalOnly = await startSshd(userCA, ['AllowTcpForwarding local']);
    web = await httpServer('served via sshd');
  });

  after(async () => {
    await web?.close();
    await sshd?.stop();
    await sshdLocalOnly?.stop();
    await cluster?.stop();
  });

  it('logs in with the ferry certificate and serves HTTP through -R 0', async () => {
    const run = ferry(ferryArgs(creds, sshd.port, ['-N', '-R', `0:127.0.0.1:${web.port}`], `${dev.name}@127.0.0.1`));
    try {
      const port = Number((await run.waitFor(/Allocated port (\d+) for remote forward/))[1]);
      assert.equal(await httpGet(port), 'served via sshd');
    } finally {
      run.kill('SIGINT');
      await run.exited();
    }
  });

  it('offers the plain key after its certificate, as ssh does, to a server that trusts only the key', async () => {
    // A foreign CA: sshd refuses the certificate, and the key itself is in authorized_keys.
    const dir = fs.mkdtempSync('/tmp/ferry-plainkey-');
    fs.chmodSync(dir, 0o755);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'ca'), '-C', 'ca']);
    fs.writeFileSync(path.join(dir, 'authorized_keys'), fs.readFileSync(`${creds.key}.pub`), { mode: 0o644 });
    const keyOnly = await startSshd(fs.readFileSync(path.join(dir, 'ca.pub'), 'utf8'), [`AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`]);
    try {
      const run = ferry(ferryArgs(creds, keyOnly.port, [], `${dev.name}@127.0.0.1`, ['echo', 'in-with-the-key']));
      assert.equal((await run.exited()).code, 0, run.output());
      assert.match(run.output(), /in-with-the-key/);
    } finally {
      await keyOnly.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends its terminal\'s modes with -t as ssh does: sshd gives both the same terminal', async () => {
    // A user's terminal with Ctrl-S free for the shell and ^H to erase; ferry sent no modes.
    const local = 'stty -ixon erase ^H werase undef -iutf8 ixoff';
    const remote = ['stty -a'];
    const viaSsh = cluster.sshArgs(creds, dev.name, ['-t'], remote);
    viaSsh[viaSsh.indexOf('-p') + 1] = String(sshd.port);
    const ours = await inTerminal([process.execPath, ...NODE_FLAGS, FERRY, ...ferryArgs(creds, sshd.port, ['-t', '-o', 'LogLevel=ERROR'], `${dev.name}@127.0.0.1`, remote)], local);
    const theirs = await inTerminal([SSH, ...viaSsh], local);
    assert.equal(ours.code, 0, ours.output);
    for (const re of [/erase = \^H;/, /werase = <undef>;/, / -ixon /, / ixoff /, / -iutf8/, /rows 40; columns 132;/]) assert.match(ours.output, re);
    assert.equal(ours.output, theirs.output);
  });

  it('answers sshd\'s CLOSE of a forward it closed first with SSH_MSG_IGNORE, so no ACK waits', async () => {
    // sshd logs every IGNORE it reads at DEBUG3; its first LogLevel line wins.
    const loud = await startSshd(await cluster.auth.exportCA('user'), ['AllowTcpForwarding yes', 'LogLevel DEBUG3']);
    const answers = await halfCloseServer('answer-after-eof');
    const run = ferry(ferryArgs(creds, loud.port, ['-N', '-R', `0:127.0.0.1:${answers.port}`], `${dev.name}@127.0.0.1`));
    try {
      const port = Number((await run.waitFor(/Allocated port (\d+) for remote forward/))[1]);
      const ignores = () => (loud.process.output().match(/Received SSH2_MSG_IGNORE/g) ?? []).length;
      const before = ignores();
      // The origin ends first and the target answers after: sshd's EOF reaches the client
      // first, so the client's CLOSE goes first and sshd's CLOSE answers it.
      assert.equal(await halfCloseExchange(port, 'question', { afterEof: false }), 'got:question');
      await eventually('an IGNORE after the answered CLOSE', async () => ignores() > before, 3000);
    } finally {
      run.kill('SIGINT');
      await run.exited();
      await answers.close();
      await loud.stop();
    }
  });

  it('keeps a forwarded connection open after the target\'s EOF until sshd\'s, as ssh does', async () => {
    const speaks = await halfCloseServer('speak-first');
    const run = ferry(ferryArgs(creds, sshd.port, ['-N', '-R', `0:127.0.0.1:${speaks.port}`], `${dev.name}@127.0.0.1`));
    try {
      const port = Number((await run.waitFor(/Allocated port (\d+) for remote forward/))[1]);
      assert.equal(await halfCloseExchange(port, 'late', { afterEof: true }), 'ready');
      assert.equal(await speaks.received, 'late');
    } finally {
      run.kill('SIGINT');
      await run.exited();
      await speaks.close();
    }
  });

  it('with AllowTcpForwarding local, -R fails gracefully and -L still works', async () => {
    const echo = await echoServer();
    const lport = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    });
    const run = ferry(ferryArgs(creds, sshdLocalOnly.port, ['-N', '-R', `0:127.0.0.1:${web.port}`, '-L', `${lport}:127.0.0.1:${echo.port}`], `${dev.name}@127.0.0.1`));
    try {
      await run.waitFor(/Warning: remote port forwarding failed for listen port 0/);
      await eventually('-L listening', () => canConnect(lport));
      assert.equal((await roundTrip(lport, 'x', 6)).toString(), 'echo:x');
    } finally {
      run.kill('SIGKILL');
      await echo.close();
    }
    const strict = ferry(ferryArgs(creds, sshdLocalOnly.port, ['-o', 'ExitOnForwardFailure=yes', '-N', '-R', `0:127.0.0.1:${web.port}`], `${dev.name}@127.0.0.1`));
    assert.equal((await strict.exited()).code, 255, strict.output());
    assert.match(strict.output(), /Error: remote port forwarding failed for listen port 0/);
  });
});

describe('ferry ssh keys: ssh-agent and passphrases, as ssh finds them', () => {
  let cluster: TestCluster;
  let dev: TestOsUser;
  let creds: Credentials;
  let dir: string;
  let agent: ReturnType<typeof start>;
  let sock: string;
  let encrypted: string;
  let askpass: string;
  let asked: string;
  // No agent and no display unless a case gives them; HOME with no keys of its own.
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const base = { ...process.env };
    for (const name of ['SSH_AUTH_SOCK', 'DISPLAY', 'WAYLAND_DISPLAY', 'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE']) delete base[name];
    return { ...base, HOME: dir, ...extra };
  };
  const args = (extra: string[], command: string[], port = cluster.port) => ['ssh', '-F', '/dev/null', '-v', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-p', String(port), ...extra, `${dev.name}@127.0.0.1`, ...command];
  const ferryIn = (e: NodeJS.ProcessEnv, extra: string[], command: string[]) => start(process.execPath, [...NODE_FLAGS, FERRY, ...args(extra, command)], { env: e });
  const sshAdd = (addArgs: string[], extra: NodeJS.ProcessEnv = {}) => execFileSync('ssh-add', addArgs, { env: env({ SSH_AUTH_SOCK: sock, ...extra }), stdio: 'pipe' });

  before(async () => {
    ({ cluster, dev, creds } = await devCluster());
    dir = fs.mkdtempSync('/tmp/ferry-keys-');
    fs.chmodSync(dir, 0o755); // sshd reads authorized_keys here as the login
    sock = path.join(dir, 'agent.sock');
    agent = start('ssh-agent', ['-D', '-a', sock]);
    await eventually('ssh-agent listening', () => fs.existsSync(sock));
    // The cluster's key, encrypted, with its certificate beside it and no .pub: ferry reads
    // the public key inside the file, as ssh does, and asks only when the node would take it.
    encrypted = path.join(dir, 'encrypted');
    fs.copyFileSync(creds.key, encrypted);
    fs.chmodSync(encrypted, 0o600);
    fs.copyFileSync(creds.cert, `${encrypted}-cert.pub`);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'sesame', '-f', encrypted]);
    asked = path.join(dir, 'asked');
    askpass = path.join(dir, 'askpass');
    fs.writeFileSync(askpass, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${asked}'\necho sesame\n`, { mode: 0o755 });
  });

  after(async () => {
    agent?.kill();
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("logs in with the certificate that ssh-add put in the agent, the certificate first, signed by the agent", async () => {
    sshAdd([creds.key]); // the key and, beside it, its certificate
    try {
      const run = ferryIn(env({ SSH_AUTH_SOCK: sock }), [], ['echo', 'via-agent']);
      assert.equal((await run.exited()).code, 0, run.output());
      const attempts = [...run.output().matchAll(/Will attempt key: (alice .*)/g)].map((m) => m[1]);
      assert.equal(attempts.length, 2, run.output());
      assert.match(attempts[0] ?? '', /^alice ED25519-CERT SHA256:\S+ agent$/);
      assert.match(attempts[1] ?? '', /^alice ED25519 SHA256:\S+ agent$/);
      assert.match(run.output(), /Offering public key: alice ED25519-CERT [^]*via-agent/);
      assert.doesNotMatch(run.output(), /Offering public key: alice ED25519 /, 'the node took the first');

      // IdentityAgent none: the agent is not asked, and there is nothing else to offer.
      const none = ferryIn(env({ SSH_AUTH_SOCK: sock }), ['-o', 'IdentityAgent=none', '-i', path.join(dir, 'no-such-key')], ['true']);
      assert.equal((await none.exited()).code, 255, none.output());
      assert.match(none.output(), /no identity: pass -i KEYFILE/);
    } finally {
      sshAdd(['-D']);
    }
  });

  it('an RSA certificate in the agent signs with SHA-2, which the node requires', async () => {
    const rsa = path.join(dir, 'rsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'rsa', '-f', rsa]);
    const signed = await cluster.auth.signUserCert('alice', fs.readFileSync(`${rsa}.pub`, 'utf8'), 3600_000);
    fs.writeFileSync(`${rsa}-cert.pub`, `${signed.certificateLine}\n`);
    sshAdd([rsa]);
    try {
      const run = ferryIn(env({ SSH_AUTH_SOCK: sock }), [], ['echo', 'rsa-sha2']);
      assert.equal((await run.exited()).code, 0, run.output());
      assert.match(run.output(), /Offering public key: rsa RSA-CERT SHA256:\S+ agent[^]*rsa-sha2/);
    } finally {
      sshAdd(['-D']);
    }
  });

  it('IdentitiesOnly offers only the keys the files name; a .pub with its CertificateFile names one that lives in the agent', async () => {
    sshAdd([creds.key]);
    const other = path.join(dir, 'other');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'other', '-f', other]);
    try {
      const only = ferryIn(env({ SSH_AUTH_SOCK: sock }), ['-o', 'IdentitiesOnly=yes', '-i', other], ['true']);
      assert.equal((await only.exited()).code, 255, only.output());
      assert.match(only.output(), /Permission denied \(publickey\)/);
      assert.doesNotMatch(only.output(), /Will attempt key: alice/);

      // Keys that live in an agent (1Password, Secretive, a token) are named by their .pub; the
      // certificate on disk is signed for by the agent's key (the agent holds no certificate).
      sshAdd(['-D']);
      const bare = path.join(dir, 'bare');
      fs.copyFileSync(creds.key, bare);
      fs.chmodSync(bare, 0o600);
      sshAdd([bare]);
      const pub = ferryIn(env({ SSH_AUTH_SOCK: sock }), ['-o', 'IdentitiesOnly=yes', '-i', `${creds.key}.pub`, '-o', `CertificateFile=${creds.cert}`], ['echo', 'named-in-agent']);
      assert.equal((await pub.exited()).code, 0, pub.output());
      assert.match(pub.output(), /Offering public key: \S+\.pub ED25519-CERT SHA256:\S+ explicit agent[^]*named-in-agent/);
      assert.doesNotMatch(pub.output(), /Will attempt key: alice/, 'the agent only keys stay back');
      // An IdentityFile that is not there but whose .pub is names the agent's key too, as in ssh.
      const pubOnly = path.join(dir, 'pub-only');
      fs.copyFileSync(`${creds.key}.pub`, `${pubOnly}.pub`);
      const named = ferryIn(env({ SSH_AUTH_SOCK: sock }), ['-o', 'IdentitiesOnly=yes', '-o', `IdentityFile=${pubOnly}`, '-o', `CertificateFile=${creds.cert}`], ['echo', 'named-by-pub']);
      assert.equal((await named.exited()).code, 0, named.output());
      assert.match(named.output(), /named-by-pub/);
      // A CertificateFile is tried first, ahead of the agent's other keys, as ssh tries it.
      sshAdd([other]);
      const certFirst = ferryIn(env({ SSH_AUTH_SOCK: sock }), ['-o', `CertificateFile=${creds.cert}`], ['echo', 'cert-first']);
      assert.equal((await certFirst.exited()).code, 0, certFirst.output());
      assert.match(certFirst.output(), new RegExp(`Will attempt key: ${creds.cert} ED25519-CERT \\S+ explicit agent\n`), certFirst.output());
      assert.match(certFirst.output().split('Will attempt key:')[1] ?? '', new RegExp(`^ ${creds.cert} `), 'the first');
      // Without the agent, a .pub alone cannot sign: not offered.
      const alone = ferryIn(env(), ['-i', `${creds.key}.pub`], ['true']);
      assert.equal((await alone.exited()).code, 255, alone.output());
      assert.match(alone.output(), /no identity/);
      // -i CERT -i KEY, as Vault's docs have it: the certificate is signed for by the key.
      const vaultKey = path.join(dir, 'vault-key');
      fs.copyFileSync(creds.key, vaultKey);
      fs.chmodSync(vaultKey, 0o600);
      const vault = ferryIn(env(), ['-i', creds.cert, '-i', vaultKey], ['echo', 'vault-style']);
      assert.equal((await vault.exited()).code, 0, vault.output());
      assert.match(vault.output(), /Offering public key: \S+-cert\.pub ED25519-CERT \S+ explicit\n[^]*vault-style/);
    } finally {
      sshAdd(['-D']);
    }
  });

  it('logs in to a stock sshd with a plain key that exists only in the agent', async () => {
    const key = path.join(dir, 'agent-only');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'agent-only', '-f', key]);
    fs.writeFileSync(path.join(dir, 'authorized_keys'), fs.readFileSync(`${key}.pub`), { mode: 0o644 });
    sshAdd([key]);
    fs.rmSync(key);
    fs.rmSync(`${key}.pub`);
    const sshd = await startSshd(await cluster.auth.exportCA('user'), [`AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`]);
    try {
      const run = start(process.execPath, [...NODE_FLAGS, FERRY, ...args([], ['echo', 'sshd-via-agent'], sshd.port)], { env: env({ SSH_AUTH_SOCK: sock }) });
      assert.equal((await run.exited()).code, 0, run.output());
      assert.match(run.output(), /Offering public key: agent-only ED25519 SHA256:\S+ agent[^]*sshd-via-agent/);
    } finally {
      await sshd.stop();
      sshAdd(['-D']);
    }
  });

  /** ferry in a terminal of the test's, stdin from /dev/null as git gives it, then `stty -a` there. */
  const ferryThenStty = (extra: string[], command: string[], e: NodeJS.ProcessEnv) => {
    const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const line = [process.execPath, ...NODE_FLAGS, FERRY, ...args(extra, command)].map(q).join(' ');
    return new TypedTerminal(['/bin/sh', '-c', `${line} </dev/null; echo "exit=$?"; stty -a; echo stty-done`], undefined, e);
  };
  const prompt = () => new RegExp(`Enter passphrase for key '${encrypted}': `);
  /** Whether `stty -a` after ferry shows a line-editing, echoing terminal with signals on. */
  const restored = (output: string) => {
    const words = output.slice(output.lastIndexOf('exit=')).split(/\s+/);
    return ['icanon', 'isig', 'echo'].every((w) => words.includes(w));
  };

  it('asks for an encrypted key\'s passphrase on the terminal, without echo, taking its time, and restores the terminal', async () => {
    // A display and an askpass program do not take the terminal's place (stdin is not one here);
    // ConnectTimeout covers connecting, not the typing.
    const term = ferryThenStty(['-o', 'ConnectTimeout=1', '-i', encrypted], ['echo', 'in-with-passphrase'], env({ DISPLAY: ':9', SSH_ASKPASS: askpass }));
    try {
      await term.waitFor(prompt());
      await new Promise((r) => setTimeout(r, 1500));
      const mark = term.output.length;
      term.type('wrongly\r');
      await term.waitFor(prompt(), mark);
      term.type('sesame\r');
      await term.waitFor(/exit=0[^]*stty-done/, 0, 10_000);
      assert.match(term.output, /in-with-passphrase/);
      assert.doesNotMatch(term.output, /sesame|wrongly/, 'nothing typed is echoed');
      assert.ok(restored(term.output), term.output);
      assert.equal(fs.existsSync(asked), false, 'SSH_ASKPASS not run');
    } finally {
      term.kill();
    }
  });

  it('gives the terminal back as it was when ferry is ended at the passphrase prompt', async () => {
    for (const end of ['SIGTERM', 'SIGHUP', 'Ctrl-C', 'Ctrl-D'] as const) {
      const term = ferryThenStty(['-i', encrypted], ['true'], env());
      try {
        await term.waitFor(prompt());
        if (end === 'Ctrl-C') term.type('\x03');
        else if (end === 'Ctrl-D') term.type('\x04');
        else execFileSync('pkill', [`-${end.slice(3)}`, '-f', `${FERRY} ssh .*-i ${encrypted}`]);
        await term.waitFor(/exit=\d+[^]*stty-done/, 0, 10_000);
        assert.ok(restored(term.output), `${end}: ${term.output}`);
        assert.doesNotMatch(term.output, /exit=0\b/, end);
      } finally {
        term.kill();
      }
    }
  });

  it('says the server closed the connection, and exits 255, when it does so while a passphrase is asked for', async () => {
    const slow = path.join(dir, 'slow-askpass');
    fs.writeFileSync(slow, '#!/bin/sh\nsleep 3\necho sesame\n', { mode: 0o755 });
    const sshd = await startSshd(await cluster.auth.exportCA('user'), ['LoginGraceTime 1']);
    try {
      const run = start(process.execPath, [...NODE_FLAGS, FERRY, ...args(['-i', encrypted], ['echo', 'never'], sshd.port)], { env: env({ SSH_ASKPASS: slow, SSH_ASKPASS_REQUIRE: 'force' }) });
      assert.equal((await run.exited()).code, 255, run.output());
      assert.match(run.output(), /Connection closed by 127\.0\.0\.1 port \d+/);
      assert.doesNotMatch(run.output(), /never/);
    } finally {
      await sshd.stop();
    }
  });

  it('takes the passphrase from SSH_ASKPASS; BatchMode asks nobody; a key in the agent needs none', async () => {
    const viaAskpass = ferryIn(env({ SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' }), ['-i', encrypted], ['echo', 'askpass-ok']);
    assert.equal((await viaAskpass.exited()).code, 0, viaAskpass.output());
    assert.match(viaAskpass.output(), /askpass-ok/);
    assert.equal(fs.readFileSync(asked, 'utf8'), `Enter passphrase for key '${encrypted}': \n`, 'asked once, for the certificate the node took');

    // Asked only when the server would take the key: the node takes no plain key.
    fs.rmSync(asked);
    const plainOnly = ferryIn(env({ SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' }), ['-o', 'CertificateFile=/nonexistent', '-i', encrypted], ['true']);
    assert.equal((await plainOnly.exited()).code, 255, plainOnly.output());
    assert.equal(fs.existsSync(asked), false, 'not asked for a key the node refused');

    const batch = ferryIn(env({ SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' }), ['-o', 'BatchMode=yes', '-i', encrypted], ['true']);
    assert.equal((await batch.exited()).code, 255, batch.output());
    assert.match(batch.output(), /Permission denied \(publickey\)/);
    assert.equal(fs.existsSync(asked), false, 'BatchMode: no passphrase asked for');

    sshAdd([encrypted], { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' });
    fs.rmSync(asked);
    try {
      const held = ferryIn(env({ SSH_AUTH_SOCK: sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' }), ['-i', encrypted], ['echo', 'agent-signed']);
      assert.equal((await held.exited()).code, 0, held.output());
      assert.match(held.output(), /Offering public key: \S+encrypted ED25519-CERT SHA256:\S+ explicit agent[^]*agent-signed/);
      assert.equal(fs.existsSync(asked), false, 'the agent signed: no passphrase');

      // A certificate renewed on disk while the agent keeps the key (and no certificate, or
      // the old one): the agent signs for the new certificate, even in BatchMode.
      sshAdd(['-D']);
      const keyOnly = path.join(dir, 'key-only');
      fs.copyFileSync(creds.key, keyOnly);
      fs.chmodSync(keyOnly, 0o600);
      sshAdd([keyOnly]);
      const renewed = ferryIn(env({ SSH_AUTH_SOCK: sock }), ['-o', 'BatchMode=yes', '-i', encrypted], ['echo', 'renewed']);
      assert.equal((await renewed.exited()).code, 0, renewed.output());
      assert.match(renewed.output(), /Offering public key: \S+encrypted ED25519-CERT SHA256:\S+ explicit agent[^]*renewed/);
    } finally {
      sshAdd(['-D']);
    }
  });
});
