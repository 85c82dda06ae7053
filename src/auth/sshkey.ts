// Ed25519 keys made safely, and key files in OpenSSH's own format ("openssh-key-v1",
// PROTOCOL.key in OpenSSH).
//
// Two library bugs shape this file:
// - ssh2's generateKeyPairSync strips leading zero bytes from an ed25519 public key, so one key
//   in 256 it makes is one its own parser rejects: a node whose host key was such a key could
//   never start (https://github.com/mscdex/ssh2/issues/1390, still open).
// - Node 20 can deadlock when a key object that crypto.generateKeyPairSync just returned is
//   exported (JWK) while a garbage collection destroys the generation job, which shares the
//   key's lock (seen: the main thread stuck in ~KeyGenJob under ExportJWKEdKey). So keys are
//   generated straight into DER and the key objects made from that, with locks of their own.

import crypto, { type KeyObject } from 'node:crypto';
import { ValidationError } from '../errors';
import { ed25519Blob, formatAuthorizedKeyLine, sshString, sshUint32 } from './sshcert';

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const BLOCK = 8; // the "none" cipher's block size
// RFC 8410 encodings of an ed25519 key: a fixed prefix, then the 32 raw bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface Ed25519Pair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The 32-byte seed (RFC 8032 private key). */
  seed: Buffer;
  /** The 32-byte public key. */
  pub: Buffer;
}

/** A new ed25519 key pair (see the note above on why not crypto.generateKeyPairSync alone). */
export function newEd25519(): Ed25519Pair {
  const der = crypto.generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  });
  if (!der.privateKey.subarray(0, PKCS8_PREFIX.length).equals(PKCS8_PREFIX) || der.privateKey.length !== PKCS8_PREFIX.length + 32
    || !der.publicKey.subarray(0, SPKI_PREFIX.length).equals(SPKI_PREFIX) || der.publicKey.length !== SPKI_PREFIX.length + 32) {
    throw new ValidationError('unexpected ed25519 key encoding from the crypto library');
  }
  return {
    privateKey: crypto.createPrivateKey({ key: der.privateKey, format: 'der', type: 'pkcs8' }),
    publicKey: crypto.createPublicKey({ key: der.publicKey, format: 'der', type: 'spki' }),
    seed: der.privateKey.subarray(PKCS8_PREFIX.length),
    pub: der.publicKey.subarray(SPKI_PREFIX.length),
  };
}

/** An unencrypted OpenSSH private key file for the raw ed25519 seed and public key. */
export function openSshEd25519PrivateKey(seed: Buffer, pub: Buffer, comment = ''): string {
  if (seed.length !== 32) throw new ValidationError(`an ed25519 seed is 32 bytes, not ${seed.length}`);
  const check = crypto.randomBytes(4);
  let body = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
  body = Buffer.concat([body, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const file = Buffer.concat([
    MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    sshUint32(1),
    sshString(ed25519Blob(pub)),
    sshString(body),
  ]);
  const lines = file.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A new ed25519 key pair as an OpenSSH private key file and an authorized_keys line. */
export function generateEd25519(comment = ''): { private: string; public: string } {
  const { seed, pub } = newEd25519();
  return {
    private: openSshEd25519PrivateKey(seed, pub, comment),
    public: formatAuthorizedKeyLine('ssh-ed25519', ed25519Blob(pub), comment || undefined),
  };
}
