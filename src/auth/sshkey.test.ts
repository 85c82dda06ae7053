import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { utils, type ParsedKey } from 'ssh2';
import { ValidationError } from '../errors';
import { ed25519Blob, ed25519PublicBlob, formatAuthorizedKeyLine } from './sshcert';
import { generateEd25519, newEd25519, openSshEd25519PrivateKey, type Ed25519Pair } from './sshkey';

function parsed(file: string): ParsedKey {
  const key = utils.parseKey(file);
  assert.ok(!(key instanceof Error), key instanceof Error ? key.message : '');
  return (Array.isArray(key) ? key[0] : key) as ParsedKey;
}

/** A key whose public half starts with a zero byte: the one ssh2's own generator gets wrong. */
function keyWithLeadingZero(): Ed25519Pair {
  for (;;) {
    const pair = newEd25519();
    if (pair.pub[0] === 0) return pair;
  }
}

describe('ed25519 keys and OpenSSH private key files', () => {
  it('makes pairs whose key objects, seed and public key agree', () => {
    const pair = newEd25519();
    assert.deepEqual(ed25519PublicBlob(pair.publicKey), ed25519Blob(pair.pub));
    assert.deepEqual(ed25519PublicBlob(pair.privateKey), ed25519Blob(pair.pub));
    const data = crypto.randomBytes(32);
    assert.ok(crypto.verify(null, data, pair.publicKey, crypto.sign(null, data, pair.privateKey)));
  });

  it('writes a key that ssh2 parses and signs with, and ssh-keygen reads back, leading zero included', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sshkey-'));
    try {
      for (const pair of [keyWithLeadingZero(), newEd25519()]) {
        const file = openSshEd25519PrivateKey(pair.seed, pair.pub, 'node@test');
        const k = parsed(file);
        assert.equal(k.type, 'ssh-ed25519');
        assert.deepEqual(k.getPublicSSH(), ed25519Blob(pair.pub));
        const data = crypto.randomBytes(64);
        assert.ok(crypto.verify(null, data, pair.publicKey, k.sign(data)));
        const p = path.join(dir, 'key');
        fs.writeFileSync(p, file, { mode: 0o600 });
        const publicLine = execFileSync('/usr/bin/ssh-keygen', ['-y', '-f', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
        assert.equal(publicLine.split(' ').slice(0, 2).join(' '), formatAuthorizedKeyLine('ssh-ed25519', ed25519Blob(pair.pub)));
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

  it('refuses raw keys of the wrong size', () => {
    assert.throws(() => openSshEd25519PrivateKey(Buffer.alloc(31), Buffer.alloc(32)), ValidationError);
    assert.throws(() => ed25519Blob(Buffer.alloc(33)), ValidationError);
  });
});
