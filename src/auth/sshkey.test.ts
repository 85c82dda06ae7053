import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { utils, type ParsedKey } from 'ssh2';
import { ValidationError } from '../errors';
import { ed25519PublicBlob, formatAuthorizedKeyLine } from './sshcert';
import { generateEd25519, openSshEd25519PrivateKey } from './sshkey';

function parsed(file: string): ParsedKey {
  const key = utils.parseKey(file);
  assert.ok(!(key instanceof Error), key instanceof Error ? key.message : '');
  return (Array.isArray(key) ? key[0] : key) as ParsedKey;
}

/** A key whose public half starts with a zero byte: the one ssh2's own generator gets wrong. */
function keyWithLeadingZero(): KeyObject {
  for (;;) {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    if (ed25519PublicBlob(privateKey)[4 + 11 + 4] === 0) return privateKey;
  }
}

describe('OpenSSH private key files', () => {
  it('writes a key that ssh2 parses and signs with, and ssh-keygen reads back, leading zero included', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sshkey-'));
    try {
      for (const key of [keyWithLeadingZero(), crypto.generateKeyPairSync('ed25519').privateKey]) {
        const file = openSshEd25519PrivateKey(key, 'node@test');
        const k = parsed(file);
        assert.equal(k.type, 'ssh-ed25519');
        assert.deepEqual(k.getPublicSSH(), ed25519PublicBlob(key));
        const data = crypto.randomBytes(64);
        assert.ok(crypto.verify(null, data, crypto.createPublicKey(key), k.sign(data)));
        const p = path.join(dir, 'key');
        fs.writeFileSync(p, file, { mode: 0o600 });
        const publicLine = execFileSync('/usr/bin/ssh-keygen', ['-y', '-f', p], { encoding: 'utf8' }).trim();
        assert.equal(publicLine.split(' ').slice(0, 2).join(' '), formatAuthorizedKeyLine('ssh-ed25519', ed25519PublicBlob(key)));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generates pairs that always parse (ssh2 generateKeyPairSync fails about one in 256)', () => {
    for (let i = 0; i < 1000; i++) {
      const pair = generateEd25519('x');
      assert.deepEqual(parsed(pair.private).getPublicSSH().toString('base64'), pair.public.split(' ')[1]);
    }
  });

  it('refuses a key that is not a private ed25519 key', () => {
    assert.throws(() => openSshEd25519PrivateKey(crypto.generateKeyPairSync('ed25519').publicKey), ValidationError);
    assert.throws(() => openSshEd25519PrivateKey(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), ValidationError);
  });
});
