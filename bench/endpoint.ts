// The target service behind every tunnel (the "localhost:PORT" of `ssh -R 0:localhost:PORT`),
// run as its own process so that hashing on one side of a transfer does not share a thread
// with sending on the other. Usage: node dist/bench/endpoint.js SEED_HEX
// Prints "endpoint listening PORT" and runs until stdin closes or SIGTERM.

import crypto from 'node:crypto';
import net from 'node:net';
import { HEADER_LEN, HOLD_ACK, READY, makePattern, parseHeader, pong, writePattern } from './wire';

function serve(pattern: Buffer): net.Server {
  const answer = pong(pattern);
  return net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    let head = Buffer.alloc(0);
    let upload: { hash: crypto.Hash; left: number } | undefined;
    const onUploadData = (chunk: Buffer) => {
      if (!upload) return;
      const n = Math.min(chunk.length, upload.left);
      upload.hash.update(n === chunk.length ? chunk : chunk.subarray(0, n));
      upload.left -= n;
      if (upload.left === 0) {
        const digest = upload.hash.digest();
        upload = undefined;
        socket.write(digest);
      }
    };
    const onData = (chunk: Buffer) => {
      if (upload) return onUploadData(chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < HEADER_LEN) return;
      const { mode, len } = parseHeader(head);
      const rest = head.subarray(HEADER_LEN);
      head = Buffer.alloc(0);
      switch (mode) {
        case 'U':
          upload = { hash: crypto.createHash('sha256'), left: len };
          socket.write(Buffer.from([READY]));
          if (len === 0) onUploadData(Buffer.alloc(0));
          else if (rest.length > 0) onUploadData(rest);
          return;
        case 'D':
          socket.write(Buffer.from([READY]));
          writePattern(socket, pattern, len).catch(() => socket.destroy());
          return;
        case 'P':
          socket.end(answer);
          return;
        case 'H':
          socket.write(Buffer.from([HOLD_ACK]));
          return;
        default:
          socket.destroy();
      }
    };
    socket.on('data', onData);
  });
}

function main(): void {
  const seed = process.argv[2];
  if (!seed || !/^[0-9a-f]{32}$/.test(seed)) {
    process.stderr.write('usage: endpoint.js SEED_HEX (32 hex digits)\n');
    process.exit(2);
  }
  const server = serve(makePattern(seed));
  server.maxConnections = 100_000;
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    process.stdout.write(`endpoint listening ${(server.address() as net.AddressInfo).port}\n`);
  });
  const bye = () => process.exit(0);
  process.stdin.on('end', bye);
  process.stdin.on('close', bye);
  process.stdin.resume();
  process.on('SIGTERM', bye);
  process.on('SIGINT', () => {}); // the parent decides when to stop
}

if (require.main === module) main();
