// Interop: the stock OpenSSH client against the ferry node, over real loopback sockets.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestCluster, roleYaml, type Credentials } from './helpers/cluster';
import { canConnect, echoServer, eventually, halfCloseExchange, halfCloseServer, roundTrip, start } from './helpers/process';
import { startSshd } from './helpers/sshd';
import { inTerminal } from './helpers/terminal';
import { SSH, ensureOpenSSH, ensureOsUser, type TestOsUser } from './helpers/system';

describe('OpenSSH ssh against the ferry node', () => {
  let cluster: TestCluster;
  let dev: TestOsUser;
  let creds: Credentials;
  let echo: Awaited<ReturnType<typeof echoServer>>;

  before(async () => {
    ensureOpenSSH();
    dev = ensureOsUser('ferry-dev');
    cluster = await TestCluster.start();
    await cluster.role(roleYaml('dev', { logins: [dev.name], permitListen: ['*:1024-65535', '*:0', '*:80'] }));
    await cluster.role(roleYaml('no-remote', { logins: [dev.name], remote: false }));
    creds = await cluster.user('alice', [dev.name], ['dev']);
    echo = await echoServer();
  });

  after(async () => {
    await echo?.close();
    await cluster?.stop();
  });

  it('presents a host certificate that OpenSSH trusts through an @cert-authority line', async () => {
    const known = path.join(cluster.dir, 'known_hosts_ca');
    const ca = (await cluster.auth.exportCA('host')).replace('@cert-authority *', `@cert-authority [127.0.0.1]:${cluster.port}`);
    fs.writeFileSync(known, ca);
    const args = cluster.sshArgs(creds, dev.name, ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${known}`, '-v'], ['echo trusted']);
    const ssh = start(SSH, args);
    try {
      assert.equal((await ssh.exited()).code, 0, ssh.output());
      assert.match(ssh.output(), /Server host certificate: ssh-ed25519-cert-v01@openssh\.com/);
      assert.match(ssh.output(), /Host '\[127\.0\.0\.1\]:\d+' is known and matches the ED25519-CERT host certificate/);
      assert.match(ssh.output(), /^trusted/m);
    } finally {
      ssh.kill();
    }
    // A CA that did not sign the node's certificate is not trusted.
    fs.writeFileSync(known, ca.replace(/AAAA\S+/, (b64) => `${b64.slice(0, -8)}AAAAAAAA`));
    const refused = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${known}`], ['true']));
    assert.equal((await refused.exited()).code, 255, refused.output());
  });

  it('runs a command as the login user and passes the exit status back', async () => {
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, [], ['id -un; exit 7']));
    try {
      const exit = await ssh.exited();
      assert.equal(exit.code, 7, ssh.output());
      assert.match(ssh.output(), new RegExp(`^${dev.name}$`, 'm'));
    } finally {
      ssh.kill();
    }
    const login = await cluster.expectAudit('auth.login', (e) => e.success && e.user === 'alice');
    assert.equal(login.login, dev.name);
  });

  it('allocates a PTY when asked (ssh -tt) and reports a signal death as ssh does (255)', async () => {
    const tty = start(SSH, cluster.sshArgs(creds, dev.name, ['-tt'], ['tty; echo TERM=$TERM']));
    try {
      assert.equal((await tty.exited()).code, 0, tty.output());
      assert.match(tty.output(), /\/dev\/pts\/\d+/);
    } finally {
      tty.kill();
    }
    const killed = start(SSH, cluster.sshArgs(creds, dev.name, [], ['kill -TERM $$']));
    try {
      assert.equal((await killed.exited()).code, 255, killed.output());
    } finally {
      killed.kill();
    }
    await cluster.expectAudit('session.end', (e) => e.fields?.signal === 'SIGTERM');
  });

  /** Runs ssh with the given stdin; resolves with its stdout bytes once it exits. */
  function sshBytes(args: string[], input = Buffer.alloc(0)): Promise<{ code: number | null; stdout: Buffer }> {
    return new Promise((resolve, reject) => {
      const child = spawn(SSH, args, { stdio: ['pipe', 'pipe', 'ignore'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks) }));
      child.stdin.end(input);
    });
  }

  it('passes a terminal\'s bytes through unchanged both ways (ssh -tt), as sshd does', async () => {
    // They went through UTF-8: any other byte became U+FFFD (ef bf bd), both ways.
    const out = await sshBytes(cluster.sshArgs(creds, dev.name, ['-tt'], ["printf '\\377\\376\\303'"]));
    assert.equal(out.code, 0);
    assert.deepEqual([...out.stdout], [0xff, 0xfe, 0xc3]);
    const typed = await sshBytes(cluster.sshArgs(creds, dev.name, ['-tt'], ['stty -echo; head -c 4 | od -An -tx1']), Buffer.from([0xc3, 0xa9, 0xff, 0x0a]));
    assert.match(typed.stdout.toString('latin1'), /c3 a9 ff 0a/);
  });

  it('delivers all of a terminal\'s output when the command exits right after writing it', async () => {
    // The pty's last kilobytes were lost in 4 of 20 runs (node-pty issue #72); sshd loses none.
    for (let run = 1; run <= 20; run++) {
      const out = await sshBytes(cluster.sshArgs(creds, dev.name, ['-tt'], ['head -c 100000 /dev/zero']));
      assert.equal(out.stdout.length, 100_000, `run ${run}`);
    }
  });

  it('starts the terminal with the client\'s modes and size, as sshd does (ssh -t from a terminal)', async () => {
    // ssh sends its own terminal's modes only when it runs in one: here a pty of the test's,
    // set up the way a user might have theirs (Ctrl-S free for the shell, ^H to erase, ...).
    const sshd = await startSshd(await cluster.auth.exportCA('user'));
    try {
      const local = 'stty -ixon erase ^H werase undef -iutf8 ixoff';
      const remote = async (port: number) => {
        const args = cluster.sshArgs(creds, dev.name, ['-t'], ['stty -a; echo TERM=$TERM']);
        args[args.indexOf('-p') + 1] = String(port);
        const { code, output } = await inTerminal([SSH, ...args], local);
        assert.equal(code, 0, output);
        // A pty's own defaults, not modes the client sends: node-pty sets hupcl and brkint.
        return output.replace(/ -?(hupcl|brkint)\b/g, '');
      };
      const ours = await remote(cluster.port);
      for (const re of [/rows 40; columns 132;/, /erase = \^H;/, /werase = <undef>;/, / -ixon /, / ixoff /, / -iutf8/, /TERM=xterm-256color/]) assert.match(ours, re);
      assert.equal(ours, await remote(sshd.port));
    } finally {
      await sshd.stop();
    }
  });

  it('-R 0 prints the allocated port and traffic flows both ways', async () => {
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-N', '-R', `0:127.0.0.1:${echo.port}`]));
    try {
      const m = await ssh.waitFor(/Allocated port (\d+) for remote forward to 127\.0\.0\.1:(\d+)/);
      const port = Number(m[1]);
      assert.ok(port > 0 && port <= 65535);
      const reply = await roundTrip(port, 'hello', 'echo:hello'.length);
      assert.equal(reply.toString(), 'echo:hello');
      const end = await cluster.expectAudit('tunnel.conn.end', (e) => e.fields?.port === port);
      assert.deepEqual([end.fields?.bytes_in, end.fields?.bytes_out], [5, 10]);
      const listen = await cluster.expectAudit('tunnel.listen', (e) => e.success && e.fields?.port === port);
      assert.equal(listen.fields?.bind_address, 'localhost', 'ssh sends "localhost" when -R has no bind address');
      // `ferryctl tunnels ls` reads this: counters are flushed within a second.
      await eventually('tunnel row with counters', async () =>
        (await cluster.auth.storage.listTunnels()).some(
          (t) => t.port === port && t.user === 'alice' && t.login === dev.name && t.connections === 1 && t.bytesIn === 5 && t.bytesOut === 10,
        ), 3000);
    } finally {
      ssh.kill('SIGKILL');
    }
  });

  it('carries 8 MiB each way intact through a -R tunnel', async () => {
    const raw = await echoServer({ raw: true });
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-N', '-R', `0:127.0.0.1:${raw.port}`]));
    try {
      const port = Number((await ssh.waitFor(/Allocated port (\d+)/))[1]);
      const payload = crypto.randomBytes(8 * 1024 * 1024);
      const reply = await roundTrip(port, payload, payload.length);
      assert.equal(crypto.createHash('sha256').update(reply).digest('hex'), crypto.createHash('sha256').update(payload).digest('hex'));
    } finally {
      ssh.kill('SIGKILL');
      await raw.close();
    }
  });

  it('half-closes like sshd: the origin\'s EOF reaches the target, and the answer still comes back', async () => {
    const target = await halfCloseServer('answer-after-eof');
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-N', '-R', `0:127.0.0.1:${target.port}`]));
    try {
      const port = Number((await ssh.waitFor(/Allocated port (\d+)/))[1]);
      assert.equal(await halfCloseExchange(port, 'question', { afterEof: false }), 'got:question');
    } finally {
      ssh.kill('SIGKILL');
      await target.close();
    }
  });

  it('an origin that sends after the target closed its side gets all of it through, read slowly', async () => {
    // The upload is still in the node's channel, waiting for window, when the origin's socket
    // closes: the node must send it all before closing the channel.
    const big = 'y'.repeat(24 * 1024 * 1024);
    const target = await halfCloseServer('speak-first', { readDelayMs: 500 });
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-N', '-R', `0:127.0.0.1:${target.port}`]));
    try {
      const port = Number((await ssh.waitFor(/Allocated port (\d+)/))[1]);
      assert.equal(await halfCloseExchange(port, big, { afterEof: true }), 'ready');
      assert.equal((await target.received).length, big.length);
    } finally {
      ssh.kill('SIGKILL');
      await target.close();
    }
  });

  it('keeps the exact bind string in forwarded-tcpip, so OpenSSH finds its forward (localhost, "")', async () => {
    for (const bind of ['localhost', '']) {
      const spec = bind === '' ? `:0:127.0.0.1:${echo.port}` : `${bind}:0:127.0.0.1:${echo.port}`;
      const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-N', '-R', spec]));
      try {
        const port = Number((await ssh.waitFor(/Allocated port (\d+)/))[1]);
        // Without gateway_ports every bind address listens on loopback.
        assert.equal((await roundTrip(port, 'x', 6)).toString(), 'echo:x');
        assert.doesNotMatch(ssh.output(), /unknown listen_port/);
      } finally {
        ssh.kill('SIGKILL');
      }
    }
  });

  it('killing the client frees the port within a second', async () => {
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-N', '-R', `0:127.0.0.1:${echo.port}`]));
    let port = 0;
    try {
      port = Number((await ssh.waitFor(/Allocated port (\d+)/))[1]);
      assert.equal(await canConnect(port), true);
    } finally {
      ssh.kill('SIGKILL');
    }
    await eventually(`port ${port} closed after the client died`, async () => !(await canConnect(port)), 1000);
    await cluster.expectAudit('tunnel.close', (e) => e.fields?.port === port);
    await eventually('tunnel row removed', async () => !(await cluster.auth.storage.listTunnels()).some((t) => t.port === port));
  });

  it('ssh -O cancel through a ControlMaster frees the port; the master stays up', async () => {
    const control = path.join(cluster.dir, 'ctl');
    const master = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=INFO', '-M', '-S', control, '-N', '-R', `0:127.0.0.1:${echo.port}`]));
    try {
      const port = Number((await master.waitFor(/Allocated port (\d+)/))[1]);
      // A connection forwarded before the cancel survives it.
      const survivor = net.connect({ port, host: '127.0.0.1' });
      await new Promise<void>((r) => survivor.once('connect', () => r()));
      survivor.write('a');
      await new Promise<void>((r) => survivor.once('data', () => r()));
      const cancel = start(SSH, cluster.sshArgs(creds, dev.name, ['-S', control, '-O', 'cancel', '-R', `0:127.0.0.1:${echo.port}`]));
      // OpenSSH's client cancels a port-0 forward by its allocated port.
      const cancelByPort = await cancel.exited();
      if (cancelByPort.code !== 0) {
        const again = start(SSH, cluster.sshArgs(creds, dev.name, ['-S', control, '-O', 'cancel', '-R', `${port}:127.0.0.1:${echo.port}`]));
        assert.equal((await again.exited()).code, 0, again.output());
      }
      await eventually(`port ${port} closed after cancel`, async () => !(await canConnect(port)), 2000);
      const echoed = new Promise<string>((r) => survivor.once('data', (d) => r(d.toString())));
      survivor.write('b');
      assert.equal(await echoed, 'echo:b');
      survivor.destroy();
      assert.equal(master.child.exitCode, null, 'master still running');
      await cluster.expectAudit('tunnel.close', (e) => e.fields?.port === port);
    } finally {
      master.kill('SIGKILL');
    }
  });

  it('a role with remote forwarding off makes ExitOnForwardFailure exit 255, with the reason audited', async () => {
    const denied = await cluster.user('bob', [dev.name], ['no-remote']);
    const ssh = start(SSH, cluster.sshArgs(denied, dev.name, ['-o', 'LogLevel=DEBUG', '-o', 'ExitOnForwardFailure=yes', '-N', '-R', `0:127.0.0.1:${echo.port}`]));
    const exit = await ssh.exited();
    assert.equal(exit.code, 255, ssh.output());
    assert.match(ssh.output(), /remote port forwarding failed for listen port 0/);
    assert.match(ssh.output(), /Remote: remote port forwarding is not allowed for you/);
    const refusal = await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.user === 'bob');
    assert.equal(refusal.code, 'denied_by_role');
    assert.match(refusal.message ?? '', /role "no-remote" disables remote port forwarding/);
  });

  it('a non-root login cannot take port 80', async () => {
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=DEBUG', '-o', 'ExitOnForwardFailure=yes', '-N', '-R', `80:127.0.0.1:${echo.port}`]));
    const exit = await ssh.exited();
    assert.equal(exit.code, 255, ssh.output());
    assert.match(ssh.output(), /Remote: port 80 is privileged/);
    const refusal = await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.fields?.requested_port === 80);
    assert.equal(refusal.code, 'privileged_port');
  });

  it('a port already taken fails cleanly and leaks nothing', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=DEBUG', '-o', 'ExitOnForwardFailure=yes', '-N', '-R', `127.0.0.1:${taken}:127.0.0.1:${echo.port}`]));
      assert.equal((await ssh.exited()).code, 255, ssh.output());
      assert.match(ssh.output(), /Remote: port \d+ is already in use/);
      const refusal = await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.fields?.requested_port === taken);
      assert.equal(refusal.code, 'port_in_use');
    } finally {
      blocker.close();
    }
  });

  it('answers keepalive@openssh.com (unknown global requests) so ServerAlive does not drop the session', async () => {
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=1'], ['sleep 3; echo still-here']));
    try {
      const exit = await ssh.exited(15_000);
      assert.equal(exit.code, 0, ssh.output());
      assert.match(ssh.output(), /still-here/);
    } finally {
      ssh.kill();
    }
  });

  it('a unix-socket forward works, is 0600 and owned by the login, and is gone after disconnect', async () => {
    const socketPath = path.join(dev.home, `fwd-${process.pid}.sock`);
    const halfPath = path.join(dev.home, `half-${process.pid}.sock`);
    const answers = await halfCloseServer('answer-after-eof');
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'ExitOnForwardFailure=yes', '-N', '-R', `${socketPath}:127.0.0.1:${echo.port}`, '-R', `${halfPath}:127.0.0.1:${answers.port}`]));
    try {
      await eventually('socket file exists', () => fs.existsSync(socketPath));
      const st = fs.statSync(socketPath);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, dev.uid);
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(socketPath, () => s.write('u'));
        s.once('data', (d) => { resolve(d.toString()); s.destroy(); });
        s.once('error', reject);
      });
      assert.equal(reply, 'echo:u');
      await eventually('second socket file exists', () => fs.existsSync(halfPath));
      assert.equal(await halfCloseExchange(halfPath, 'question', { afterEof: false }), 'got:question', 'half-close over a unix socket');
    } finally {
      ssh.kill('SIGKILL');
      await answers.close();
    }
    await eventually('socket file removed after disconnect', () => !fs.existsSync(socketPath), 2000);
    await cluster.expectAudit('tunnel.close', (e) => e.fields?.socket_path === socketPath);
  });

  it('a unix socket where the login may not write is refused with the reason', async () => {
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'LogLevel=DEBUG', '-o', 'ExitOnForwardFailure=yes', '-N', '-R', `/root/not-yours.sock:127.0.0.1:${echo.port}`]));
    assert.equal((await ssh.exited()).code, 255, ssh.output());
    assert.equal(fs.existsSync('/root/not-yours.sock'), false);
    const refusal = await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.fields?.socket_path === '/root/not-yours.sock');
    assert.equal(refusal.code, 'path_not_allowed');
  });

  it('-L local forwarding works under the role switch', async () => {
    const local = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    });
    const ssh = start(SSH, cluster.sshArgs(creds, dev.name, ['-o', 'ExitOnForwardFailure=yes', '-N', '-L', `${local}:127.0.0.1:${echo.port}`]));
    try {
      await eventually('local listener up', () => canConnect(local));
      assert.equal((await roundTrip(local, 'L', 6)).toString(), 'echo:L');
      await cluster.expectAudit('forward.local', (e) => e.success && e.fields?.port === echo.port);
    } finally {
      ssh.kill('SIGKILL');
    }
  });
});
