// ssh2's client logged in to a node with a Ferry certificate, and its forward calls as promises:
// what the protocol-level tests drive the node with.

import fs from 'node:fs';
import { Client, type ParsedKey } from 'ssh2';
import { certifiedKey, offerKeyOnce, parseFirstKey } from '../../src/protocol/ssh2-ext';

/** The private key in `keyFile`, shown as the certificate in KEYFILE-cert.pub beside it. */
export function certifiedKeyFile(keyFile: string): ParsedKey {
  const key = parseFirstKey(fs.readFileSync(keyFile));
  if (key instanceof Error) throw key;
  return certifiedKey(key, fs.readFileSync(`${keyFile}-cert.pub`, 'utf8'), `${keyFile}-cert.pub`);
}

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
