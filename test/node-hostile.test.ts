// Clients that send what a well-behaved one would not, against ferryd as its own process (so
// that a crash or a hung event loop shows as such): each test attacks, then checks that the
// daemon is alive and that another user's tunnel still carries traffic. Found by fuzzing the
// node; each case here once crashed, hung or bloated the whole node, or left a request unanswered.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Client, type ClientChannel, type ParsedKey } from 'ssh2';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { roleYaml } from './helpers/cluster';
import { canConnect, echoServer, eventually, roundTrip, start, type Running } from './helpers/process';
import { RawChannels, exitStatus, ptyRequest, sshString, sshUint32, ttyMode } from './helpers/raw';
import { certifiedKeyFile, connect as connectWith, forwardIn } from './helpers/ssh2-client';
import { SSH, ensureOpenSSH, ensureOsUser, type TestOsUser } from './helpers/system';

const ROOT = path.resolve(__dirname, '..', '..');
const bin = (name: string) => path.join(ROOT, 'bin', name);

/** Logs in, giving up after 5 s: a node that froze must fail the test, not hang it. */
const connect = (port: number, login: string, key: ParsedKey) => connectWith(port, login, key, 5000);
const closed = (c: Client) => new Promise<void>((resolve) => c.once('close', () => resolve()));
const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString();
const rssMiB = (pid: number | undefined) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

describe('the node against hostile clients', () => {
  let dir: string;
  let daemon: Running;
  let port: number;
  let dev: TestOsUser;
  let key: ParsedKey;
  let keyFile: string;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let bystander: Client;
  let bystanderPort: number;
  /** Where the login may create unix sockets. */
  let sockDir: string;

  before(async () => {
    ensureOpenSSH();
    dev = ensureOsUser('ferry-dev');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-hostile-'));
    fs.chmodSync(dir, 0o755);
    const config = path.join(dir, 'ferry.yaml');
    fs.writeFileSync(config, `version: v1\nferry:\n  data_dir: ${path.join(dir, 'data')}\n  node_name: hostile\nauth_service:\n  listen_addr: 127.0.0.1:0\nssh_service:\n  listen_addr: 127.0.0.1:0\n`);
    daemon = start(process.execPath, [...NODE_FLAGS, bin('ferryd'), 'start', '--config', config], { cwd: dir });
    port = Number((await daemon.waitFor(/ssh node\s+127\.0\.0\.1:(\d+)/))[1]);
    const ctl = (...args: string[]) => execFileSync(process.execPath, [...NODE_FLAGS, bin('ferryctl'), '--config', config, ...args], { encoding: 'utf8' });
    const role = path.join(dir, 'role.yaml');
    fs.writeFileSync(role, roleYaml('dev', { logins: [dev.name], permitListen: ['*:1024-65535', '*:0'], unixSockets: true, maxForwards: 64 }));
    ctl('roles', 'create', '-f', role);
    ctl('users', 'add', 'mallory', '--logins', dev.name, '--roles', 'dev');
    keyFile = path.join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    ctl('auth', 'sign', '--user', 'mallory', '--pubkey', `${keyFile}.pub`, '--out', `${keyFile}-cert.pub`);
    key = certifiedKeyFile(keyFile);
    sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-socks-'));
    fs.chmodSync(sockDir, 0o777);
    // Another user's tunnel to an echo server, which every test checks afterwards.
    echo = await echoServer();
    bystander = await connect(port, dev.name, key);
    bystander.on('tcp connection', (_info, accept) => {
      const channel = accept();
      const socket = net.connect(echo.port, '127.0.0.1', () => { channel.pipe(socket).pipe(channel); });
    });
    bystanderPort = await forwardIn(bystander, '127.0.0.1', 0);
  });

  after(async () => {
    bystander?.end();
    await echo?.close();
    daemon?.kill('SIGTERM');
    await daemon?.exited().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(sockDir, { recursive: true, force: true });
  });

  /** The daemon is up, answers a new login, and the bystander's tunnel carries bytes both ways. */
  async function assertNodeHealthy(): Promise<void> {
    assert.equal(daemon.child.exitCode, null, `ferryd exited:\n${daemon.output()}`);
    const payload = Buffer.from('still serving everyone else');
    assert.equal((await roundTrip(bystanderPort, payload, payload.length + 5)).toString(), `echo:${payload.toString()}`);
    const fresh = await connect(port, dev.name, key);
    fresh.end();
  }

  /** An authenticated client with raw channels; its errors (the node ending it) are expected. */
  async function attacker(): Promise<{ c: Client; raw: RawChannels }> {
    const c = await connect(port, dev.name, key);
    c.on('error', () => {});
    return { c, raw: new RawChannels(c) };
  }

  /** Runs `body` with an attacker's raw channels, and ends that client however it went. */
  async function withAttacker(body: (raw: RawChannels) => Promise<void>): Promise<void> {
    const { c, raw } = await attacker();
    try {
      await body(raw);
    } finally {
      c.end();
    }
  }

  /** A session whose command's output has filled a 64 KiB window, 300 ms after it did. */
  async function execStalledOnWindow(raw: RawChannels, command: string): Promise<{ id: number; ch: ReturnType<RawChannels['get']> }> {
    const id = await openSession(raw, { window: 65536 });
    raw.request(id, 'exec', true, sshString(command));
    const ch = raw.get(id);
    await eventually('stdout waits for the window', () => ch.bytes === 65536);
    await new Promise((r) => setTimeout(r, 300));
    return { id, ch };
  }

  async function openSession(raw: RawChannels, opts: { maxPacket?: number; window?: number; keepData?: boolean } = {}): Promise<number> {
    const id = raw.open('session', opts);
    await eventually('session channel confirmed', () => raw.get(id).server !== undefined);
    return id;
  }

  it('runs a command whose EOF came in the same read as its exec, with no input, as sshd does', async () => {
    await withAttacker(async (raw) => {
      const id = await openSession(raw);
      // Both leave in one write: the node parses the EOF before it handles the exec.
      raw.request(id, 'exec', true, sshString('cat; echo done'));
      raw.eof(id);
      const ch = raw.get(id);
      await eventually('the channel closes', () => ch.closed, 10_000);
      assert.deepEqual(ch.replies, ['S']);
      assert.equal(text(ch.data), 'done\n');
      assert.deepEqual(exitStatus(ch), 0);
    });
    await assertNodeHealthy();
  });

  it('keeps input sent before the command started (ssh -tt with piped input)', async () => {
    const { c, raw } = await attacker();
    try {
      const id = await openSession(raw);
      // The PTY is decided asynchronously, so the exec's channel does not exist yet when the
      // input arrives: it used to be dropped, and the command waited for it forever.
      raw.request(id, 'pty-req', true, ptyRequest());
      raw.request(id, 'exec', true, sshString('head -c 6 >/dev/null; echo got-it'));
      raw.data(id, Buffer.from('hello\n'));
      const ch = raw.get(id);
      await eventually('the command ends', () => ch.closed, 5000);
      assert.match(text(ch.data), /got-it/);
      assert.deepEqual(exitStatus(ch), 0);
    } finally {
      c.end();
    }
  });

  it('applies the terminal modes it can read: unknown opcodes skipped as by sshd, a list stopped early kept up to the stop', async () => {
    // ssh2 parsed from the second byte and knew no opcode by its number: every client's modes
    // came out empty, and a list whose second byte was not 0 lost the size and TERM as well
    // (and so the terminal: the node refused it). Where parsing stops early (opcode 160 or
    // more, or a value cut short) sshd applies none or ends the connection; RFC 4254 only says
    // parsing stops, and the node keeps what it read.
    const VERASE = 3, IXON = 38, IUTF8 = 42, ECHO = 53;
    const cases: [string, Buffer, RegExp[]][] = [
      ['an unknown opcode between known ones', Buffer.concat([ttyMode(VERASE, 8), ttyMode(100, 5), ttyMode(IXON, 0), ttyMode(IUTF8, 0), Buffer.from([0])]),
        [/erase = \^H;/, / -ixon /, / -iutf8/]],
      ['opcode 200, which ends the list', Buffer.concat([ttyMode(ECHO, 0), Buffer.from([200]), ttyMode(IXON, 0)]), [/ -echo /, / ixon /]],
      ['a list cut inside a value', Buffer.concat([ttyMode(IXON, 0), Buffer.from([ECHO, 0, 0])]), [/ -ixon /, / echo /]],
    ];
    await withAttacker(async (raw) => {
      for (const [what, modes, expected] of cases) {
        const id = await openSession(raw);
        raw.request(id, 'pty-req', true, ptyRequest(modes));
        raw.request(id, 'exec', true, sshString('stty -a'));
        const ch = raw.get(id);
        await eventually(`the command ends (${what})`, () => ch.closed, 5000);
        assert.deepEqual(ch.replies, ['S', 'S'], what);
        for (const re of expected) assert.match(text(ch.data), re, what);
      }
    });
    await assertNodeHealthy();
  });

  it('sends each byte of output once when stdout and stderr wait for the window in turn', async () => {
    await withAttacker(async (raw) => {
      const { id, ch } = await execStalledOnWindow(raw, 'head -c 100000 /dev/zero; sleep 1; head -c 1500000 /dev/zero >&2; sleep 1; echo done');
      raw.adjust(id, 1_000_000); // stdout resumes and finishes; a second later stderr stalls
      await new Promise((r) => setTimeout(r, 1500));
      raw.adjust(id, 4_000_000); // used to send the stdout chunk again
      await eventually('the command ends', () => ch.closed, 5000);
      assert.equal(ch.bytes, 100_005);
      assert.equal(Buffer.concat(ch.data).subarray(100_000).toString(), 'done\n');
    });
  });

  it('sends both stdout and stderr on when both waited for the window, before the close', async () => {
    await withAttacker(async (raw) => {
      const { id, ch } = await execStalledOnWindow(raw, 'head -c 100000 /dev/zero; head -c 1000 /dev/zero >&2'); // stderr's 1000 bytes wait behind it; the command has ended
      // ssh2 resumed stdout only, so stderr waited for good; and the channel closed once stdout
      // was out, with stderr still waiting.
      raw.adjust(id, 1_000_000);
      await eventually('the command ends', () => ch.closed, 5000);
      assert.equal(ch.bytes, 100_000);
      assert.equal(ch.stderrBytes, 1000);
    });
  });

  it('survives a session closed right behind its exec', async () => {
    await withAttacker(async (raw) => {
      const id = await openSession(raw);
      raw.request(id, 'exec', true, sshString('sleep 0.3; echo late'));
      raw.close(id);
      await eventually('the node closes its side', () => raw.get(id).closed);
      await new Promise((r) => setTimeout(r, 800)); // past the command's end, where the crash was
    });
    await assertNodeHealthy();
  });

  it('runs `ssh host cmd </dev/null` from stock OpenSSH every time', async () => {
    const args = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR', '-i', keyFile, '-o', `CertificateFile=${keyFile}-cert.pub`, '-p', String(port), `${dev.name}@127.0.0.1`, 'echo hi'];
    for (let i = 0; i < 8; i++) {
      // execFile gives the child no stdin (/dev/null): ssh sends its EOF at once.
      const { stdout } = await promisify(execFile)(SSH, args, { encoding: 'utf8', timeout: 10_000 });
      assert.equal(stdout, 'hi\n', `attempt ${i + 1}`);
    }
    await assertNodeHealthy();
  });

  it('sends nothing on a channel whose maximum packet size is 0, and keeps serving', async () => {
    await withAttacker(async (raw) => {
      const id = await openSession(raw, { maxPacket: 0 });
      raw.request(id, 'exec', true, sshString('echo hi'));
      await eventually('exec answered', () => raw.get(id).replies.length === 1);
      await assertNodeHealthy();
      assert.equal(raw.get(id).data.length, 0);
    });
  });

  /**
   * A client that gave a 4 GiB window and reads nothing (or started a key re-exchange and never
   * finished it): ferryd must leave the output with the command.
   */
  async function outputWaitsForClient(how: 'pipe' | 'pty' | 'rekey'): Promise<void> {
    const { c, raw } = await attacker();
    const socket = (c as unknown as { _sock: net.Socket })._sock;
    const total = 128 * 1024 * 1024;
    try {
      const id = await openSession(raw, { window: 0xffff_ffff, keepData: false });
      if (how === 'pty') raw.request(id, 'pty-req', false, ptyRequest());
      const before = rssMiB(daemon.child.pid);
      if (how === 'rekey') {
        // Once the output flows, the client starts a key exchange and reads no more; the node
        // then queues its packets until the exchange is done, outside the socket.
        raw.request(id, 'exec', true, sshString(`head -c ${total} /dev/zero`));
        await eventually('output flows', () => raw.get(id).bytes > 0);
        (c as unknown as { _protocol: { rekey(): void } })._protocol.rekey();
        socket.pause();
      } else {
        socket.pause();
        raw.request(id, 'exec', true, sshString(`head -c ${total} /dev/zero`));
      }
      // The node used to take the output as fast as the command wrote it (250 MB/s), as far as
      // the window allowed (with a terminal, without limit), and keep it all.
      let grew = 0;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        grew = Math.max(grew, rssMiB(daemon.child.pid) - before);
      }
      assert.ok(grew < 48, `ferryd grew by ${grew.toFixed(0)} MiB while the client read nothing`);
      socket.resume();
      await eventually('all the output arrives', () => raw.get(id).closed, 60_000);
      assert.equal(raw.get(id).bytes, total);
      assert.deepEqual(exitStatus(raw.get(id)), 0);
    } finally {
      c.end();
    }
    await assertNodeHealthy();
  }

  it('leaves output with the command while the client reads nothing, whatever window it gave', () => outputWaitsForClient('pipe'));

  it('leaves a terminal\'s output with the command while the client reads nothing', () => outputWaitsForClient('pty'));

  it('leaves output with the command while a key re-exchange the client began stays unfinished', () => outputWaitsForClient('rekey'));

  /** A command that ignores SIGHUP and writes on after the client left must not block for good. */
  async function outlivesHangup(pty: boolean): Promise<void> {
    const marker = `ferry-nohup-${pty ? 'pty' : 'pipe'}-${process.pid}`;
    const running = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(`yes ${marker}`);
    const { c, raw } = await attacker();
    const id = await openSession(raw);
    if (pty) raw.request(id, 'pty-req', false, ptyRequest());
    raw.request(id, 'exec', true, sshString(`trap '' HUP; exec yes ${marker}`));
    await eventually('the command runs', running);
    c.end(); // the node hangs up; yes ignores it and writes on, to a client that is gone
    // It used to stay blocked on its full terminal or pipe for good, and the node kept them open.
    await eventually(`the command gets ${pty ? 'EIO' : 'EPIPE'} and ends`, () => !running(), 10_000);
    await assertNodeHealthy();
  }

  it('takes the terminal away from a command that ignores the hangup, as sshd does', () => outlivesHangup(true));

  it('closes the pipes of a command that ignores the hangup, as sshd does', () => outlivesHangup(false));

  it('holds a client back that types into a terminal whose program reads nothing', async () => {
    const c = await connect(port, dev.name, key);
    try {
      const stream = await new Promise<ClientChannel>((resolve, reject) => {
        c.exec('stty raw -echo; sleep 60', { pty: true }, (err, ch) => (err ? reject(err) : resolve(ch)));
      });
      stream.resume();
      await new Promise((r) => setTimeout(r, 300)); // stty has run
      const before = rssMiB(daemon.child.pid);
      const chunk = Buffer.alloc(32 * 1024, 0x61);
      let sent = 0;
      // The node used to queue all of it for the terminal (and retry the full pty at once,
      // without pause): 1.5 GB in 5 s. Now its window closes after a few MiB.
      while (sent < 64 * 1024 * 1024) {
        if (!stream.write(chunk)) {
          const drained = await Promise.race([
            new Promise<boolean>((r) => stream.once('drain', () => r(true))),
            new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
          ]);
          if (!drained) break;
        }
        sent += chunk.length;
      }
      assert.ok(sent < 16 * 1024 * 1024, `the node took ${(sent / 1048576).toFixed(0)} MiB for a terminal nobody reads`);
      assert.ok(rssMiB(daemon.child.pid) - before < 48, 'ferryd kept what the client typed');
    } finally {
      c.end();
    }
    await assertNodeHealthy();
  });

  it('sends every byte once and in order in packets of one byte', async () => {
    await withAttacker(async (raw) => {
      const id = await openSession(raw, { maxPacket: 1 });
      raw.request(id, 'exec', true, sshString('seq 1 20000'));
      await eventually('the command ends', () => raw.get(id).closed, 60_000);
      const expected = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
      assert.equal(raw.get(id).data.length, expected.length, 'one packet per byte');
      assert.equal(text(raw.get(id).data), expected);
    });
    await assertNodeHealthy();
  });

  it('ends a connection that sends past its channel window instead of buffering it', async () => {
    const { c, raw } = await attacker();
    const gone = closed(c);
    const id = await openSession(raw);
    raw.request(id, 'exec', true, sshString('sleep 30')); // never reads its input
    await eventually('exec answered', () => raw.get(id).replies.length === 1);
    const chunk = Buffer.alloc(32_000, 0x61);
    let hungUp = false;
    void gone.then(() => { hungUp = true; });
    // The window (2 MiB, and what the node added while the command's pipe took some), then 10 %
    // of grace as OpenSSH allows, then the node hangs up. It used to buffer all 64 MiB.
    for (let sent = 0; sent < 64 * 1024 * 1024 && !hungUp; sent += chunk.length) {
      raw.data(id, chunk);
      if (sent % (1024 * 1024) < chunk.length) await new Promise((r) => setTimeout(r, 10));
    }
    await eventually('the node hangs up', () => hungUp);
    await assertNodeHealthy();
  });

  it('answers channel requests after the command started and after the client EOF', async () => {
    await withAttacker(async (raw) => {
      const id = await openSession(raw);
      raw.request(id, 'exec', true, sshString('sleep 5'));
      raw.request(id, 'keepalive@openssh.com', true);
      raw.request(id, 'exec', true, sshString('echo second'));
      raw.request(id, 'env', true, Buffer.concat([sshString('LANG'), sshString('C')]));
      raw.request(id, 'pty-req', true, ptyRequest());
      raw.eof(id);
      raw.request(id, 'signal', true, sshString('TERM'));
      const ch = raw.get(id);
      await eventually('all six answered', () => ch.replies.length === 6);
      assert.deepEqual(ch.replies, ['S', 'F', 'F', 'F', 'F', 'S']);
      await eventually('the command ends by the signal', () => ch.closed, 5000);
      assert.deepEqual(ch.requests.find((r) => r.type === 'exit-signal')?.data, { signal: 'TERM', coreDumped: false, errorMessage: '' });
      // Behind a PTY request, which the node decides asynchronously, the order holds too.
      const second = await openSession(raw);
      raw.request(second, 'pty-req', true, ptyRequest());
      raw.request(second, 'exec', true, sshString('true'));
      raw.request(second, 'keepalive@openssh.com', true);
      await eventually('all three answered', () => raw.get(second).replies.length === 3);
      assert.deepEqual(raw.get(second).replies, ['S', 'S', 'F']);
    });
  });

  it('refuses an exec or env value holding a NUL byte instead of accepting it and never running it', async () => {
    await withAttacker(async (raw) => {
      const id = await openSession(raw);
      raw.request(id, 'env', true, Buffer.concat([sshString('LANG'), sshString('C\0x')]));
      raw.request(id, 'exec', true, sshString('echo a\0b'));
      raw.request(id, 'exec', true, sshString('echo ok'));
      const ch = raw.get(id);
      await eventually('the channel closes', () => ch.closed, 5000);
      assert.deepEqual(ch.replies, ['F', 'F', 'S']);
      assert.equal(text(ch.data), 'ok\n');
    });
  });

  it('answers a direct-tcpip open to a port above 65535 with a refusal', async () => {
    await withAttacker(async (raw) => {
      const id = raw.open('direct-tcpip', { extra: Buffer.concat([sshString('127.0.0.1'), sshUint32(65536), sshString('127.0.0.1'), sshUint32(5555)]) });
      await eventually('open answered', () => raw.get(id).openFailure !== undefined || raw.get(id).server !== undefined);
      assert.match(raw.get(id).openFailure?.description ?? '', /port 65536 is out of range/);
    });
    await assertNodeHealthy();
  });

  it('finds a forward that a pipelined cancel names, as sshd handles requests in order', async () => {
    const c = await connect(port, dev.name, key);
    try {
      const free = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const results: string[] = [];
      const reply = (what: string, resolve: () => void) => (err: Error | null | undefined) => { results.push(err ? `${what} ${err.message}` : `${what} ok`); resolve(); };
      const fwd = new Promise<void>((resolve) => c.forwardIn('127.0.0.1', free, reply('forward', resolve)));
      const cancel = new Promise<void>((resolve) => c.unforwardIn('127.0.0.1', free, reply('cancel', resolve)));
      await Promise.all([fwd, cancel]);
      assert.deepEqual(results, ['forward ok', 'cancel ok']);
      assert.equal(await canConnect(free), false);
      // And the other way round: a port cancelled and asked for again, behind a slow request.
      await new Promise<void>((resolve) => c.forwardIn('127.0.0.1', free, reply('hold', resolve)));
      const slow = new Promise<void>((resolve) => c.openssh_forwardInStreamLocal(path.join(sockDir, 'slow.sock'), reply('unix', resolve)));
      const again = new Promise<void>((resolve) => c.unforwardIn('127.0.0.1', free, reply('cancel', resolve)));
      const rebind = new Promise<void>((resolve) => c.forwardIn('127.0.0.1', free, reply('forward', resolve)));
      await Promise.all([slow, again, rebind]);
      assert.deepEqual(results.slice(2), ['hold ok', 'unix ok', 'cancel ok', 'forward ok']);
      assert.equal(await canConnect(free), true);
    } finally {
      c.end();
    }
  });

  it('refuses a unix socket path too long for sun_path instead of binding a shortened one', async () => {
    const c = await connect(port, dev.name, key);
    const long = path.join(sockDir, 'x'.repeat(120 - sockDir.length));
    try {
      const err = await new Promise<Error | undefined>((resolve) => c.openssh_forwardInStreamLocal(long, (e) => resolve(e ?? undefined)));
      assert.ok(err, 'refused');
      assert.deepEqual(fs.readdirSync(sockDir), []);
    } finally {
      c.end();
    }
  });

  it('grants every one of many unix-socket forwards requested at once, and removes them all', async () => {
    const c = await connect(port, dev.name, key);
    const n = 60; // max_forwards is 64
    try {
      const results = await Promise.all(Array.from({ length: n }, (_, i) =>
        new Promise<string>((resolve) => c.openssh_forwardInStreamLocal(path.join(sockDir, `s${i}.sock`), (e) => resolve(e ? e.message : 'ok')))));
      assert.deepEqual(results.filter((r) => r !== 'ok'), []);
    } finally {
      c.end();
    }
    await eventually('every socket removed', () => fs.readdirSync(sockDir).length === 0);
  });
});
