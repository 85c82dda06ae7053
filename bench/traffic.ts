// The outside end of the tunnel: connects to the forwarded port (or, for the raw ceiling, to
// the endpoint itself) and speaks bench/wire.ts.
//
// Two kinds of wrong answer are told apart. Until the endpoint's greeting has arrived, a
// wrong answer means some other program holds that port (ForeignAnswerError: OpenSSH's sshd,
// when it cannot bind a -R 0 port on 127.0.0.1 as well as ::1 because another socket has that
// port there, quietly keeps only ::1, and on a shared machine anything may listen there). After the greeting, any byte that differs from what was sent is a
// CorrectnessError: the tunnel broke the data, and that fails the bench.

import crypto from 'node:crypto';
import net from 'node:net';
import { DIGEST_LEN, HOLD_ACK, PONG_LEN, READY, expectedDigest, header, looksLikePong, pong, writePattern } from './wire';

/** Bytes arrived through a tunnel but are not the bytes sent: the one thing that fails the bench. */
export class CorrectnessError extends Error {
  override readonly name = 'CorrectnessError';
}

/** Something other than the bench's endpoint answered on the port. */
export class ForeignAnswerError extends Error {
  override readonly name = 'ForeignAnswerError';
}

export interface Transfer {
  bytes: number;
  seconds: number;
}

export type LoopbackHost = '127.0.0.1' | '::1';

function withTimeout<T>(what: string, ms: number, socket: net.Socket, run: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    run(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); socket.destroy(); reject(e); },
    );
  });
}

const foreign = (where: string, answer: Buffer) =>
  new ForeignAnswerError(`${where}: answered by another program, not the bench's endpoint (${JSON.stringify(answer.subarray(0, 48).toString('latin1'))})`);

/** Sends `len` bytes of the pattern; the service hashes them and answers the digest. */
export function upload(port: number, pattern: Buffer, len: number, timeoutMs: number): Promise<Transfer> {
  const expected = expectedDigest(pattern, len);
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  const where = `upload of ${len} bytes through port ${port}`;
  return withTimeout<Transfer>(where, timeoutMs, socket, (resolve, reject) => {
    let started = 0n;
    let answer = Buffer.alloc(0);
    socket.on('error', (err) => reject(new Error(`${where}: ${err.message}`)));
    socket.on('close', () => reject(started === 0n
      ? new Error(`${where}: connection closed before the endpoint's greeting`)
      : new CorrectnessError(`${where}: connection closed with ${answer.length} of ${DIGEST_LEN} digest bytes`)));
    socket.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      if (started === 0n) {
        if (answer[0] !== READY) return reject(foreign(where, answer));
        answer = answer.subarray(1);
        started = process.hrtime.bigint();
        writePattern(socket, pattern, len).catch((err: Error) => reject(err));
      }
      if (answer.length < DIGEST_LEN) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      socket.destroy();
      if (answer.length !== DIGEST_LEN || !answer.equals(expected)) {
        return reject(new CorrectnessError(`${where}: SHA-256 of the bytes received ${answer.toString('hex')} != of the bytes sent ${expected.toString('hex')}`));
      }
      resolve({ bytes: len, seconds });
    });
    socket.write(header('U', len));
  });
}

/** Asks the service for `len` bytes of the pattern and hashes them as they arrive. */
export function download(port: number, pattern: Buffer, len: number, timeoutMs: number): Promise<Transfer> {
  const expected = expectedDigest(pattern, len);
  const socket = net.connect({ port, host: '127.0.0.1' });
  const where = `download of ${len} bytes through port ${port}`;
  return withTimeout<Transfer>(where, timeoutMs, socket, (resolve, reject) => {
    let started = 0n;
    let got = 0;
    const hash = crypto.createHash('sha256');
    socket.on('error', (err) => reject(new Error(`${where}: ${err.message}`)));
    socket.on('close', () => reject(started === 0n
      ? new Error(`${where}: connection closed before the endpoint's greeting`)
      : new CorrectnessError(`${where}: connection closed after ${got} of ${len} bytes`)));
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (started === 0n) {
        if (data[0] !== READY) return reject(foreign(where, data));
        started = process.hrtime.bigint();
        data = data.subarray(1);
      }
      got += data.length;
      if (got > len) return reject(new CorrectnessError(`${where}: ${got} bytes arrived, ${len} were sent`));
      hash.update(data);
      if (got < len) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      socket.destroy();
      const digest = hash.digest();
      if (!digest.equals(expected)) {
        return reject(new CorrectnessError(`${where}: SHA-256 of the bytes received ${digest.toString('hex')} != of the bytes sent ${expected.toString('hex')}`));
      }
      resolve({ bytes: len, seconds });
    });
    socket.write(header('D', len));
  });
}

/**
 * One small request/response on a new connection: milliseconds from connect() to the first
 * answer byte. The answer must be this run's pong, byte for byte.
 */
export function ping(port: number, pattern: Buffer, timeoutMs: number, host: LoopbackHost = '127.0.0.1'): Promise<number> {
  const expected = pong(pattern);
  const t0 = process.hrtime.bigint();
  const socket = net.connect({ port, host });
  socket.setNoDelay(true);
  const where = `ping through ${host === '::1' ? '[::1]' : host}:${port}`;
  return withTimeout<number>(where, timeoutMs, socket, (resolve, reject) => {
    let ttfb = -1;
    let answer = Buffer.alloc(0);
    socket.on('error', (err) => reject(new Error(`${where}: ${err.message}`)));
    socket.on('close', () => reject(answer.length === 0
      ? new Error(`${where}: closed without an answer`)
      : new CorrectnessError(`${where}: closed after ${answer.length} of ${PONG_LEN} answer bytes`)));
    socket.on('data', (chunk: Buffer) => {
      if (ttfb < 0) ttfb = Number(process.hrtime.bigint() - t0) / 1e6;
      answer = Buffer.concat([answer, chunk]);
      if (!looksLikePong(answer)) return reject(foreign(where, answer));
      if (answer.length < PONG_LEN) return;
      socket.destroy();
      if (!answer.equals(expected)) return reject(new CorrectnessError(`${where}: answer differs from the endpoint's (${answer.length} bytes)`));
      resolve(ttfb);
    });
    socket.write(header('P', 0));
  });
}

/**
 * Pings a forwarded port on 127.0.0.1 and, if another program answers there, on ::1 (where
 * the server may have bound the forward alone). Resolves with the host that answered.
 */
export async function pingForward(port: number, pattern: Buffer, timeoutMs: number): Promise<{ ms: number; host: LoopbackHost }> {
  try {
    return { ms: await ping(port, pattern, timeoutMs, '127.0.0.1'), host: '127.0.0.1' };
  } catch (err) {
    if (!(err instanceof ForeignAnswerError)) throw err;
    return { ms: await ping(port, pattern, timeoutMs, '::1'), host: '::1' };
  }
}

/** Opens a connection the service holds open; resolves once the service answered through it. */
export function hold(port: number, timeoutMs: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const where = `held connection through port ${port}`;
  return withTimeout<net.Socket>(where, timeoutMs, socket, (resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`${where}: ${err.message}`));
    const onClose = () => reject(new Error(`${where}: closed before the answer`));
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('data', (chunk: Buffer) => {
      socket.off('close', onClose);
      socket.off('error', onError);
      socket.on('error', () => {});
      if (chunk.length !== 1 || chunk[0] !== HOLD_ACK) return reject(foreign(where, chunk));
      resolve(socket);
    });
    socket.write(header('H', 0));
  });
}
