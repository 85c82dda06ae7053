// ssh2's client logged in to a node with a Ferry certificate, and its forward calls as promises:
// what the protocol-level tests drive the node with.

import { Client, type ParsedKey } from 'ssh2';
import { offerKeyOnce } from '../../src/protocol/ssh2-ext';

export function connect(port: number, login: string, key: ParsedKey, readyTimeout?: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: '127.0.0.1', port, username: login, strictVendor: false, authHandler: offerKeyOnce(login, key), ...(readyTimeout === undefined ? {} : { readyTimeout }) });
  });
}

export const forwardIn = (c: Client, bind: string, port: number) =>
  new Promise<number>((resolve, reject) => c.forwardIn(bind, port, (err, real) => (err ? reject(err) : resolve(real))));
