import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ChannelOpenError, FerryError, OpenFailure } from '../errors';
import { type SocksConnect, Socks5Reply, formatIPv6, serveSocks, socks5ReplyFor } from './socks';

// ---- fixtures: real loopback sockets ----

interface Listening {
  readonly server: net.Server;
  readonly port: number;
  /** Every socket the server accepted. */
  readonly accepted: net.Socket[];
}

async function listen(host: string, onSocket: (socket: net.Socket) => void, allowHalfOpen = true): Promise<Listening> {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen }, (socket) => {
    accepted.push(socket);
    onSocket(socket);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port, accepted };
}

async function stop(listening: Listening): Promise<void> {
  for (const socket of listening.accepted) socket.destroy();
  await new Promise<void>((resolve) => listening.server.close(() => resolve()));
}

/** Echoes everything and passes the client's end back. */
function echo(socket: net.Socket): void {
  socket.on('error', () => {});
  socket.pipe(socket);
}

function closed(stream: Duplex): Promise<void> {
  return stream.closed ? Promise.resolve() : once(stream, 'close').then(() => undefined);
}

/** A connect that dials with net.connect, as reverse dynamic forwarding does, and records what it opened. */
function dialer(): { connect: SocksConnect; requests: [string, number][]; opened: net.Socket[] } {
  const requests: [string, number][] = [];
  const opened: net.Socket[] = [];
  const connect: SocksConnect = (host, port) => {
    requests.push([host, port]);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        opened.push(socket);
        resolve(socket);
      });
    });
  };
  return { connect, requests, opened };
}

interface SocksServer extends Listening {
  readonly sessions: Promise<void>[];
  readonly errors: Error[];
}

async function socksServer(connect: SocksConnect): Promise<SocksServer> {
  const sessions: Promise<void>[] = [];
  const errors: Error[] = [];
  const listening = await listen('127.0.0.1', (socket) => {
    sessions.push(serveSocks(socket, connect, { onError: (err) => errors.push(err) }));
  });
  return { ...listening, sessions, errors };
}

/** A client socket with exact-length reads over whatever chunks arrive. */
class Client {
  readonly socket: net.Socket;
  #buffered = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<Client> {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(socket, 'connect');
    return new Client(socket);
  }

  async read(length: number): Promise<Buffer> {
    while (this.#buffered.length < length && !this.#ended) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const out = this.#buffered.subarray(0, Math.min(length, this.#buffered.length));
    this.#buffered = this.#buffered.subarray(out.length);
    return out;
  }

  /** Everything until the peer ends. */
  async readToEnd(): Promise<Buffer> {
    while (!this.#ended) await new Promise<void>((resolve) => (this.#wake = resolve));
    const out = this.#buffered;
    this.#buffered = Buffer.alloc(0);
    return out;
  }

  write(bytes: Buffer | number[] | string): void {
    this.socket.write(typeof bytes === 'string' ? bytes : Buffer.from(bytes));
  }
}

function port16(port: number): number[] {
  return [port >> 8, port & 0xff];
}

function socks5Connect(atyp: number, address: number[], port: number): number[] {
  return [0x05, 0x01, 0x00, atyp, ...address, ...port16(port)];
}

function domain(name: string): number[] {
  return [name.length, ...Buffer.from(name)];
}

const SOCKS5_SUCCESS = [0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
const socks5Failure = (code: number): number[] => [0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
const SOCKS4_GRANTED = [0x00, 0x5a, 0, 0, 0, 0, 0, 0];
const SOCKS4_REJECTED = [0x00, 0x5b, 0, 0, 0, 0, 0, 0];

async function closedPort(): Promise<number> {
  const listening = await listen('127.0.0.1', () => {});
  await stop(listening);
  return listening.port;
}

/** Checks that the session ended with every socket it touched closed. */
async function assertAllClosed(socks: SocksServer, client: Client, opened: net.Socket[]): Promise<void> {
  await Promise.all(socks.sessions);
  await closed(client.socket);
  for (const socket of [...socks.accepted, ...opened]) assert.equal(socket.closed, true, 'a socket was left open');
}

// ---- tests ----

describe('serveSocks over loopback sockets', () => {
  let echo4: Listening;
  let echo6: Listening;

  before(async () => {
    echo4 = await listen('127.0.0.1', echo);
    echo6 = await listen('::1', echo);
  });
  after(async () => {
    await stop(echo4);
    await stop(echo6);
  });

  it('SOCKS 4 to an IPv4 address', async () => {
    const { connect, requests, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.write([0x04, 0x01, ...port16(echo4.port), 127, 0, 0, 1, ...Buffer.from('alice'), 0x00]);
      assert.deepEqual([...(await client.read(8))], SOCKS4_GRANTED);
      client.write('ping');
      assert.equal((await client.read(4)).toString(), 'ping');
      client.socket.end();
      assert.equal((await client.readToEnd()).length, 0);
      await assertAllClosed(socks, client, opened);
      assert.deepEqual(requests, [['127.0.0.1', echo4.port]]);
      assert.deepEqual(socks.errors, []);
    } finally {
      await stop(socks);
    }
  });

  it('SOCKS 4A to a host name', async () => {
    const { connect, requests, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.write([0x04, 0x01, ...port16(echo4.port), 0, 0, 0, 1, 0x00, ...Buffer.from('localhost'), 0x00]);
      assert.deepEqual([...(await client.read(8))], SOCKS4_GRANTED);
      client.write('four-a');
      assert.equal((await client.read(6)).toString(), 'four-a');
      client.socket.end();
      await client.readToEnd();
      await assertAllClosed(socks, client, opened);
      assert.deepEqual(requests, [['localhost', echo4.port]]);
      assert.deepEqual(socks.errors, []);
    } finally {
      await stop(socks);
    }
  });

  const socks5Cases: [name: string, request: () => number[], host: () => string][] = [
    ['an IPv4 address', () => socks5Connect(0x01, [127, 0, 0, 1], echo4.port), () => '127.0.0.1'],
    ['a domain name', () => socks5Connect(0x03, domain('localhost'), echo4.port), () => 'localhost'],
    ['IPv6 ::1', () => socks5Connect(0x04, [...Array<number>(15).fill(0), 1], echo6.port), () => '::1'],
  ];
  for (const [name, request, host] of socks5Cases) {
    it(`SOCKS 5 to ${name}`, async () => {
      const { connect, requests, opened } = dialer();
      const socks = await socksServer(connect);
      try {
        const client = await Client.open(socks.port);
        client.write([0x05, 0x02, 0x02, 0x00]);
        assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
        client.write(request());
        assert.deepEqual([...(await client.read(10))], SOCKS5_SUCCESS);
        client.write('five');
        assert.equal((await client.read(4)).toString(), 'five');
        client.socket.end();
        await client.readToEnd();
        await assertAllClosed(socks, client, opened);
        const port = requests[0]?.[1];
        assert.deepEqual(requests, [[host(), port]]);
        assert.deepEqual(socks.errors, []);
      } finally {
        await stop(socks);
      }
    });
  }

  it('reads a handshake that arrives one byte at a time', async () => {
    const { connect, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      const bytes = [0x05, 0x01, 0x00, ...socks5Connect(0x03, domain('localhost'), echo4.port)];
      for (const byte of bytes) {
        client.write([byte]);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      assert.deepEqual([...(await client.read(12))], [0x05, 0x00, ...SOCKS5_SUCCESS]);
      client.socket.end('slow');
      assert.equal((await client.readToEnd()).toString(), 'slow');
      await assertAllClosed(socks, client, opened);
    } finally {
      await stop(socks);
    }
  });

  it('passes on data sent with the request, before the reply, and a half close', async () => {
    const { connect, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      // Greeting, request, payload and FIN all at once: nothing may be lost while connecting.
      client.socket.end(
        Buffer.concat([
          Buffer.from([0x05, 0x01, 0x00, ...socks5Connect(0x01, [127, 0, 0, 1], echo4.port)]),
          Buffer.from('early bytes'),
        ]),
      );
      assert.deepEqual([...(await client.read(12))], [0x05, 0x00, ...SOCKS5_SUCCESS]);
      assert.equal((await client.readToEnd()).toString(), 'early bytes');
      await assertAllClosed(socks, client, opened);
      assert.deepEqual(socks.errors, []);
    } finally {
      await stop(socks);
    }
  });

  it('relays 1 MiB both ways intact, then closes every socket', async () => {
    const { connect, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.write([0x05, 0x01, 0x00]);
      await client.read(2);
      client.write(socks5Connect(0x01, [127, 0, 0, 1], echo4.port));
      assert.deepEqual([...(await client.read(10))], SOCKS5_SUCCESS);
      const payload = randomBytes(1024 * 1024);
      client.socket.end(payload);
      const received = await client.readToEnd();
      assert.equal(received.length, payload.length);
      const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
      assert.equal(sha256(received), sha256(payload));
      await assertAllClosed(socks, client, opened);
      assert.equal(echo4.accepted.filter((s) => !s.closed).length, 0);
      assert.deepEqual(socks.errors, []);
    } finally {
      await stop(socks);
    }
  });

  it('lets a target still taking the upload (an SSH channel short of window) finish before the teardown', async () => {
    // A target that has nothing to say and writes slowly, as a channel waiting for window does.
    const received: Buffer[] = [];
    const slow = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        // Sent only if still open when the window comes: destroying it drops what is in flight.
        setTimeout(() => {
          if (!slow.destroyed) received.push(chunk);
          cb();
        }, 2);
      },
    });
    slow.push(null);
    const socks = await socksServer(() => Promise.resolve(slow));
    try {
      const client = await Client.open(socks.port);
      client.write([0x05, 0x01, 0x00]);
      await client.read(2);
      client.write(socks5Connect(0x01, [127, 0, 0, 1], 9));
      assert.deepEqual([...(await client.read(10))], SOCKS5_SUCCESS);
      const payload = randomBytes(1024 * 1024);
      client.socket.end(payload);
      await client.readToEnd();
      await closed(client.socket);
      await Promise.all(socks.sessions);
      assert.equal(Buffer.concat(received).length, payload.length);
      assert.deepEqual(socks.errors, []);
    } finally {
      await stop(socks);
    }
  });

  it('closes the client when the target ends, after its last bytes', async () => {
    const target = await listen('127.0.0.1', (socket) => socket.end('bye'));
    const { connect, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.write([0x04, 0x01, ...port16(target.port), 127, 0, 0, 1, 0x00]);
      assert.deepEqual([...(await client.read(8))], SOCKS4_GRANTED);
      assert.equal((await client.readToEnd()).toString(), 'bye');
      client.socket.end();
      await assertAllClosed(socks, client, opened);
    } finally {
      await stop(socks);
      await stop(target);
    }
  });

  it('destroys the target when the client resets', async () => {
    // The target reads, so it sees our FIN and closes.
    const target = await listen('127.0.0.1', (socket) => socket.resume(), false);
    const { connect, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.write([0x04, 0x01, ...port16(target.port), 127, 0, 0, 1, 0x00]);
      await client.read(8);
      client.socket.resetAndDestroy();
      await Promise.all(socks.sessions);
      assert.equal(opened.length, 1);
      assert.equal(opened[0]?.closed, true);
      await once(target.accepted[0] ?? assert.fail('no target connection'), 'close');
    } finally {
      await stop(socks);
      await stop(target);
    }
  });

  it('closes a target that opens after the client left, and aborts the connect', async () => {
    const target = await listen('127.0.0.1', () => {});
    let signal: AbortSignal | undefined;
    let release: () => void = () => {};
    const opened: net.Socket[] = [];
    const connect: SocksConnect = async (host, port, abortSignal) => {
      signal = abortSignal;
      await new Promise<void>((resolve) => (release = resolve));
      const socket = net.connect({ host, port });
      opened.push(socket);
      return socket;
    };
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.write([0x04, 0x01, ...port16(target.port), 127, 0, 0, 1, 0x00]);
      while (signal === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
      // A reset, not a FIN: a FIN while connecting is a half close the target must still see.
      client.socket.resetAndDestroy();
      await once(signal, 'abort');
      release();
      await Promise.all(socks.sessions);
      assert.equal(opened[0]?.closed, true);
      assert.deepEqual(
        socks.errors.map((e) => (e as { code?: unknown }).code),
        ['ECONNRESET'],
      );
    } finally {
      await stop(socks);
      await stop(target);
    }
  });

  it('answers a refused connect with SOCKS 5 code 5 and SOCKS 4 code 0x5b', async () => {
    const port = await closedPort();
    const { connect, opened } = dialer();
    const socks = await socksServer(connect);
    try {
      const five = await Client.open(socks.port);
      five.write([0x05, 0x01, 0x00, ...socks5Connect(0x01, [127, 0, 0, 1], port)]);
      assert.deepEqual([...(await five.readToEnd())], [0x05, 0x00, ...socks5Failure(Socks5Reply.CONNECTION_REFUSED)]);
      five.socket.end();

      const four = await Client.open(socks.port);
      four.write([0x04, 0x01, ...port16(port), 127, 0, 0, 1, 0x00]);
      assert.deepEqual([...(await four.readToEnd())], SOCKS4_REJECTED);
      four.socket.end();

      await Promise.all(socks.sessions);
      await Promise.all([closed(five.socket), closed(four.socket)]);
      assert.equal(opened.length, 0);
      assert.deepEqual(
        socks.errors.map((e) => [e instanceof FerryError ? e.code : '', e.message]),
        [
          ['socks_connect_failed', `SOCKS connect to 127.0.0.1:${port} failed: connect ECONNREFUSED 127.0.0.1:${port}`],
          ['socks_connect_failed', `SOCKS connect to 127.0.0.1:${port} failed: connect ECONNREFUSED 127.0.0.1:${port}`],
        ],
      );
    } finally {
      await stop(socks);
    }
  });

  it('answers a connect that throws synchronously with general failure', async () => {
    const socks = await socksServer(() => {
      throw new Error('no channel');
    });
    try {
      const client = await Client.open(socks.port);
      client.write([0x05, 0x01, 0x00, ...socks5Connect(0x03, domain('example.org'), 443)]);
      assert.deepEqual([...(await client.readToEnd())], [0x05, 0x00, ...socks5Failure(Socks5Reply.GENERAL_FAILURE)]);
      await Promise.all(socks.sessions);
      assert.equal(socks.errors.length, 1);
    } finally {
      await stop(socks);
    }
  });

  // Refusals: the reply the protocol has for it (or none), then the connection is closed.
  const refusals: [name: string, request: number[], reply: number[], message: string][] = [
    ['an unknown version', [0x06, 0x01, 0x00], [], 'unsupported SOCKS version 6'],
    ['an HTTP request', [...Buffer.from('GET / HTTP/1.1\r\n\r\n')], [], 'unsupported SOCKS version 71'],
    ['SOCKS 5 without the no-auth method', [0x05, 0x01, 0x02], [0x05, 0xff], 'SOCKS 5 client offers no method without authentication'],
    ['SOCKS 5 with no methods', [0x05, 0x00], [0x05, 0xff], 'SOCKS 5 client offers no method without authentication'],
    [
      'SOCKS 5 BIND',
      [0x05, 0x01, 0x00, 0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80],
      [0x05, 0x00, ...socks5Failure(Socks5Reply.COMMAND_NOT_SUPPORTED)],
      'SOCKS 5 command 2 is not supported',
    ],
    [
      'SOCKS 5 UDP ASSOCIATE',
      [0x05, 0x01, 0x00, 0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
      [0x05, 0x00, ...socks5Failure(Socks5Reply.COMMAND_NOT_SUPPORTED)],
      'SOCKS 5 command 3 is not supported',
    ],
    [
      'SOCKS 5 address type 5',
      [0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x05],
      [0x05, 0x00, ...socks5Failure(Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED)],
      'SOCKS 5 address type 5 is not supported',
    ],
    [
      'SOCKS 5 request with version 4',
      [0x05, 0x01, 0x00, 0x04, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 80],
      [0x05, 0x00, ...socks5Failure(Socks5Reply.GENERAL_FAILURE)],
      'SOCKS 5 request with version 4',
    ],
    [
      'SOCKS 5 empty domain',
      [0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 0x00, 0, 80],
      [0x05, 0x00, ...socks5Failure(Socks5Reply.GENERAL_FAILURE)],
      'SOCKS 5 request with an empty host name',
    ],
    ['SOCKS 4 BIND', [0x04, 0x02, 0, 80, 127, 0, 0, 1, 0x00], SOCKS4_REJECTED, 'SOCKS 4 command 2 is not supported'],
    ['SOCKS 4A empty host', [0x04, 0x01, 0, 80, 0, 0, 0, 9, 0x00, 0x00], SOCKS4_REJECTED, 'SOCKS 4A request with an empty host name'],
    ['SOCKS 4 user id over 255 bytes', [0x04, 0x01, 0, 80, 127, 0, 0, 1, ...Array<number>(256).fill(0x61)], SOCKS4_REJECTED, 'SOCKS 4 user id too long'],
    [
      'SOCKS 4A host over 255 bytes',
      [0x04, 0x01, 0, 80, 0, 0, 0, 1, 0x00, ...Array<number>(256).fill(0x61)],
      SOCKS4_REJECTED,
      'SOCKS 4A host name too long',
    ],
  ];
  for (const [name, request, reply, message] of refusals) {
    it(`refuses ${name} and closes`, async () => {
      const { connect, requests } = dialer();
      const socks = await socksServer(connect);
      try {
        const client = await Client.open(socks.port);
        client.write(request);
        assert.deepEqual([...(await client.readToEnd())], reply);
        client.socket.end();
        await Promise.all(socks.sessions);
        await closed(client.socket);
        assert.deepEqual(requests, []);
        assert.deepEqual(
          socks.errors.map((e) => [e instanceof FerryError ? e.code : '', e.message]),
          [['socks_protocol', message]],
        );
      } finally {
        await stop(socks);
      }
    });
  }

  it('reports a client that leaves mid-handshake, and settles', async () => {
    const { connect, requests } = dialer();
    const socks = await socksServer(connect);
    try {
      const client = await Client.open(socks.port);
      client.socket.end(Buffer.from([0x05, 0x01]));
      await client.readToEnd();
      await Promise.all(socks.sessions);
      assert.deepEqual(requests, []);
      assert.deepEqual(
        socks.errors.map((e) => e.message),
        ['SOCKS client closed the connection before finishing its request'],
      );
    } finally {
      await stop(socks);
    }
  });
});

describe('serveSocks with curl', () => {
  const curl = ['/usr/bin/curl', '/usr/local/bin/curl', '/bin/curl'].find((path) => existsSync(path));
  let web: http.Server;
  let webPort = 0;

  before(async () => {
    web = http.createServer((req, res) => res.end(`hello from ${req.url ?? ''}`));
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    const address = web.address();
    assert.ok(address !== null && typeof address === 'object');
    webPort = address.port;
  });
  after(async () => {
    web.closeAllConnections();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });

  const modes: [flag: string, host: string, expectedHost: string][] = [
    ['--socks5', '127.0.0.1', '127.0.0.1'],
    ['--socks5-hostname', 'localhost', 'localhost'],
    ['--socks4', '127.0.0.1', '127.0.0.1'],
    ['--socks4a', 'localhost', 'localhost'],
  ];
  for (const [flag, host, expectedHost] of modes) {
    it(`serves curl ${flag}`, { skip: curl === undefined ? 'curl is not installed' : false }, async () => {
      const { connect, requests, opened } = dialer();
      const socks = await socksServer(connect);
      try {
        const body = await new Promise<string>((resolve, reject) => {
          execFile(
            curl ?? 'curl',
            ['--silent', '--show-error', '--max-time', '10', flag, `127.0.0.1:${socks.port}`, `http://${host}:${webPort}/${flag}`],
            (err, stdout, stderr) => (err ? reject(new Error(`curl failed: ${stderr}`, { cause: err })) : resolve(stdout)),
          );
        });
        assert.equal(body, `hello from /${flag}`);
        await Promise.all(socks.sessions);
        assert.deepEqual(requests, [[expectedHost, webPort]]);
        for (const socket of [...socks.accepted, ...opened]) assert.equal(socket.closed, true);
        assert.deepEqual(socks.errors, []);
      } finally {
        await stop(socks);
      }
    });
  }

  it('gives curl the refusal code for a closed port', { skip: curl === undefined ? 'curl is not installed' : false }, async () => {
    const port = await closedPort();
    const { connect } = dialer();
    const socks = await socksServer(connect);
    try {
      const stderr = await new Promise<string>((resolve) => {
        execFile(
          curl ?? 'curl',
          ['--silent', '--show-error', '--max-time', '10', '--socks5', `127.0.0.1:${socks.port}`, `http://127.0.0.1:${port}/`],
          (_err, _stdout, text) => resolve(text),
        );
      });
      // curl 7.x prints the reply code, newer curl its meaning.
      assert.match(stderr, /SOCKS5.*(\(5\)|Connection refused)/);
      await Promise.all(socks.sessions);
    } finally {
      await stop(socks);
    }
  });
});

describe('socks5ReplyFor', () => {
  const withCode = (code: string): Error => Object.assign(new Error(code), { code });
  const cases: [name: string, err: unknown, reply: number][] = [
    ['ECONNREFUSED', withCode('ECONNREFUSED'), Socks5Reply.CONNECTION_REFUSED],
    ['EHOSTUNREACH', withCode('EHOSTUNREACH'), Socks5Reply.HOST_UNREACHABLE],
    ['ENETUNREACH', withCode('ENETUNREACH'), Socks5Reply.NETWORK_UNREACHABLE],
    ['ENOTFOUND', withCode('ENOTFOUND'), Socks5Reply.HOST_UNREACHABLE],
    ['EAI_AGAIN', withCode('EAI_AGAIN'), Socks5Reply.HOST_UNREACHABLE],
    ['ETIMEDOUT', withCode('ETIMEDOUT'), Socks5Reply.GENERAL_FAILURE],
    ['a code in the cause', new FerryError('wrapped', 'x', { cause: withCode('ECONNREFUSED') }), Socks5Reply.CONNECTION_REFUSED],
    [
      'an administratively prohibited channel',
      new ChannelOpenError(OpenFailure.ADMINISTRATIVELY_PROHIBITED, 'denied by policy'),
      Socks5Reply.NOT_ALLOWED_BY_RULESET,
    ],
    ["OpenSSH's text for refused", new ChannelOpenError(OpenFailure.CONNECT_FAILED, 'Connection refused'), Socks5Reply.CONNECTION_REFUSED],
    ["OpenSSH's text for no route", new ChannelOpenError(OpenFailure.CONNECT_FAILED, 'No route to host'), Socks5Reply.HOST_UNREACHABLE],
    ["OpenSSH's text for an unknown name", new Error('Name or service not known'), Socks5Reply.HOST_UNREACHABLE],
    ["OpenSSH's text for no network", new Error('Network is unreachable'), Socks5Reply.NETWORK_UNREACHABLE],
    ['anything else', new Error('boom'), Socks5Reply.GENERAL_FAILURE],
    ['a non-error', 'string', Socks5Reply.GENERAL_FAILURE],
  ];
  for (const [name, err, reply] of cases) {
    it(`maps ${name} to ${reply}`, () => assert.equal(socks5ReplyFor(err), reply));
  }
});

describe('formatIPv6', () => {
  const hex = (text: string): Buffer => Buffer.from(text.replace(/ /g, ''), 'hex');
  const cases: [string, string][] = [
    ['0000 0000 0000 0000 0000 0000 0000 0001', '::1'],
    ['0000 0000 0000 0000 0000 0000 0000 0000', '::'],
    ['2001 0db8 0000 0000 0000 0000 0000 0001', '2001:db8::1'],
    ['2001 0db8 0000 0001 0000 0000 0000 0001', '2001:db8:0:1::1'],
    ['2001 0db8 0000 0000 0001 0000 0000 0001', '2001:db8::1:0:0:1'],
    ['2001 0db8 0001 0001 0001 0001 0001 0000', '2001:db8:1:1:1:1:1:0'],
    ['fe80 0000 0000 0000 abcd ef01 2345 6789', 'fe80::abcd:ef01:2345:6789'],
    ['0000 0000 0000 0000 0000 ffff 7f00 0001', '::ffff:7f00:1'],
  ];
  for (const [bytes, text] of cases) {
    it(`writes ${text}`, () => {
      assert.equal(formatIPv6(hex(bytes)), text);
      assert.equal(net.isIPv6(text), true);
    });
  }
});
