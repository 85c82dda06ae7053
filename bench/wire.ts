// The bench's own little protocol between the outside client (bench/traffic.ts) and the
// target service behind the tunnel (bench/endpoint.ts). Each connection starts with a
// 9-byte header, a mode byte and a big-endian uint64 length:
//
//   'U' len  upload: the service answers READY, reads len bytes, answers their SHA-256
//   'D' len  download: the service answers READY then len bytes of the pattern
//   'P' 0    ping: the service answers pong(pattern), PONG_LEN bytes, and ends the connection
//   'H' 0    hold: the service answers one byte and keeps the connection open
//
// Bulk data is a pseudo-random pattern both processes derive from the same seed, sent
// cyclically. Its length is odd and not a multiple of any SSH packet or TCP segment size, so
// a lost, repeated or reordered chunk changes the digest.

import crypto from 'node:crypto';
import type net from 'node:net';

export const HEADER_LEN = 9;
export const READY = 0x72; // 'r'
export const PONG_LEN = 64;
export const HOLD_ACK = 0x68; // 'h'
export const DIGEST_LEN = 32;
export type Mode = 'U' | 'D' | 'P' | 'H';

const PATTERN_LEN = 4 * 1024 * 1024 + 4099;
const WRITE_CHUNK = 256 * 1024;

export function header(mode: Mode, len: number): Buffer {
  const b = Buffer.alloc(HEADER_LEN);
  b.write(mode, 0, 'latin1');
  b.writeBigUInt64BE(BigInt(len), 1);
  return b;
}

export function parseHeader(b: Buffer): { mode: string; len: number } {
  return { mode: String.fromCharCode(b[0] ?? 0), len: Number(b.readBigUInt64BE(1)) };
}

const PONG_MAGIC = Buffer.from('FBENCH');

/**
 * The answer to a ping: a magic and bytes only this run's endpoint knows, so an answer from
 * some other program that happens to hold the port is told apart from a corrupted one.
 */
export function pong(pattern: Buffer): Buffer {
  return Buffer.concat([PONG_MAGIC, pattern.subarray(0, PONG_LEN - PONG_MAGIC.length)]);
}

export function looksLikePong(answer: Buffer): boolean {
  return answer.subarray(0, PONG_MAGIC.length).equals(PONG_MAGIC.subarray(0, Math.min(PONG_MAGIC.length, answer.length)));
}

export function makePattern(seedHex: string): Buffer {
  const seed = Buffer.from(seedHex, 'hex');
  const cipher = crypto.createCipheriv('aes-128-ctr', seed.subarray(0, 16), Buffer.alloc(16));
  return cipher.update(Buffer.alloc(PATTERN_LEN));
}

const digests = new Map<number, Buffer>();

/** SHA-256 of the first `len` bytes of the cyclic pattern (cached: computed outside timing). */
export function expectedDigest(pattern: Buffer, len: number): Buffer {
  const cached = digests.get(len);
  if (cached) return cached;
  const hash = crypto.createHash('sha256');
  let left = len;
  for (let i = 0; left > 0 && i < Number.MAX_SAFE_INTEGER; i++) {
    const n = Math.min(left, pattern.length);
    hash.update(pattern.subarray(0, n));
    left -= n;
  }
  const d = hash.digest();
  digests.set(len, d);
  return d;
}

/**
 * Writes `len` bytes of the cyclic pattern, honouring backpressure. Resolves when all of it
 * is handed to the socket; rejects if the socket closes first.
 */
export async function writePattern(socket: net.Socket, pattern: Buffer, len: number): Promise<void> {
  let sent = 0;
  let offset = 0;
  // Every pass writes at least one byte, so len + 1 passes always suffice.
  for (let i = 0; sent < len && i <= len; i++) {
    if (socket.destroyed) throw new Error(`socket closed after ${sent} of ${len} bytes`);
    const n = Math.min(WRITE_CHUNK, len - sent, pattern.length - offset);
    const ok = socket.write(pattern.subarray(offset, offset + n));
    sent += n;
    offset = (offset + n) % pattern.length;
    if (!ok && sent < len) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => { cleanup(); resolve(); };
        const onClose = () => { cleanup(); reject(new Error(`socket closed after ${sent} of ${len} bytes`)); };
        const cleanup = () => {
          socket.off('drain', onDrain);
          socket.off('close', onClose);
        };
        socket.on('drain', onDrain);
        socket.on('close', onClose);
      });
    }
  }
}
