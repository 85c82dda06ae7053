// The maintained ssh2 patch (patches/ssh2+1.17.0.patch), tested on its own: a bare ssh2
// server and client over loopback, no ferry policy in between.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Server, type ClientChannel, type Connection, type ParsedKey } from 'ssh2';
import { generateEd25519 } from '../src/auth/sshkey';
import { OpenFailure } from '../src/errors';
import { eventually } from './helpers/process';
import { sendsWithNagle } from '../src/client/ssh';
import { ackAnsweredCloses, offerKeyOnce, onRemoteDebug, rejectChannel, sendDebug, serverSoftware, parseFirstKey } from '../src/protocol/ssh2-ext';

const SSH2_LIB = path.dirname(require.resolve('ssh2/lib/client.js'));

describe('ferry patch of ssh2', () => {
  let server: Server;
  let port: number;
  let serverSide: Connection | undefined;
  let serverClosed = 0;
  const serverDebug: string[] = [];
  const userKey = parseFirstKey(generateEd25519().private) as ParsedKey;

  before(async () => {
    server = new Server({ hostKeys: [generateEd25519().private], debug: (line: string) => serverDebug.push(line) }, (conn) => {
      serverSide = conn;
      conn.on('error', () => {});
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('ready', () => {
        conn.on('tcpip', (accept, reject, info) => {
          if (info.destPort === 9) return void accept().close(); // the server closes first
          if (info.destPort !== 7) return rejectChannel(reject, OpenFailure.CONNECT_FAILED, 'no route to the moon');
          const ch = accept();
          ch.resume(); // never ends its side: the client's channel stays readable after it finishes
          ch.on('close', () => { serverClosed += 1; });
        });
        conn.on('request', (_accept, reject) => {
          sendDebug(conn, 'you may not listen there');
          reject?.();
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => {
    server?.close();
  });

  function connect(): Promise<Client> {
    return new Promise((resolve, reject) => {
      const c = new Client();
      c.once('ready', () => resolve(c));
      c.once('error', reject);
      c.connect({ host: '127.0.0.1', port, username: 'u', authHandler: offerKeyOnce('u', userKey) });
    });
  }

  it('is applied to the installed ssh2', () => {
    for (const file of ['Channel.js', 'client.js', 'server.js', 'utils.js', 'protocol/Protocol.js', 'protocol/kex.js', 'protocol/crypto.js', 'protocol/constants.js']) {
      assert.match(fs.readFileSync(path.join(SSH2_LIB, file), 'utf8'), /ferry patch/, file);
    }
  });

  it('delivers SSH_MSG_DEBUG from server to client before the failure it explains', async () => {
    const c = await connect();
    try {
      const events: string[] = [];
      onRemoteDebug(c, (m) => events.push(`debug:${m}`));
      await new Promise<void>((resolve) => c.forwardIn('localhost', 0, () => { events.push('failure'); resolve(); }));
      assert.deepEqual(events, ['debug:you may not listen there', 'failure']);
    } finally {
      c.end();
    }
  });

  it('destroys a finished channel without ending it again (which built an error per channel)', async () => {
    const c = await connect();
    try {
      const ch = await new Promise<ClientChannel>((resolve, reject) => c.forwardOut('127.0.0.1', 1, '10.0.0.1', 7, (e, s) => (e ? reject(e) : resolve(s))));
      ch.resume();
      ch.end();
      await new Promise((r) => ch.once('finish', r));
      let ends = 0;
      const end = ch.end.bind(ch);
      ch.end = ((...args: Parameters<typeof end>) => { ends += 1; return end(...args); }) as typeof ch.end;
      const closedBefore = serverClosed;
      ch.destroy();
      await new Promise((r) => ch.once('close', r));
      assert.equal(ends, 0);
      await eventually('the server saw the channel close', () => serverClosed === closedBefore + 1);
    } finally {
      c.end();
    }
  });

  it('carries the reason code and text of a refused channel', async () => {
    const c = await connect();
    try {
      const err = await new Promise<Error & { reason?: number }>((resolve) => c.forwardOut('127.0.0.1', 1, '10.0.0.1', 80, (e) => resolve(e as Error & { reason?: number })));
      assert.equal(err.message, '(SSH) Channel open failure: no route to the moon');
      assert.equal(err.reason, OpenFailure.CONNECT_FAILED);
    } finally {
      c.end();
    }
  });

  it('sends SSH_MSG_IGNORE after a CHANNEL_CLOSE that answers the client\'s, when asked to', async () => {
    const ignores = () => serverDebug.filter((line) => line.includes('Received IGNORE')).length;
    const cases: { ask: boolean; port: number; expected: number }[] = [
      { ask: true, port: 7, expected: 1 }, // the client closes, the server answers: IGNORE
      { ask: false, port: 7, expected: 0 }, // not asked
      { ask: true, port: 9, expected: 0 }, // the server closed first and the client answered
    ];
    for (const { ask, port: destPort, expected } of cases) {
      const c = await connect();
      try {
        ackAnsweredCloses(c, ask);
        const before = ignores();
        const closed = await new Promise<Promise<void>>((resolve, reject) => c.forwardOut('127.0.0.1', 1, '127.0.0.1', destPort, (err, ch) => {
          if (err) return reject(err);
          ch.resume(); // a client channel emits 'close' after 'end'
          resolve(new Promise<void>((r) => ch.once('close', () => r())));
          if (destPort === 7) ch.destroy();
        }));
        await closed;
        // A refused global request: the server has read everything the client sent before it.
        await new Promise<void>((resolve) => c.forwardIn('localhost', 0, () => resolve()));
        assert.equal(ignores() - before, expected, JSON.stringify({ ask, destPort }));
      } finally {
        c.end();
      }
    }
  });

  it('names the server software the client would ask for IGNOREs: OpenSSH only', async () => {
    const c = await connect();
    try {
      assert.equal(serverSoftware(c), 'ssh2js1.17.0');
      assert.equal(sendsWithNagle(serverSoftware(c)), false);
      assert.equal(sendsWithNagle('OpenSSH_9.2p1'), true);
      assert.equal(sendsWithNagle('OpenSSH_for_Windows_9.5'), true);
      assert.equal(sendsWithNagle('Ferry_0.1'), false);
      assert.equal(sendsWithNagle(undefined), false);
    } finally {
      c.end();
    }
  });

  it('pads packets from a CSPRNG pool: identical payloads never give identical ciphertext', async () => {
    const c = await connect();
    try {
      // Two identical pings: with fresh padding (and nonces) the wire bytes must differ.
      const sock = (c as unknown as { _sock: net.Socket })._sock;
      const seen: Buffer[] = [];
      const write = sock.write.bind(sock);
      (sock as unknown as { write: (d: Buffer) => boolean }).write = (d: Buffer) => { seen.push(Buffer.from(d)); return write(d); };
      (c as unknown as { _protocol: { ping(): void } })._protocol.ping();
      (c as unknown as { _protocol: { ping(): void } })._protocol.ping();
      await new Promise((r) => setTimeout(r, 50));
      const hashes = new Set(seen.map((b) => crypto.createHash('sha256').update(b).digest('hex')));
      assert.ok(seen.length >= 1 && hashes.size === seen.length);
      assert.ok(serverSide);
    } finally {
      c.end();
    }
  });
});
