// The client's identity: a private key and, beside it, the OpenSSH certificate the cluster
// signed for it (KEY-cert.pub, as ssh looks for it), offered through certifiedKey().

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { utils, type ParsedKey } from 'ssh2';
import { ValidationError } from '../errors';
import { certifiedKey } from '../protocol/ssh2-ext';

export interface ClientIdentity {
  keyFile: string;
  certFile: string | undefined;
  /** The certificate if there is one, else the plain key. */
  key: ParsedKey;
  /** What is offered, in order: the certificate (if any), then the plain key, as ssh does. */
  keys: ParsedKey[];
  /** What the user sees in -v output. */
  description: string;
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * Loads -i KEYFILE (or ssh's default key names) and its certificate: -o CertificateFile, else
 * the first of ssh_config's CertificateFiles that exists and certifies this key (as ssh pairs
 * them), else KEYFILE-cert.pub beside it, if any.
 */
export function loadIdentity(keyFile: string | undefined, certFile: string | undefined, configCerts: readonly string[] = []): ClientIdentity {
  const candidates = keyFile ? [expandHome(keyFile)] : DEFAULT_KEYS.map((k) => path.join(os.homedir(), '.ssh', k));
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) {
    throw new ValidationError(keyFile ? `Warning: Identity file ${keyFile} not accessible: No such file or directory.` : 'no identity: pass -i KEYFILE (and keep KEYFILE-cert.pub beside it)');
  }
  const parsed = utils.parseKey(fs.readFileSync(file));
  if (parsed instanceof Error) throw new ValidationError(`${file}: cannot read the private key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (!key.isPrivateKey()) throw new ValidationError(`${file}: not a private key`);
  if (!certFile) {
    for (const candidate of configCerts.map(expandHome).filter((f) => fs.existsSync(f))) {
      try {
        return certified(file, key, candidate);
      } catch {
        // a certificate for another identity, or none: ssh passes over it too
      }
    }
  }
  const certPath = certFile ? expandHome(certFile) : `${file}-cert.pub`;
  if (!fs.existsSync(certPath)) {
    if (certFile) throw new ValidationError(`certificate file ${certFile} not found`);
    return { keyFile: file, certFile: undefined, key, keys: [key], description: `${file} (${key.type}, no certificate)` };
  }
  return certified(file, key, certPath);
}

/** The key with its certificate; throws when the certificate is not one, or is for another key. */
function certified(file: string, key: ParsedKey, certPath: string): ClientIdentity {
  const certKey = certifiedKey(key, fs.readFileSync(certPath, 'utf8'), certPath);
  return { keyFile: file, certFile: certPath, key: certKey, keys: [certKey, key], description: `${file} with certificate ${certPath}` };
}

export function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

