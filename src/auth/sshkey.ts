// Key files in OpenSSH's own format ("openssh-key-v1", PROTOCOL.key in OpenSSH), written from
// node's crypto keys. ssh2's generateKeyPairSync strips leading zero bytes from an ed25519
// public key, so one key in 256 it makes is one its own parser rejects: a node whose host key
// was such a key could never start (https://github.com/mscdex/ssh2/issues/1390, still open).

import crypto, { type KeyObject } from 'node:crypto';
import { ValidationError } from '../errors';
import { ed25519PublicBlob, formatAuthorizedKeyLine, sshString, sshUint32 } from './sshcert';

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const BLOCK = 8; // the "none" cipher's block size

/** An unencrypted OpenSSH private key file for an ed25519 key. */
export function openSshEd25519PrivateKey(privateKey: KeyObject, comment = ''): string {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ValidationError(`expected an ed25519 private key, got ${privateKey.asymmetricKeyType ?? privateKey.type}`);
  }
  const { d, x } = privateKey.export({ format: 'jwk' });
  if (d === undefined || x === undefined) throw new ValidationError('ed25519 key without its private or public part');
  const seed = Buffer.from(d, 'base64url');
  const pub = Buffer.from(x, 'base64url');
  const check = crypto.randomBytes(4);
  const parts = [check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)];
  let body = Buffer.concat(parts);
  const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
  body = Buffer.concat([body, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const file = Buffer.concat([
    MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    sshUint32(1),
    sshString(ed25519PublicBlob(privateKey)),
    sshString(body),
  ]);
  const lines = file.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A new ed25519 key pair as an OpenSSH private key file and an authorized_keys line. */
export function generateEd25519(comment = ''): { private: string; public: string } {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  return {
    private: openSshEd25519PrivateKey(privateKey, comment),
    public: formatAuthorizedKeyLine('ssh-ed25519', ed25519PublicBlob(privateKey), comment || undefined),
  };
}
