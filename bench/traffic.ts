// The outside end of the tunnel: connects to the forwarded port (or, for the raw ceiling, to
// the endpoint itself) and speaks bench/wire.ts.

import crypto from 'node:crypto';
import net from 'node:net';
import { DIGEST_LEN, HOLD_ACK, PONG_LEN, READY, expectedDigest, header, writePattern } from './wire';

/** Bytes arrived but are not the bytes sent: the one thing that fails the bench. */
export class CorrectnessError extends Error {
  override readonly name = 'CorrectnessError';
}

export interface Transfer {
  bytes: number;
  seconds: number;
}

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

/** Sends `len` bytes of the pattern; the service hashes them and answers the digest. */
export function upload(port: number, pattern: Buffer, len: number, timeoutMs: number): Promise<Transfer> {
  const expected = expectedDigest(pattern, len);
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  return withTimeout<Transfer>(`upload of ${len} bytes to port ${port}`, timeoutMs, socket, (resolve, reject) => {
    let started = 0n;
    let answer = Buffer.alloc(0);
    socket.on('error', (err) => reject(new Error(`upload to port ${port}: ${err.message}`)));
    socket.on('close', () => reject(new Error(`upload to port ${port}: connection closed after ${answer.length} answer bytes`)));
    socket.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      if (started === 0n) {
        if (answer[0] !== READY) return reject(new CorrectnessError(`upload to port ${port}: bad greeting ${answer.subarray(0, 8).toString('hex')}`));
        answer = answer.subarray(1);
        started = process.hrtime.bigint();
        writePattern(socket, pattern, len).catch((err: Error) => reject(err));
      }
      if (answer.length < DIGEST_LEN) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      socket.destroy();
      if (answer.length !== DIGEST_LEN || !answer.equals(expected)) {
        return reject(new CorrectnessError(`upload through port ${port}: SHA-256 of the ${len} bytes received ${answer.toString('hex')} != sent ${expected.toString('hex')}`));
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
  return withTimeout<Transfer>(`download of ${len} bytes from port ${port}`, timeoutMs, socket, (resolve, reject) => {
    let started = 0n;
    let got = 0;
    const hash = crypto.createHash('sha256');
    socket.on('error', (err) => reject(new Error(`download from port ${port}: ${err.message}`)));
    socket.on('close', () => reject(new CorrectnessError(`download from port ${port}: connection closed after ${got} of ${len} bytes`)));
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (started === 0n) {
        if (data[0] !== READY) return reject(new CorrectnessError(`download from port ${port}: bad greeting ${data.subarray(0, 8).toString('hex')}`));
        started = process.hrtime.bigint();
        data = data.subarray(1);
      }
      got += data.length;
      if (got > len) return reject(new CorrectnessError(`download from port ${port}: ${got} bytes arrived, ${len} were sent`));
      hash.update(data);
      if (got < len) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      socket.destroy();
      const digest = hash.digest();
      if (!digest.equals(expected)) {
        return reject(new CorrectnessError(`download through port ${port}: SHA-256 of the ${len} bytes received ${digest.toString('hex')} != sent ${expected.toString('hex')}`));
      }
      resolve({ bytes: len, seconds });
    });
    socket.write(header('D', len));
  });
}

/** One small request/response on a new connection: milliseconds from connect() to the first answer byte. */
export function ping(port: number, timeoutMs: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  return withTimeout<number>(`ping through port ${port}`, timeoutMs, socket, (resolve, reject) => {
    let ttfb = -1;
    let got = 0;
    socket.on('error', (err) => reject(new Error(`ping through port ${port}: ${err.message}`)));
    socket.on('close', () => reject(new Error(`ping through port ${port}: closed after ${got} of ${PONG_LEN} bytes`)));
    socket.on('data', (chunk: Buffer) => {
      if (ttfb < 0) ttfb = Number(process.hrtime.bigint() - t0) / 1e6;
      got += chunk.length;
      if (got < PONG_LEN) return;
      socket.destroy();
      if (got !== PONG_LEN) return reject(new CorrectnessError(`ping through port ${port}: ${got} bytes answered, ${PONG_LEN} expected`));
      resolve(ttfb);
    });
    socket.write(header('P', 0));
  });
}

/** Opens a connection the service holds open; resolves once the service answered through it. */
export function hold(port: number, timeoutMs: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  return withTimeout<net.Socket>(`held connection through port ${port}`, timeoutMs, socket, (resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`held connection through port ${port}: ${err.message}`));
    const onClose = () => reject(new Error(`held connection through port ${port}: closed before the answer`));
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('data', (chunk: Buffer) => {
      socket.off('close', onClose);
      socket.off('error', onError);
      socket.on('error', () => {});
      if (chunk[0] !== HOLD_ACK) return reject(new CorrectnessError(`held connection through port ${port}: bad answer ${chunk.toString('hex')}`));
      resolve(socket);
    });
    socket.write(header('H', 0));
  });
}
