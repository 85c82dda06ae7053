// The auth service's listener on auth_service.listen_addr: a read-only HTTP endpoint for
// health checks and for fetching the CA public keys (what `ferryctl auth export` prints).

import http from 'node:http';
import type { HostPort } from '../config/config';
import type { AuthService } from './service';

export async function startAuthHttp(auth: AuthService, listen: HostPort): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed\n');
    if (req.url === '/healthz') return send(200, `ok ${auth.clusterName}\n`);
    const ca = /^\/v1\/ca\/(user|host)$/.exec(req.url ?? '');
    if (ca) {
      auth.exportCA(ca[1] === 'host' ? 'host' : 'user').then((text) => send(200, text), (err: unknown) => send(500, `${String(err)}\n`));
      return;
    }
    send(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
