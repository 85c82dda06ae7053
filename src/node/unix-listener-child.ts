// Runs as the login's OS user (started through setpriv): binds the unix socket with mode 0600
// where that user may create it, hands the listening socket to ferryd over IPC, and exits
// without closing it (closing would unlink the path).

import net from 'node:net';

const socketPath = process.argv[2];
const send = (msg: object, handle?: net.Server) =>
  new Promise<void>((resolve) => {
    if (!process.send) process.exit(2);
    process.send(msg, handle, {}, () => resolve());
  });

if (!socketPath) {
  void send({ ok: false, code: 'EINVAL', message: 'no socket path' }).then(() => process.exit(2));
} else {
  process.umask(0o177);
  const server = net.createServer();
  server.once('error', (err: NodeJS.ErrnoException) => {
    void send({ ok: false, code: err.code ?? 'EIO', message: err.message }).then(() => process.exit(1));
  });
  server.listen(socketPath, () => {
    void send({ ok: true }, server).then(() => process.exit(0));
  });
}
