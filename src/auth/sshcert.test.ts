// Tests for sshcert: wire helpers, keys, signatures and certificates, checked against the
// real ssh-keygen in both directions (OpenSSH reads what we sign, we read what it signs).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CertificateError, ValidationError } from '../errors';
import {
  CERT_TIME_INFINITY,
  CertChecker,
  type CertCheckerPolicy,
  type CertCheckRequest,
  type CertificateSpec,
  SshReader,
  type SshPublicKey,
  checkSshSignature,
  ed25519PublicBlob,
  fingerprintSha256,
  formatAuthorizedKeyLine,
  parseAuthorizedKeyLine,
  parseCertificate,
  parsePublicKeyBlob,
  signCertificate,
  signEd25519,
  sshMpint,
  sshNameList,
  sshString,
  sshUint32,
  sshUint64,
  verifyCertificateAuthSignature,
  verifySshSignature,
} from './sshcert';
import { newEd25519 } from './sshkey';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
let dir = '';

before(() => {
  // Interop tests must run, not skip: install OpenSSH when it is missing.
  if (!fs.existsSync(SSH_KEYGEN)) {
    execFileSync('apt-get', ['install', '-y', 'openssh-client'], { stdio: 'inherit' });
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sshcert-'));
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Helpers ---------------------------------------------------------------------------------

/** Runs ssh-keygen in the temp dir (UTC, so -L prints UTC times); failures carry its output. */
function sshKeygen(args: string[]): string {
  const res = spawnSync(SSH_KEYGEN, args, { cwd: dir, env: { ...process.env, TZ: 'UTC' }, encoding: 'utf8' });
  if (res.status !== 0) {
    throw new Error(`ssh-keygen ${args.join(' ')} exited ${String(res.status)}:\n${res.stderr}${res.stdout}`);
  }
  return res.stdout;
}

function tryKeygen(args: string[]): { status: number | null; output: string } {
  const res = spawnSync(SSH_KEYGEN, args, { cwd: dir, env: { ...process.env, TZ: 'UTC' }, encoding: 'utf8' });
  return { status: res.status, output: `${res.stderr}${res.stdout}` };
}

const made = new Set<string>();
/** Makes an OpenSSH key pair once per name. */
function keygen(name: string, type: string, bits?: number): void {
  if (made.has(name)) return;
  const args = ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', name];
  if (bits !== undefined) args.push('-b', String(bits));
  sshKeygen(args);
  made.add(name);
}

function readLine(file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
}

function readBlob(file: string): Buffer {
  return parseAuthorizedKeyLine(readLine(file)).blob;
}

function writeLine(file: string, line: string): string {
  const full = path.join(dir, file);
  fs.writeFileSync(full, `${line}\n`);
  return full;
}

let sigCounter = 0;
/**
 * Signs with `ssh-keygen -Y sign` and unwraps the SSHSIG envelope (OpenSSH PROTOCOL.sshsig),
 * giving a real OpenSSH signature blob and the exact bytes it covers.
 */
function opensshSign(keyName: string, message: Buffer): { signature: Buffer; signedData: Buffer } {
  const msgFile = path.join(dir, `msg-${++sigCounter}`);
  fs.writeFileSync(msgFile, message);
  sshKeygen(['-Y', 'sign', '-f', keyName, '-n', 'ferry-test', msgFile]);
  const armored = fs.readFileSync(`${msgFile}.sig`, 'utf8');
  const r = new SshReader(Buffer.from(armored.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
  assert.equal(r.readBytes(6, 'magic').toString(), 'SSHSIG');
  assert.equal(r.readUint32('version'), 1);
  r.readString('public key');
  const namespace = r.readString('namespace');
  const reserved = r.readString('reserved');
  const hashAlgorithm = r.readText('hash algorithm');
  const signature = Buffer.from(r.readString('signature'));
  r.expectEnd('sshsig');
  const signedData = Buffer.concat([
    Buffer.from('SSHSIG'),
    sshString(namespace),
    sshString(reserved),
    sshString(hashAlgorithm),
    sshString(crypto.createHash(hashAlgorithm).update(message).digest()),
  ]);
  return { signature, signedData };
}

/** SSH blob for a node public key, built independently of the module under test. */
function blobFromNode(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const b = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');
  if (jwk.kty === 'OKP') return Buffer.concat([sshString('ssh-ed25519'), sshString(b(jwk.x))]);
  if (jwk.kty === 'EC') {
    const curve = ({ 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' } as Record<string, string>)[jwk.crv ?? ''] ?? '';
    return Buffer.concat([
      sshString(`ecdsa-sha2-${curve}`),
      sshString(curve),
      sshString(Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)])),
    ]);
  }
  return Buffer.concat([sshString('ssh-rsa'), sshMpint(b(jwk.e)), sshMpint(b(jwk.n))]);
}

/** Encodes a node ECDSA signature (IEEE P1363 r||s) the SSH way: string algo, string(mpint r, mpint s). */
function ecdsaSshSignature(algorithm: string, p1363: Buffer): Buffer {
  const half = p1363.length / 2;
  const inner = Buffer.concat([sshMpint(p1363.subarray(0, half)), sshMpint(p1363.subarray(half))]);
  return Buffer.concat([sshString(algorithm), sshString(inner)]);
}

/** The signature bytes inside an SSH signature blob. */
function innerSignature(blob: Buffer): Buffer {
  const r = new SshReader(blob);
  r.readText('algorithm');
  return Buffer.from(r.readString('signature'));
}

function rsaSshSignature(algorithm: string, hash: string, key: KeyObject, data: Buffer): Buffer {
  return Buffer.concat([sshString(algorithm), sshString(crypto.sign(hash, data, key))]);
}

function assertCertError(fn: () => unknown, code: string, fragment: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CertificateError, `expected CertificateError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (typeof fragment === 'string') assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
    else assert.match(err.message, fragment);
    return true;
  });
}

function assertValidationError(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
    return true;
  });
}

// A Ferry CA made by node, as the auth service makes it.
const caPair = newEd25519();
const ca = { privateKey: caPair.privateKey, publicBlob: ed25519PublicBlob(caPair.publicKey) };
const userPair = newEd25519();
const userBlob = ed25519PublicBlob(userPair.publicKey);

const VALID_AFTER = new Date('2025-01-01T00:00:00Z');
const VALID_BEFORE = new Date('2026-01-01T00:00:00Z');
const DURING = new Date('2025-06-01T12:00:00Z');

function ferryCert(overrides: Partial<CertificateSpec> = {}): Buffer {
  return signCertificate(
    {
      publicKeyBlob: userBlob,
      type: 'user',
      keyId: 'alice',
      principals: ['alice', 'deploy'],
      validAfter: VALID_AFTER,
      validBefore: VALID_BEFORE,
      serial: 7n,
      extensions: [{ name: 'permit-pty', data: '' }],
      ...overrides,
    },
    ca,
  );
}

function checker(policy: Partial<CertCheckerPolicy> = {}): CertChecker {
  return new CertChecker({ now: () => DURING, isTrustedAuthority: (blob) => blob.equals(ca.publicBlob), ...policy });
}

const ALICE: CertCheckRequest = { principal: 'alice', certType: 'user', sourceAddress: '127.0.0.1' };

// Wire ------------------------------------------------------------------------------------

describe('wire helpers', () => {
  it('round-trips every type', () => {
    const buf = Buffer.concat([
      sshUint32(0),
      sshUint32(0xffffffff),
      sshUint64(0n),
      sshUint64(0xffffffffffffffffn),
      sshString('héllo'),
      sshString(Buffer.from([0, 1, 2])),
      sshNameList(['a', 'b-c']),
      sshNameList([]),
      sshMpint(Buffer.from([0x80])),
      sshMpint(Buffer.from([0, 0, 0x7f])),
      sshMpint(Buffer.alloc(0)),
      Buffer.from([1]),
    ]);
    const r = new SshReader(buf);
    assert.equal(r.readUint32('a'), 0);
    assert.equal(r.readUint32('b'), 0xffffffff);
    assert.equal(r.readUint64('c'), 0n);
    assert.equal(r.readUint64('d'), 0xffffffffffffffffn);
    assert.equal(r.readText('e'), 'héllo');
    assert.deepEqual(r.readString('f'), Buffer.from([0, 1, 2]));
    assert.deepEqual(r.readNameList('g'), ['a', 'b-c']);
    assert.deepEqual(r.readNameList('h'), []);
    assert.deepEqual(r.readMpint('i'), Buffer.from([0x80]));
    assert.deepEqual(r.readMpint('j'), Buffer.from([0x7f]));
    assert.deepEqual(r.readMpint('k'), Buffer.alloc(0));
    assert.equal(r.readBool('l'), true);
    assert.equal(r.remaining(), 0);
    r.expectEnd('buffer');
  });

  it('encodes mpints minimally, with a zero byte before a set top bit', () => {
    assert.deepEqual(sshMpint(Buffer.from([0x80])), Buffer.from([0, 0, 0, 2, 0, 0x80]));
    assert.deepEqual(sshMpint(Buffer.from([0, 0, 0x12])), Buffer.from([0, 0, 0, 1, 0x12]));
    assert.deepEqual(sshMpint(Buffer.from([0])), Buffer.from([0, 0, 0, 0]));
  });

  const pastTheEnd: { name: string; buf: Buffer; read: (r: SshReader) => unknown; fragment: string }[] = [
    { name: 'uint32 of 3 bytes', buf: Buffer.alloc(3), read: (r) => r.readUint32('port'), fragment: 'port is truncated' },
    { name: 'uint64 of 7 bytes', buf: Buffer.alloc(7), read: (r) => r.readUint64('serial'), fragment: 'serial is truncated' },
    { name: 'string length', buf: Buffer.alloc(2), read: (r) => r.readString('key id'), fragment: 'key id length is truncated' },
    { name: 'string body', buf: sshUint32(10), read: (r) => r.readString('key id'), fragment: 'key id is truncated: it needs 10 bytes but 0 remain' },
    { name: 'huge length', buf: sshUint32(0xffffffff), read: (r) => r.readString('blob'), fragment: 'blob is truncated' },
    { name: 'bool', buf: Buffer.alloc(0), read: (r) => r.readBool('flag'), fragment: 'flag is truncated' },
  ];
  for (const c of pastTheEnd) {
    it(`reading past the end names the field: ${c.name}`, () => {
      assertValidationError(() => c.read(new SshReader(c.buf)), c.fragment);
      const r = new SshReader(c.buf, (m) => new CertificateError('cert_malformed', m));
      assertCertError(() => c.read(r), 'cert_malformed', c.fragment);
    });
  }

  it('refuses negative mpints, bad UTF-8, NUL in text and trailing bytes', () => {
    assertValidationError(() => new SshReader(sshString(Buffer.from([0x80, 1]))).readMpint('rsa modulus'), 'rsa modulus is negative');
    assertValidationError(() => new SshReader(sshString(Buffer.from([0xff, 0xfe]))).readText('key id'), 'key id is not valid UTF-8');
    assertValidationError(() => new SshReader(sshString('a\0b')).readText('principal'), 'principal contains a NUL byte');
    assertValidationError(() => new SshReader(Buffer.alloc(2)).expectEnd('signature'), 'signature has 2 unexpected trailing bytes');
  });

  it('refuses out-of-range writes', () => {
    for (const n of [-1, 2 ** 32, 1.5, Number.NaN]) assertValidationError(() => sshUint32(n), 'uint32 out of range');
    for (const n of [-1n, 2n ** 64n]) assertValidationError(() => sshUint64(n), 'uint64 out of range');
    assertValidationError(() => sshNameList(['a,b']), 'has a comma');
  });
});

// Public keys -----------------------------------------------------------------------------

const OPENSSH_KEYS: { name: string; type: string; bits?: number; sshType: string; nodeType: string }[] = [
  { name: 'k-ed25519', type: 'ed25519', sshType: 'ssh-ed25519', nodeType: 'ed25519' },
  { name: 'k-p256', type: 'ecdsa', bits: 256, sshType: 'ecdsa-sha2-nistp256', nodeType: 'ec' },
  { name: 'k-p384', type: 'ecdsa', bits: 384, sshType: 'ecdsa-sha2-nistp384', nodeType: 'ec' },
  { name: 'k-p521', type: 'ecdsa', bits: 521, sshType: 'ecdsa-sha2-nistp521', nodeType: 'ec' },
  { name: 'k-rsa', type: 'rsa', bits: 2048, sshType: 'ssh-rsa', nodeType: 'rsa' },
];

describe('public keys', () => {
  for (const k of OPENSSH_KEYS) {
    it(`reads an OpenSSH ${k.sshType} key: type, comment, fingerprint, line round-trip`, () => {
      keygen(k.name, k.type, k.bits);
      const line = readLine(`${k.name}.pub`);
      const parsed = parseAuthorizedKeyLine(line);
      assert.equal(parsed.type, k.sshType);
      assert.equal(parsed.comment, `${k.name}@test`);
      const key = parsePublicKeyBlob(parsed.blob);
      assert.equal(key.type, k.sshType);
      assert.equal(key.keyObject.asymmetricKeyType, k.nodeType);
      // ssh-keygen -l prints "BITS SHA256:... COMMENT (TYPE)".
      const printed = sshKeygen(['-l', '-E', 'sha256', '-f', `${k.name}.pub`]).split(' ')[1];
      assert.equal(fingerprintSha256(parsed.blob), printed);
      assert.equal(formatAuthorizedKeyLine(parsed.type, parsed.blob, parsed.comment), line);
      // The KeyObject is the same key: same blob when rebuilt from node's own export.
      assert.deepEqual(blobFromNode(key.keyObject), parsed.blob);
    });

    it(`verifies a real OpenSSH ${k.sshType} signature (ssh-keygen -Y sign)`, () => {
      keygen(k.name, k.type, k.bits);
      const key = parsePublicKeyBlob(readBlob(`${k.name}.pub`));
      for (let i = 0; i < 4; i++) {
        const message = crypto.randomBytes(40 + i);
        const { signature, signedData } = opensshSign(k.name, message);
        const result = checkSshSignature(key, signature, signedData);
        assert.ok(result.valid, JSON.stringify(result));
        assert.equal(verifySshSignature(key, signature, Buffer.concat([signedData, Buffer.from([0])])), false);
      }
    });
  }

  it('makes ed25519 blobs OpenSSH reads, from public or private KeyObjects', () => {
    const pair = newEd25519();
    const blob = ed25519PublicBlob(pair.publicKey);
    assert.deepEqual(ed25519PublicBlob(pair.privateKey), blob);
    writeLine('node-ed25519.pub', formatAuthorizedKeyLine('ssh-ed25519', blob, 'made by node'));
    const printed = sshKeygen(['-l', '-E', 'sha256', '-f', 'node-ed25519.pub']);
    assert.match(printed, /^256 SHA256:\S+ made by node \(ED25519\)/);
    assert.equal(printed.split(' ')[1], fingerprintSha256(blob));
    assertValidationError(() => ed25519PublicBlob(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), 'expected an ed25519 key');
  });

  it('reads certificate lines too', () => {
    const blob = ferryCert();
    const parsed = parseAuthorizedKeyLine(`  ssh-ed25519-cert-v01@openssh.com ${blob.toString('base64')}   alice@cluster  two words `);
    assert.equal(parsed.type, 'ssh-ed25519-cert-v01@openssh.com');
    assert.deepEqual(parsed.blob, blob);
    assert.equal(parsed.comment, 'alice@cluster  two words');
  });

  const ed = ed25519PublicBlob(newEd25519().publicKey).toString('base64');
  const p256 = blobFromNode(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey).toString('base64');
  const badLines: { name: string; line: string; fragment: string }[] = [
    { name: 'empty', line: '', fragment: 'expected "TYPE BASE64 [COMMENT]"' },
    { name: 'type only', line: 'ssh-ed25519', fragment: 'expected "TYPE BASE64 [COMMENT]"' },
    { name: 'dsa', line: `ssh-dss ${ed}`, fragment: 'unsupported key type "ssh-dss"' },
    { name: 'options prefix', line: `from="10.0.0.1" ssh-ed25519 ${ed}`, fragment: 'options before the key are not accepted' },
    { name: 'junk base64', line: 'ssh-ed25519 AAAA*AAA', fragment: 'not valid base64' },
    { name: 'unpadded base64', line: `ecdsa-sha2-nistp256 ${p256.replace(/=+$/, '')}`, fragment: 'not valid base64' },
    { name: 'label differs from blob', line: `ssh-ed25519 ${p256}`, fragment: 'public key line' },
    { name: 'two lines', line: `ssh-ed25519 ${ed}\nssh-ed25519 ${ed}`, fragment: 'single line' },
    { name: 'broken cert', line: `ssh-ed25519-cert-v01@openssh.com ${ed}`, fragment: 'malformed certificate' },
  ];
  for (const c of badLines) {
    it(`refuses a bad key line: ${c.name}`, () => assertValidationError(() => parseAuthorizedKeyLine(c.line), c.fragment));
  }

  it('formatAuthorizedKeyLine refuses line breaks and a type that is not the blob\'s', () => {
    const blob = Buffer.from(ed, 'base64');
    assertValidationError(() => formatAuthorizedKeyLine('ssh-ed25519', blob, 'x\nssh-ed25519 AAAA evil'), 'line break');
    assertValidationError(() => formatAuthorizedKeyLine('ssh-rsa', blob), 'is ssh-ed25519, not ssh-rsa');
    assert.equal(formatAuthorizedKeyLine('ssh-ed25519', blob), `ssh-ed25519 ${ed}`);
  });

  const rsa512 = crypto.generateKeyPairSync('rsa', { modulusLength: 512 }).publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
  const badBlobs: { name: string; blob: Buffer; fragment: string }[] = [
    { name: 'empty', blob: Buffer.alloc(0), fragment: 'key type length is truncated' },
    { name: 'unknown type', blob: sshString('ssh-dss'), fragment: 'unsupported key type "ssh-dss"' },
    { name: 'certificate', blob: ferryCert(), fragment: 'expected a plain public key' },
    { name: 'short ed25519', blob: Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(31))]), fragment: '31 bytes, not 32' },
    { name: 'trailing byte', blob: Buffer.concat([Buffer.from(ed, 'base64'), Buffer.from([0])]), fragment: '1 unexpected trailing bytes' },
    {
      name: 'ecdsa curve mismatch',
      blob: Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp384'), sshString(point)]),
      fragment: 'curve "nistp384" does not match',
    },
    {
      name: 'compressed ecdsa point',
      blob: Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(Buffer.alloc(33, 2))]),
      fragment: 'not an uncompressed nistp256 point',
    },
    {
      name: 'ecdsa point off the curve',
      blob: Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point)]),
      fragment: 'not a valid public key',
    },
    {
      name: 'rsa 512 bits',
      blob: Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.from(rsa512.e ?? '', 'base64url')), sshMpint(Buffer.from(rsa512.n ?? '', 'base64url'))]),
      fragment: 'rsa modulus is 512 bits',
    },
    {
      name: 'rsa negative modulus',
      blob: Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.from([1, 0, 1])), sshString(Buffer.alloc(256, 0xff))]),
      fragment: 'rsa modulus is negative',
    },
    {
      name: 'rsa even exponent',
      blob: Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.from([2])), sshMpint(Buffer.alloc(256, 0x7f))]),
      fragment: 'exponent must be odd',
    },
  ];
  for (const c of badBlobs) {
    it(`refuses a bad key blob: ${c.name}`, () => assertValidationError(() => parsePublicKeyBlob(c.blob), c.fragment));
  }
});

// Signatures ------------------------------------------------------------------------------

describe('signatures', () => {
  const data = Buffer.from('session id and userauth request');
  const edPair = newEd25519();
  const edKey = parsePublicKeyBlob(blobFromNode(edPair.publicKey));
  const ecPairs = {
    'ecdsa-sha2-nistp256': crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    'ecdsa-sha2-nistp384': crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    'ecdsa-sha2-nistp521': crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  };
  const ecHash = { 'ecdsa-sha2-nistp256': 'sha256', 'ecdsa-sha2-nistp384': 'sha384', 'ecdsa-sha2-nistp521': 'sha512' };
  const rsaPair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaKey = parsePublicKeyBlob(blobFromNode(rsaPair.publicKey));

  it('ed25519: signEd25519 verifies, other data does not', () => {
    const sig = signEd25519(edPair.privateKey, data);
    assert.deepEqual(checkSshSignature(edKey, sig, data), { valid: true, algorithm: 'ssh-ed25519' });
    assert.equal(verifySshSignature(edKey, sig, Buffer.from('other')), false);
    assertValidationError(() => signEd25519(edPair.publicKey, data), 'expected an ed25519 private key');
    assertValidationError(() => signEd25519(rsaPair.privateKey, data), 'expected an ed25519 private key');
  });

  for (const [algorithm, pair] of Object.entries(ecPairs) as [keyof typeof ecPairs, (typeof ecPairs)[keyof typeof ecPairs]][]) {
    it(`${algorithm}: node signatures encoded as SSH mpints verify (every r/s shape)`, () => {
      const key = parsePublicKeyBlob(blobFromNode(pair.publicKey));
      // Enough signatures to hit r and s with the top bit set (mpint zero prefix) and short ones.
      for (let i = 0; i < 200; i++) {
        const msg = Buffer.from(`message ${i}`);
        const p1363 = crypto.sign(ecHash[algorithm], msg, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
        const sig = ecdsaSshSignature(algorithm, p1363);
        assert.ok(verifySshSignature(key, sig, msg), `signature ${i}`);
        assert.equal(verifySshSignature(key, sig, data), false);
      }
    });
  }

  for (const [algorithm, hash] of [['rsa-sha2-256', 'sha256'], ['rsa-sha2-512', 'sha512'], ['ssh-rsa', 'sha1']] as const) {
    it(`${algorithm}: node signatures verify, and the hash is bound to the name`, () => {
      const sig = rsaSshSignature(algorithm, hash, rsaPair.privateKey, data);
      assert.deepEqual(checkSshSignature(rsaKey, sig, data), { valid: true, algorithm });
      assert.equal(verifySshSignature(rsaKey, sig, Buffer.from('other')), false);
      // Same bytes under another rsa algorithm name must fail: the name picks the hash.
      const other = algorithm === 'rsa-sha2-256' ? 'rsa-sha2-512' : 'rsa-sha2-256';
      const relabelled = Buffer.concat([sshString(other), sshString(innerSignature(sig))]);
      assert.equal(verifySshSignature(rsaKey, relabelled, data), false);
    });
  }

  it('accepts an rsa signature shorter than the modulus, as OpenSSH does', () => {
    // Find a signature with a leading zero byte, then strip it.
    for (let i = 0; i < 2000; i++) {
      const msg = Buffer.from(`m${i}`);
      const raw = crypto.sign('sha256', msg, rsaPair.privateKey);
      if (raw[0] !== 0) continue;
      const sig = Buffer.concat([sshString('rsa-sha2-256'), sshString(raw.subarray(1))]);
      assert.ok(verifySshSignature(rsaKey, sig, msg));
      return;
    }
    assert.fail('no signature with a leading zero byte in 2000 tries');
  });

  const edSig = signEd25519(edPair.privateKey, data);
  const withAlgorithm = (algorithm: string, bytes: Buffer): Buffer => Buffer.concat([sshString(algorithm), sshString(bytes)]);
  const rsaSig = rsaSshSignature('rsa-sha2-256', 'sha256', rsaPair.privateKey, data);
  const p256Key = parsePublicKeyBlob(blobFromNode(ecPairs['ecdsa-sha2-nistp256'].publicKey));
  const p256Sig = ecdsaSshSignature(
    'ecdsa-sha2-nistp256',
    crypto.sign('sha256', data, { key: ecPairs['ecdsa-sha2-nistp256'].privateKey, dsaEncoding: 'ieee-p1363' }),
  );
  const refused: { name: string; key: SshPublicKey; sig: Buffer; fragment: string }[] = [
    { name: 'ed25519 key, rsa algorithm', key: edKey, sig: withAlgorithm('rsa-sha2-256', innerSignature(edSig)), fragment: 'rsa-sha2-256 does not fit a ssh-ed25519 key' },
    { name: 'rsa key, ed25519 signature', key: rsaKey, sig: edSig, fragment: 'ssh-ed25519 does not fit a ssh-rsa key' },
    { name: 'ed25519 key, rsa signature', key: edKey, sig: rsaSig, fragment: 'does not fit a ssh-ed25519 key' },
    { name: 'p256 key, p384 name', key: p256Key, sig: withAlgorithm('ecdsa-sha2-nistp384', innerSignature(p256Sig)), fragment: 'ecdsa-sha2-nistp384 does not fit a ecdsa-sha2-nistp256 key' },
    { name: 'p256 key, ed25519 signature', key: p256Key, sig: edSig, fragment: 'does not fit a ecdsa-sha2-nistp256 key' },
    { name: 'empty blob', key: edKey, sig: Buffer.alloc(0), fragment: 'malformed signature' },
    { name: 'truncated', key: edKey, sig: edSig.subarray(0, edSig.length - 1), fragment: 'malformed signature' },
    { name: 'trailing byte', key: edKey, sig: Buffer.concat([edSig, Buffer.from([0])]), fragment: 'trailing' },
    { name: 'short ed25519', key: edKey, sig: withAlgorithm('ssh-ed25519', Buffer.alloc(63)), fragment: '63 bytes, not 64' },
    { name: 'ecdsa trailing inside', key: p256Key, sig: withAlgorithm('ecdsa-sha2-nistp256', Buffer.concat([innerSignature(p256Sig), Buffer.from([0])])), fragment: 'trailing' },
    { name: 'ecdsa r too large', key: p256Key, sig: withAlgorithm('ecdsa-sha2-nistp256', Buffer.concat([sshMpint(Buffer.alloc(33, 1)), sshMpint(Buffer.from([1]))])), fragment: 'too large' },
    { name: 'rsa longer than modulus', key: rsaKey, sig: withAlgorithm('rsa-sha2-256', Buffer.alloc(257, 1)), fragment: 'longer than the modulus' },
  ];
  for (const c of refused) {
    it(`refuses: ${c.name}`, () => {
      const result = checkSshSignature(c.key, c.sig, data);
      assert.equal(result.valid, false);
      assert.ok(!result.valid && result.reason.includes(c.fragment), JSON.stringify(result));
      assert.equal(verifySshSignature(c.key, c.sig, data), false);
    });
  }
});

// Certificates we sign, read by OpenSSH -------------------------------------------------------

describe('certificates signed by Ferry, read by ssh-keygen', () => {
  it('ssh-keygen -L lists our principals, key id, validity, options and sorted extensions', () => {
    keygen('u-ed25519', 'ed25519');
    const key = parseAuthorizedKeyLine(readLine('u-ed25519.pub'));
    const blob = signCertificate(
      {
        publicKeyBlob: key.blob,
        type: 'user',
        keyId: 'alice',
        principals: ['alice', 'deploy'],
        validAfter: VALID_AFTER,
        validBefore: VALID_BEFORE,
        serial: 12345n,
        criticalOptions: [{ name: 'source-address', data: '10.0.0.0/8,::1' }],
        // Given unsorted: the signer must sort them.
        extensions: [
          { name: 'permit-pty', data: '' },
          { name: 'permit-port-forwarding', data: '' },
          { name: 'ferry-roles@ferry.dev', data: 'dev,ops' },
        ],
      },
      ca,
    );
    writeLine('u-ed25519-cert.pub', formatAuthorizedKeyLine('ssh-ed25519-cert-v01@openssh.com', blob, 'alice@test'));
    const out = sshKeygen(['-L', '-f', 'u-ed25519-cert.pub']);
    const lines = out.split('\n').map((l) => l.trim());
    assert.ok(lines.includes('Type: ssh-ed25519-cert-v01@openssh.com user certificate'), out);
    assert.ok(lines.includes(`Signing CA: ED25519 ${fingerprintSha256(ca.publicBlob)} (using ssh-ed25519)`), out);
    assert.ok(lines.includes(`Public key: ED25519-CERT ${fingerprintSha256(key.blob)}`), out);
    assert.ok(lines.includes('Key ID: "alice"'), out);
    assert.ok(lines.includes('Serial: 12345'), out);
    assert.ok(lines.includes('Valid: from 2025-01-01T00:00:00 to 2026-01-01T00:00:00'), out);
    const section = (title: string): string[] => {
      const start = lines.indexOf(title);
      assert.notEqual(start, -1, `no "${title}" in:\n${out}`);
      const rest = lines.slice(start + 1);
      const end = rest.findIndex((l) => /^[A-Z][A-Za-z ]+:/.test(l) || l === '');
      return end === -1 ? rest : rest.slice(0, end);
    };
    assert.deepEqual(section('Principals:'), ['alice', 'deploy']);
    assert.deepEqual(section('Critical Options:'), ['source-address 10.0.0.0/8,::1']);
    const extensions = section('Extensions:');
    assert.equal(extensions.length, 3, out);
    assert.match(extensions[0] ?? '', /^ferry-roles@ferry\.dev /);
    assert.deepEqual(extensions.slice(1), ['permit-port-forwarding', 'permit-pty']);
  });

  it('ssh-keygen -L checks the CA signature, so a tampered certificate of ours is refused', () => {
    const blob = ferryCert();
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    writeLine('tampered-cert.pub', formatAuthorizedKeyLine('ssh-ed25519-cert-v01@openssh.com', tampered));
    assert.notEqual(tryKeygen(['-L', '-f', 'tampered-cert.pub']).status, 0);
    writeLine('good-cert.pub', formatAuthorizedKeyLine('ssh-ed25519-cert-v01@openssh.com', blob));
    assert.equal(tryKeygen(['-L', '-f', 'good-cert.pub']).status, 0);
  });

  for (const k of OPENSSH_KEYS.filter((x) => x.sshType !== 'ssh-ed25519')) {
    it(`certifies a ${k.sshType} key in a form ssh-keygen reads, and we read back`, () => {
      keygen(k.name, k.type, k.bits);
      const key = parseAuthorizedKeyLine(readLine(`${k.name}.pub`));
      const blob = ferryCert({ publicKeyBlob: key.blob, type: 'host', principals: ['node1.example.com'] });
      const certType = `${k.sshType}-cert-v01@openssh.com`;
      writeLine(`${k.name}-ferry-cert.pub`, formatAuthorizedKeyLine(certType, blob));
      const out = sshKeygen(['-L', '-f', `${k.name}-ferry-cert.pub`]);
      assert.ok(out.includes(`Type: ${certType} host certificate`), out);
      const cert = parseCertificate(blob);
      assert.equal(cert.certType, certType);
      assert.deepEqual(cert.key.blob, key.blob);
      checker().check(cert, { principal: 'node1.example.com', certType: 'host' });
    });
  }

  it('parses back exactly what it signed', () => {
    const blob = ferryCert({
      criticalOptions: [{ name: 'source-address', data: '127.0.0.1' }],
      extensions: [
        { name: 'permit-pty', data: '' },
        { name: 'ferry-roles@ferry.dev', data: 'dev' },
      ],
    });
    const cert = parseCertificate(blob);
    assert.equal(cert.certType, 'ssh-ed25519-cert-v01@openssh.com');
    assert.equal(cert.nonce.length, 32);
    assert.deepEqual(cert.key.blob, userBlob);
    assert.equal(cert.serial, 7n);
    assert.equal(cert.type, 'user');
    assert.equal(cert.keyId, 'alice');
    assert.deepEqual(cert.principals, ['alice', 'deploy']);
    assert.equal(cert.validAfter, BigInt(VALID_AFTER.getTime() / 1000));
    assert.equal(cert.validBefore, BigInt(VALID_BEFORE.getTime() / 1000));
    assert.deepEqual(cert.criticalOptions, [{ name: 'source-address', data: '127.0.0.1' }]);
    assert.deepEqual(cert.extensions, [
      { name: 'ferry-roles@ferry.dev', data: 'dev' },
      { name: 'permit-pty', data: '' },
    ]);
    assert.deepEqual(cert.signatureKey.blob, ca.publicBlob);
    assert.deepEqual(Buffer.concat([cert.signedBytes, sshString(cert.signature)]), blob);
    checker().check(cert, ALICE);
    // A random serial when none is given.
    assert.notEqual(parseCertificate(ferryCert({ serial: undefined })).serial, parseCertificate(ferryCert({ serial: undefined })).serial);
  });

  const otherCa = newEd25519();
  const badSpecs: { name: string; spec: Partial<CertificateSpec>; caKey?: typeof ca; fragment: string }[] = [
    { name: 'no principals', spec: { principals: [] }, fragment: 'needs at least one principal' },
    { name: 'empty principal', spec: { principals: [''] }, fragment: 'principals must be non-empty' },
    { name: 'empty key id', spec: { keyId: '' }, fragment: 'key id must be non-empty' },
    { name: 'duplicate extension', spec: { extensions: [{ name: 'permit-pty', data: '' }, { name: 'permit-pty', data: '' }] }, fragment: 'extension "permit-pty" is given twice' },
    { name: 'NUL in option', spec: { criticalOptions: [{ name: 'force-command', data: 'a\0b' }] }, fragment: 'NUL' },
    { name: 'validity reversed', spec: { validAfter: VALID_BEFORE, validBefore: VALID_AFTER }, fragment: 'validBefore must be at least a second after validAfter' },
    { name: 'invalid date', spec: { validBefore: new Date('nope') }, fragment: 'validBefore: must be a valid date' },
    { name: 'before 1970', spec: { validAfter: new Date(-1000) }, fragment: 'validAfter: must be a valid date after 1970' },
    { name: 'garbage key', spec: { publicKeyBlob: Buffer.from('garbage') }, fragment: 'public key:' },
    { name: 'certificate as key', spec: { publicKeyBlob: ferryCert() }, fragment: 'expected a plain public key' },
    { name: 'CA halves differ', spec: {}, caKey: { privateKey: otherCa.privateKey, publicBlob: ca.publicBlob }, fragment: 'CA private key does not match' },
    {
      name: 'non-ed25519 CA',
      spec: {},
      caKey: { privateKey: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, publicBlob: ca.publicBlob },
      fragment: 'expected an ed25519 key',
    },
  ];
  for (const c of badSpecs) {
    it(`signCertificate refuses: ${c.name}`, () => {
      assertValidationError(
        () =>
          signCertificate(
            {
              publicKeyBlob: userBlob,
              type: 'user',
              keyId: 'alice',
              principals: ['alice'],
              validAfter: VALID_AFTER,
              validBefore: VALID_BEFORE,
              ...c.spec,
            },
            c.caKey ?? ca,
          ),
        c.fragment,
      );
    });
  }
});

// Certificates OpenSSH signs, read by us ------------------------------------------------------

describe('certificates signed by ssh-keygen, read by Ferry', () => {
  let sshCa: Buffer = Buffer.alloc(0);
  const trustSshCa = (policy: Partial<CertCheckerPolicy> = {}): CertChecker =>
    new CertChecker({ now: () => new Date(), isTrustedAuthority: (blob) => blob.equals(sshCa), ...policy });

  before(() => {
    keygen('ssh-ca', 'ed25519');
    sshCa = readBlob('ssh-ca.pub');
  });

  it('parses and accepts `ssh-keygen -s ca -I id -n alice,bob -V +1h -O source-address=127.0.0.1/32 -O permit-pty`', () => {
    keygen('alice', 'ed25519');
    sshKeygen(['-q', '-s', 'ssh-ca', '-I', 'id', '-n', 'alice,bob', '-V', '+1h', '-z', '42', '-O', 'source-address=127.0.0.1/32', '-O', 'permit-pty', 'alice.pub']);
    const line = parseAuthorizedKeyLine(readLine('alice-cert.pub'));
    assert.equal(line.type, 'ssh-ed25519-cert-v01@openssh.com');
    const cert = parseCertificate(line.blob);
    assert.equal(cert.keyId, 'id');
    assert.equal(cert.serial, 42n);
    assert.equal(cert.type, 'user');
    assert.deepEqual(cert.principals, ['alice', 'bob']);
    assert.deepEqual(cert.key.blob, readBlob('alice.pub'));
    assert.deepEqual(cert.signatureKey.blob, sshCa);
    assert.deepEqual(cert.criticalOptions, [{ name: 'source-address', data: '127.0.0.1/32' }]);
    assert.ok(cert.extensions.some((e) => e.name === 'permit-pty' && e.data === ''));
    const names = cert.extensions.map((e) => e.name);
    assert.deepEqual(names, [...names].sort());
    const now = BigInt(Math.floor(Date.now() / 1000));
    assert.ok(cert.validAfter <= now && cert.validBefore > now + 3000n && cert.validBefore <= now + 3700n);
    for (const sourceAddress of ['127.0.0.1', '::ffff:127.0.0.1']) {
      trustSshCa().check(cert, { principal: 'alice', certType: 'user', sourceAddress });
      trustSshCa().check(cert, { principal: 'bob', certType: 'user', sourceAddress });
    }
    // The user-auth signature is made with the certified key.
    const { signature, signedData } = opensshSign('alice', Buffer.from('userauth'));
    assert.ok(verifyCertificateAuthSignature(cert, signature, signedData));
    assert.equal(verifyCertificateAuthSignature(cert, signature, Buffer.from('other')), false);
  });

  for (const k of OPENSSH_KEYS) {
    it(`parses and verifies an ${k.sshType} user key signed by an ed25519 CA`, () => {
      keygen(k.name, k.type, k.bits);
      sshKeygen(['-q', '-s', 'ssh-ca', '-I', `${k.name}-id`, '-n', 'carol', '-V', '-5m:+1h', `${k.name}.pub`]);
      const cert = parseCertificate(readBlob(`${k.name}-cert.pub`));
      assert.equal(cert.certType, `${k.sshType}-cert-v01@openssh.com`);
      assert.equal(cert.key.type, k.sshType);
      assert.deepEqual(cert.key.blob, readBlob(`${k.name}.pub`));
      trustSshCa().check(cert, { principal: 'carol', certType: 'user' });
      const { signature, signedData } = opensshSign(k.name, Buffer.from(`auth ${k.name}`));
      assert.ok(verifyCertificateAuthSignature(cert, signature, signedData));
    });
  }

  for (const [caName, type, bits, sigAlgo] of [
    ['ca-p256', 'ecdsa', 256, 'ecdsa-sha2-nistp256'],
    ['ca-p521', 'ecdsa', 521, 'ecdsa-sha2-nistp521'],
    ['ca-rsa', 'rsa', 2048, 'rsa-sha2-512'],
  ] as const) {
    it(`checks the signature of a ${sigAlgo} CA`, () => {
      keygen(caName, type, bits);
      keygen('dave', 'ed25519');
      sshKeygen(['-q', '-s', caName, '-I', 'dave', '-n', 'dave', 'dave.pub']);
      const cert = parseCertificate(readBlob('dave-cert.pub'));
      assert.equal(new SshReader(cert.signature).readText('algo'), sigAlgo);
      const caBlob = readBlob(`${caName}.pub`);
      new CertChecker({ now: () => new Date(), isTrustedAuthority: (b) => b.equals(caBlob) }).check(cert, { principal: 'dave', certType: 'user' });
    });
  }

  it('refuses an RSA CA signature made with SHA-1 (ssh-rsa), as OpenSSH does', () => {
    keygen('ca-rsa', 'rsa', 2048);
    keygen('erin', 'ed25519');
    sshKeygen(['-q', '-s', 'ca-rsa', '-t', 'ssh-rsa', '-I', 'erin', '-n', 'erin', 'erin.pub']);
    const cert = parseCertificate(readBlob('erin-cert.pub'));
    assert.equal(new SshReader(cert.signature).readText('algo'), 'ssh-rsa');
    const caBlob = readBlob('ca-rsa.pub');
    const c = new CertChecker({ now: () => new Date(), isTrustedAuthority: (b) => b.equals(caBlob) });
    assertCertError(() => c.check(cert, { principal: 'erin', certType: 'user' }), 'cert_bad_signature', 'SHA-1');
  });

  it('reads host certificates and forever validity', () => {
    keygen('host', 'ed25519');
    sshKeygen(['-q', '-s', 'ssh-ca', '-h', '-I', 'node1', '-n', 'node1.example.com', 'host.pub']);
    const cert = parseCertificate(readBlob('host-cert.pub'));
    assert.equal(cert.type, 'host');
    assert.equal(cert.validAfter, 0n);
    assert.equal(cert.validBefore, CERT_TIME_INFINITY);
    trustSshCa({ now: () => new Date('2999-01-01T00:00:00Z') }).check(cert, { principal: 'node1.example.com', certType: 'host' });
    assertCertError(() => trustSshCa().check(cert, { principal: 'node1.example.com', certType: 'user' }), 'cert_wrong_type', 'is a host certificate, but a user certificate is required');
  });

  it('refuses an OpenSSH certificate with no principals (no -n) instead of treating it as "anyone"', () => {
    keygen('frank', 'ed25519');
    sshKeygen(['-q', '-s', 'ssh-ca', '-I', 'frank', 'frank.pub']);
    const cert = parseCertificate(readBlob('frank-cert.pub'));
    assert.deepEqual(cert.principals, []);
    assertCertError(() => trustSshCa().check(cert, { principal: 'root', certType: 'user' }), 'cert_principal_mismatch', 'lists no principals');
  });

  it('refuses force-command, which this server does not enforce', () => {
    keygen('grace', 'ed25519');
    sshKeygen(['-q', '-s', 'ssh-ca', '-I', 'grace', '-n', 'grace', '-O', 'force-command=/bin/true', 'grace.pub']);
    const cert = parseCertificate(readBlob('grace-cert.pub'));
    assert.deepEqual(cert.criticalOptions, [{ name: 'force-command', data: '/bin/true' }]);
    assertCertError(() => trustSshCa().check(cert, { principal: 'grace', certType: 'user' }), 'cert_unknown_critical_option', 'critical option "force-command"');
    trustSshCa({ supportedCriticalOptions: ['force-command'] }).check(cert, { principal: 'grace', certType: 'user' });
  });
});

// CertChecker denials ------------------------------------------------------------------------

describe('CertChecker', () => {
  const tamper = (blob: Buffer, find: Buffer, replace: Buffer): Buffer => {
    const at = blob.indexOf(find);
    assert.notEqual(at, -1);
    const out = Buffer.from(blob);
    replace.copy(out, at);
    return out;
  };
  const flipLast = (blob: Buffer): Buffer => {
    const out = Buffer.from(blob);
    out[out.length - 1] = (out[out.length - 1] ?? 0) ^ 0x01;
    return out;
  };
  const withSource = (data: string): Buffer => ferryCert({ criticalOptions: [{ name: 'source-address', data }] });

  const denials: {
    name: string;
    cert: () => Buffer;
    policy?: Partial<CertCheckerPolicy>;
    request?: Partial<CertCheckRequest>;
    code: string;
    fragment: string | RegExp;
  }[] = [
    { name: 'untrusted CA', cert: () => ferryCert(), policy: { isTrustedAuthority: () => false }, code: 'cert_untrusted_authority', fragment: `signed by ssh-ed25519 key ${fingerprintSha256(ca.publicBlob)}, which is not a trusted user certificate authority` },
    { name: 'tampered signature byte', cert: () => flipLast(ferryCert()), code: 'cert_bad_signature', fragment: 'ssh-ed25519 signature does not match the signed data' },
    { name: 'tampered principal byte', cert: () => tamper(ferryCert(), Buffer.from('deploy'), Buffer.from('deplox')), request: { principal: 'deplox' }, code: 'cert_bad_signature', fragment: 'certificate signature does not verify' },
    { name: 'tampered validity', cert: () => tamper(ferryCert(), sshUint64(BigInt(VALID_BEFORE.getTime() / 1000)), sshUint64(CERT_TIME_INFINITY)), code: 'cert_bad_signature', fragment: 'does not verify' },
    { name: 'not yet valid', cert: () => ferryCert(), policy: { now: () => new Date('2024-12-31T23:59:59.999Z') }, code: 'cert_not_yet_valid', fragment: 'certificate is not valid until 2025-01-01T00:00:00Z (it is now 2024-12-31T23:59:59Z)' },
    { name: 'expired (at the exact second)', cert: () => ferryCert(), policy: { now: () => VALID_BEFORE }, code: 'cert_expired', fragment: 'certificate expired at 2026-01-01T00:00:00Z' },
    { name: 'expired (later)', cert: () => ferryCert(), policy: { now: () => new Date('2030-01-01T00:00:00Z') }, code: 'cert_expired', fragment: 'certificate expired at 2026-01-01T00:00:00Z' },
    { name: 'host cert used as user', cert: () => ferryCert({ type: 'host' }), code: 'cert_wrong_type', fragment: 'is a host certificate, but a user certificate is required' },
    { name: 'user cert used as host', cert: () => ferryCert(), request: { certType: 'host' }, policy: { isTrustedAuthority: () => true }, code: 'cert_wrong_type', fragment: 'is a user certificate, but a host certificate is required' },
    { name: 'principal mismatch', cert: () => ferryCert(), request: { principal: 'root' }, code: 'cert_principal_mismatch', fragment: 'not valid for "root"; it lists "alice", "deploy"' },
    { name: 'principal differs in case', cert: () => ferryCert(), request: { principal: 'Alice' }, code: 'cert_principal_mismatch', fragment: '"Alice"' },
    { name: 'revoked', cert: () => ferryCert(), policy: { isRevoked: (c) => c.serial === 7n }, code: 'cert_revoked', fragment: 'serial 7 (key id "alice") has been revoked' },
    { name: 'unknown critical option', cert: () => ferryCert({ criticalOptions: [{ name: 'verify-required', data: '' }] }), code: 'cert_unknown_critical_option', fragment: 'critical option "verify-required", which this server does not support' },
    { name: 'source-address not supported by policy', cert: () => withSource('127.0.0.1'), policy: { supportedCriticalOptions: [] }, code: 'cert_unknown_critical_option', fragment: '"source-address"' },
    { name: 'source-address mismatch', cert: () => withSource('127.0.0.1/32'), request: { sourceAddress: '10.1.2.3' }, code: 'cert_source_address', fragment: 'connection from 10.1.2.3 is not allowed by the certificate\'s source-address "127.0.0.1/32"' },
    { name: 'source-address mismatch, mapped peer', cert: () => withSource('127.0.0.1/32'), request: { sourceAddress: '::ffff:10.1.2.3' }, code: 'cert_source_address', fragment: 'connection from ::ffff:10.1.2.3' },
    { name: 'source-address mismatch, IPv6 peer', cert: () => withSource('127.0.0.1/32,2001:db8::/32'), request: { sourceAddress: '2001:db9::1' }, code: 'cert_source_address', fragment: 'not allowed' },
    { name: 'source-address, IPv6 loopback vs IPv4 list', cert: () => withSource('127.0.0.0/8'), request: { sourceAddress: '::1' }, code: 'cert_source_address', fragment: 'not allowed' },
    { name: 'source-address, peer unknown', cert: () => withSource('127.0.0.1'), request: { sourceAddress: undefined }, code: 'cert_source_address', fragment: 'the client address is unknown' },
    { name: 'source-address, peer not an IP', cert: () => withSource('127.0.0.1'), request: { sourceAddress: 'localhost' }, code: 'cert_source_address', fragment: '"localhost" is not an IP address' },
    { name: 'source-address, bad prefix', cert: () => withSource('127.0.0.1/33'), code: 'cert_source_address', fragment: 'invalid entry "127.0.0.1/33"' },
    { name: 'source-address, hostname entry', cert: () => withSource('127.0.0.1,example.com'), code: 'cert_source_address', fragment: 'invalid entry "example.com"' },
    { name: 'source-address, empty entry', cert: () => withSource('127.0.0.1,'), code: 'cert_source_address', fragment: 'invalid entry ""' },
  ];
  for (const c of denials) {
    it(`refuses: ${c.name}`, () => {
      const cert = parseCertificate(c.cert());
      assertCertError(() => checker(c.policy).check(cert, { ...ALICE, ...c.request }), c.code, c.fragment);
    });
  }

  const allowed: { name: string; list: string; peer: string }[] = [
    { name: 'exact IPv4', list: '127.0.0.1', peer: '127.0.0.1' },
    { name: 'IPv4 CIDR', list: '10.0.0.0/8', peer: '10.200.3.4' },
    { name: 'mapped dotted peer', list: '127.0.0.1/32', peer: '::ffff:127.0.0.1' },
    { name: 'mapped hex peer', list: '127.0.0.1/32', peer: '::ffff:7f00:1' },
    { name: 'second entry', list: '192.0.2.0/24,127.0.0.1/32', peer: '127.0.0.1' },
    { name: 'IPv6 CIDR', list: '2001:db8::/32', peer: '2001:db8:1::5' },
    { name: 'IPv6 exact', list: '::1', peer: '::1' },
    { name: 'IPv6 with zone id', list: 'fe80::/10', peer: 'fe80::1%eth0' },
    { name: 'host bits set in entry', list: '127.0.0.5/8', peer: '127.9.9.9' },
  ];
  for (const c of allowed) {
    it(`accepts source-address: ${c.name}`, () => {
      checker().check(parseCertificate(withSource(c.list)), { ...ALICE, sourceAddress: c.peer });
    });
  }

  it('accepts at the first valid second and the last', () => {
    const cert = parseCertificate(ferryCert());
    checker({ now: () => VALID_AFTER }).check(cert, ALICE);
    checker({ now: () => new Date(VALID_BEFORE.getTime() - 1) }).check(cert, ALICE);
  });

  it('checks authority and signature before anything else', () => {
    // Expired, wrong principal and untrusted at once: the CA is what is reported.
    const cert = parseCertificate(ferryCert());
    assertCertError(
      () => checker({ isTrustedAuthority: () => false, now: () => new Date('2030-01-01T00:00:00Z') }).check(cert, { ...ALICE, principal: 'root' }),
      'cert_untrusted_authority',
      'not a trusted',
    );
  });
});

// Malformed certificates ---------------------------------------------------------------------

/** Builds a certificate field by field, signed by the Ferry CA, so malformed ones still carry a good signature. */
function rawCert(f: {
  certType?: string;
  keyFields?: Buffer;
  typeCode?: number;
  keyId?: Buffer;
  principals?: Buffer;
  criticalOptions?: Buffer;
  extensions?: Buffer;
  signatureKey?: Buffer;
}): Buffer {
  const signed = Buffer.concat([
    sshString(f.certType ?? 'ssh-ed25519-cert-v01@openssh.com'),
    sshString(crypto.randomBytes(32)),
    f.keyFields ?? userBlob.subarray(4 + 'ssh-ed25519'.length),
    sshUint64(1n),
    sshUint32(f.typeCode ?? 1),
    sshString(f.keyId ?? 'alice'),
    sshString(f.principals ?? sshString('alice')),
    sshUint64(0n),
    sshUint64(CERT_TIME_INFINITY),
    sshString(f.criticalOptions ?? Buffer.alloc(0)),
    sshString(f.extensions ?? Buffer.alloc(0)),
    sshString(Buffer.alloc(0)),
    sshString(f.signatureKey ?? ca.publicBlob),
  ]);
  return Buffer.concat([signed, sshString(signEd25519(ca.privateKey, signed))]);
}

const option = (name: string, data: Buffer): Buffer => Buffer.concat([sshString(name), sshString(data)]);

describe('malformed certificates', () => {
  it('the raw builder makes a good certificate', () => {
    checker().check(parseCertificate(rawCert({})), { ...ALICE, sourceAddress: undefined });
  });

  const crafted: { name: string; blob: () => Buffer; fragment: string }[] = [
    { name: 'empty', blob: () => Buffer.alloc(0), fragment: 'certificate type length is truncated' },
    { name: 'plain key', blob: () => userBlob, fragment: 'unsupported certificate type "ssh-ed25519"' },
    { name: 'dsa cert', blob: () => rawCert({ certType: 'ssh-dss-cert-v01@openssh.com' }), fragment: 'unsupported certificate type "ssh-dss-cert-v01@openssh.com"' },
    { name: 'sk cert', blob: () => rawCert({ certType: 'sk-ssh-ed25519-cert-v01@openssh.com' }), fragment: 'unsupported certificate type' },
    { name: 'type code 3', blob: () => rawCert({ typeCode: 3 }), fragment: 'certificate type code 3 is neither 1 (user) nor 2 (host)' },
    { name: 'bad UTF-8 key id', blob: () => rawCert({ keyId: Buffer.from([0xc3, 0x28]) }), fragment: 'key id is not valid UTF-8' },
    { name: 'NUL in principal', blob: () => rawCert({ principals: sshString('root\0alice') }), fragment: 'principal 1 contains a NUL byte' },
    { name: 'principal list cut short', blob: () => rawCert({ principals: Buffer.concat([sshString('alice'), Buffer.from([0, 0])]) }), fragment: 'principal 2 length is truncated' },
    { name: 'too many principals', blob: () => rawCert({ principals: Buffer.concat(Array.from({ length: 257 }, (_, i) => sshString(`p${i}`))) }), fragment: 'more than 256 principals' },
    { name: 'duplicate extension', blob: () => rawCert({ extensions: Buffer.concat([option('permit-pty', Buffer.alloc(0)), option('permit-pty', Buffer.alloc(0))]) }), fragment: 'extension "permit-pty" is duplicated or out of order' },
    { name: 'unsorted extensions', blob: () => rawCert({ extensions: Buffer.concat([option('permit-pty', Buffer.alloc(0)), option('permit-agent-forwarding', Buffer.alloc(0))]) }), fragment: 'extension "permit-agent-forwarding" is duplicated or out of order' },
    { name: 'duplicate source-address', blob: () => rawCert({ criticalOptions: Buffer.concat([option('source-address', sshString('0.0.0.0/0')), option('source-address', sshString('127.0.0.1'))]) }), fragment: 'critical option "source-address" is duplicated' },
    { name: 'option value not a nested string', blob: () => rawCert({ criticalOptions: option('source-address', Buffer.from('127.0.0.1')) }), fragment: 'critical option "source-address" value' },
    { name: 'option value with trailing bytes', blob: () => rawCert({ criticalOptions: option('force-command', Buffer.concat([sshString('/bin/true'), Buffer.from([0])])) }), fragment: 'critical option "force-command" data has 1 unexpected trailing bytes' },
    { name: 'option name missing data', blob: () => rawCert({ extensions: sshString('permit-pty') }), fragment: 'extension "permit-pty" data length is truncated' },
    { name: 'signature key is a certificate', blob: () => rawCert({ signatureKey: ferryCert() }), fragment: 'signature key: expected a plain public key' },
    { name: 'signature key unknown', blob: () => rawCert({ signatureKey: sshString('ssh-dss') }), fragment: 'signature key: unsupported key type "ssh-dss"' },
    { name: 'ed25519 key of 33 bytes', blob: () => rawCert({ keyFields: sshString(Buffer.alloc(33)) }), fragment: '33 bytes, not 32' },
    { name: 'ecdsa cert, wrong curve', blob: () => rawCert({ certType: 'ecdsa-sha2-nistp256-cert-v01@openssh.com', keyFields: Buffer.concat([sshString('nistp521'), sshString(Buffer.alloc(133, 4))]) }), fragment: 'ecdsa curve "nistp521" does not match' },
    { name: 'trailing byte', blob: () => Buffer.concat([rawCert({}), Buffer.from([0])]), fragment: 'certificate has 1 unexpected trailing bytes' },
  ];
  for (const c of crafted) {
    it(`refuses: ${c.name}`, () => assertCertError(() => parseCertificate(c.blob()), 'cert_malformed', c.fragment));
  }

  /** Certificates of every key type, ours and OpenSSH's, for the fuzz-ish loops. */
  const samples = (): { name: string; blob: Buffer; trusted: Buffer; principal: string; now: Date }[] => {
    const out = [{ name: 'ferry ed25519', blob: ferryCert(), trusted: ca.publicBlob, principal: 'alice', now: DURING }];
    keygen('ssh-ca', 'ed25519');
    for (const k of OPENSSH_KEYS) {
      keygen(k.name, k.type, k.bits);
      sshKeygen(['-q', '-s', 'ssh-ca', '-I', 'fuzz', '-n', 'fuzz', '-O', 'source-address=127.0.0.1', `${k.name}.pub`]);
      out.push({ name: `openssh ${k.sshType}`, blob: readBlob(`${k.name}-cert.pub`), trusted: readBlob('ssh-ca.pub'), principal: 'fuzz', now: new Date() });
    }
    return out;
  };

  it('every truncation of a valid certificate throws cert_malformed, never another error', () => {
    for (const s of samples()) {
      for (let length = 0; length < s.blob.length; length++) {
        assert.throws(
          () => parseCertificate(s.blob.subarray(0, length)),
          (err: unknown) => err instanceof CertificateError && err.code === 'cert_malformed',
          `${s.name} truncated to ${length} of ${s.blob.length}`,
        );
      }
    }
  });

  it('every single-byte corruption is refused with a CertificateError by parse or check', () => {
    for (const s of samples()) {
      const c = new CertChecker({ now: () => s.now, isTrustedAuthority: (b) => b.equals(s.trusted) });
      for (let i = 0; i < s.blob.length; i++) {
        for (const mask of [0x01, 0x80]) {
          const corrupt = Buffer.from(s.blob);
          corrupt[i] = (corrupt[i] ?? 0) ^ mask;
          assert.throws(
            () => c.check(parseCertificate(corrupt), { principal: s.principal, certType: 'user', sourceAddress: '127.0.0.1' }),
            (err: unknown) => err instanceof CertificateError,
            `${s.name} byte ${i} ^ ${mask}`,
          );
        }
      }
      // And the uncorrupted one passes, so the loop above tested something.
      c.check(parseCertificate(s.blob), { principal: s.principal, certType: 'user', sourceAddress: '127.0.0.1' });
    }
  });

  it('random garbage never escapes as another error type', () => {
    for (let i = 0; i < 2000; i++) {
      const garbage = crypto.randomBytes(i % 300);
      // Half the time, start with a valid header so parsing gets further.
      const blob = i % 2 ? Buffer.concat([sshString('ssh-ed25519-cert-v01@openssh.com'), garbage]) : garbage;
      assert.throws(() => parseCertificate(blob), (err: unknown) => err instanceof CertificateError);
    }
  });
});
