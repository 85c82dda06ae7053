// SSH keys, signatures and OpenSSH certificates (PROTOCOL.certkeys), owned here because the
// CA signature check is the heart of authentication and no library we use does it for us.
//
// Wire:         SshReader (readString, readText, readUint32, readUint64, readMpint, ...),
//               sshString, sshUint32, sshUint64, sshNameList, sshMpint.
// Public keys:  parsePublicKeyBlob, parseAuthorizedKeyLine, formatAuthorizedKeyLine,
//               ed25519PublicBlob, ed25519Blob, fingerprintSha256.
// Signatures:   checkSshSignature (with the reason), verifySshSignature, signEd25519.
// Certificates: parseCertificate, signCertificate, CertChecker, verifyCertificateAuthSignature.
//
// Malformed certificates throw CertificateError('cert_malformed'); other malformed input
// throws ValidationError. Each failed CertChecker check has its own code.

import crypto, { type JsonWebKey, type KeyObject } from 'node:crypto';
import net from 'node:net';
import { CertificateError, FerryError, ValidationError } from '../errors';

// Wire encoding (RFC 4251 section 5) ----------------------------------------------------

/** Builds the error a reader throws; the message already names the field. */
export type WireErrorFactory = (message: string) => FerryError;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a text field; invalid UTF-8 and NUL are refused, as OpenSSH's cstrings refuse them. */
function decodeText(bytes: Buffer, field: string, fail: WireErrorFactory): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw fail(`${field} is not valid UTF-8`);
  }
  if (text.includes('\0')) throw fail(`${field} contains a NUL byte`);
  return text;
}

export class SshReader {
  readonly #buf: Buffer;
  readonly #fail: WireErrorFactory;
  #pos = 0;

  constructor(buf: Buffer, fail: WireErrorFactory = (message) => new ValidationError(message)) {
    this.#buf = buf;
    this.#fail = fail;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#pos;
  }

  remaining(): number {
    return this.#buf.length - this.#pos;
  }

  readBytes(length: number, field: string): Buffer {
    const left = this.remaining();
    if (length > left) throw this.#fail(`${field} is truncated: it needs ${length} bytes but ${left} remain`);
    const out = this.#buf.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }

  readUint32(field: string): number {
    return this.readBytes(4, field).readUInt32BE(0);
  }

  readUint64(field: string): bigint {
    return this.readBytes(8, field).readBigUInt64BE(0);
  }

  readBool(field: string): boolean {
    return this.readBytes(1, field)[0] !== 0;
  }

  readString(field: string): Buffer {
    const length = this.readUint32(`${field} length`);
    return this.readBytes(length, field);
  }

  /** A string holding UTF-8 text. */
  readText(field: string): string {
    return decodeText(this.readString(field), field, this.#fail);
  }

  readNameList(field: string): string[] {
    const text = this.readText(field);
    return text === '' ? [] : text.split(',');
  }

  /** An mpint that must be non-negative; returns its magnitude without leading zeros. */
  readMpint(field: string): Buffer {
    const raw = this.readString(field);
    if (raw.length > 0 && (raw[0] ?? 0) & 0x80) throw this.#fail(`${field} is negative`);
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    return raw.subarray(start);
  }

  /** Refuses trailing bytes, which OpenSSH also refuses. */
  expectEnd(what: string): void {
    const left = this.remaining();
    if (left !== 0) throw this.#fail(`${what} has ${left} unexpected trailing bytes`);
  }
}

export function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([sshUint32(bytes.length), bytes]);
}

export function sshUint32(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ValidationError(`uint32 out of range: ${n}`);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n, 0);
  return out;
}

export function sshUint64(n: bigint): Buffer {
  if (n < 0n || n > 0xffffffffffffffffn) throw new ValidationError(`uint64 out of range: ${n}`);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(n, 0);
  return out;
}

export function sshNameList(names: readonly string[]): Buffer {
  for (const name of names) {
    if (name === '' || name.includes(',')) throw new ValidationError(`name-list entry "${name}" is empty or has a comma`);
  }
  return sshString(names.join(','));
}

/** Encodes an unsigned big-endian magnitude as an SSH mpint (minimal, positive). */
export function sshMpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  // A set top bit would read as negative, so prefix a zero byte.
  const body = trimmed.length > 0 && (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return sshString(body);
}

// Public keys -----------------------------------------------------------------------------

export const PUBLIC_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;
export type PublicKeyType = (typeof PUBLIC_KEY_TYPES)[number];
export type CertificateKeyType = `${PublicKeyType}-cert-v01@openssh.com`;

const CERT_SUFFIX = '-cert-v01@openssh.com';

export interface SshPublicKey {
  type: PublicKeyType;
  /** The SSH wire blob (string type, key fields). */
  blob: Buffer;
  keyObject: KeyObject;
}

type EcdsaType = 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';
const ECDSA: Record<EcdsaType, { curveId: string; jwkCurve: string; size: number; hash: string }> = {
  'ecdsa-sha2-nistp256': { curveId: 'nistp256', jwkCurve: 'P-256', size: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { curveId: 'nistp384', jwkCurve: 'P-384', size: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { curveId: 'nistp521', jwkCurve: 'P-521', size: 66, hash: 'sha512' },
};

// OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE and OPENSSL_RSA_MAX_MODULUS_BITS.
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 16384;

export function isPublicKeyType(name: string): name is PublicKeyType {
  return (PUBLIC_KEY_TYPES as readonly string[]).includes(name);
}

export function isCertificateKeyType(name: string): name is CertificateKeyType {
  return name.endsWith(CERT_SUFFIX) && isPublicKeyType(name.slice(0, -CERT_SUFFIX.length));
}

function isEcdsaType(type: PublicKeyType): type is EcdsaType {
  return type in ECDSA;
}

function bitLength(magnitude: Buffer): number {
  const top = magnitude[0];
  if (top === undefined) return 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(top));
}

/** Reads the fields after the type name (shared by plain keys and certificates). */
function readKeyFields(r: SshReader, type: PublicKeyType, fail: WireErrorFactory): KeyObject {
  let jwk: JsonWebKey;
  if (type === 'ssh-ed25519') {
    const pk = r.readString('ed25519 public key');
    if (pk.length !== 32) throw fail(`ed25519 public key is ${pk.length} bytes, not 32`);
    jwk = { kty: 'OKP', crv: 'Ed25519', x: pk.toString('base64url') };
  } else if (isEcdsaType(type)) {
    const curve = ECDSA[type];
    const curveId = r.readText('ecdsa curve name');
    if (curveId !== curve.curveId) throw fail(`ecdsa curve "${curveId}" does not match key type ${type}`);
    const point = r.readString('ecdsa public point');
    // SSH carries uncompressed points only: 0x04 || X || Y.
    if (point.length !== 1 + 2 * curve.size || point[0] !== 0x04) {
      throw fail(`ecdsa public point is not an uncompressed ${curve.curveId} point`);
    }
    jwk = {
      kty: 'EC',
      crv: curve.jwkCurve,
      x: point.subarray(1, 1 + curve.size).toString('base64url'),
      y: point.subarray(1 + curve.size).toString('base64url'),
    };
  } else {
    const e = r.readMpint('rsa public exponent');
    const n = r.readMpint('rsa modulus');
    const bits = bitLength(n);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
      throw fail(`rsa modulus is ${bits} bits; between ${RSA_MIN_BITS} and ${RSA_MAX_BITS} are accepted`);
    }
    if (e.length === 0 || ((e[e.length - 1] ?? 0) & 1) === 0 || (e.length === 1 && (e[0] ?? 0) < 3)) {
      throw fail('rsa public exponent must be odd and at least 3');
    }
    jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') };
  }
  try {
    return crypto.createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    // Node refuses, e.g., an ecdsa point that is not on the curve.
    throw fail(`${type} key is not a valid public key (${err instanceof Error ? err.message : String(err)})`);
  }
}

function parseKey(blob: Buffer, fail: WireErrorFactory): SshPublicKey {
  const r = new SshReader(blob, fail);
  const type = r.readText('key type');
  if (isCertificateKeyType(type)) throw fail(`expected a plain public key, found a ${type} certificate`);
  if (!isPublicKeyType(type)) throw fail(`unsupported key type "${type}"`);
  const keyObject = readKeyFields(r, type, fail);
  r.expectEnd('public key');
  // Copy, so that a caller reusing its buffer cannot change a parsed key.
  return { type, blob: Buffer.from(blob), keyObject };
}

/** Parses an SSH public key blob (plain keys only, not certificates). */
export function parsePublicKeyBlob(blob: Buffer): SshPublicKey {
  return parseKey(blob, (message) => new ValidationError(`public key: ${message}`));
}

export interface AuthorizedKey {
  type: PublicKeyType | CertificateKeyType;
  blob: Buffer;
  comment: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses `TYPE BASE64 [COMMENT]` as in id_ed25519.pub, id_ed25519-cert.pub or authorized_keys.
 * authorized_keys options (`from="..." ssh-ed25519 ...`) are refused, not skipped.
 */
export function parseAuthorizedKeyLine(line: string): AuthorizedKey {
  const text = line.trim();
  if (/[\r\n\0]/.test(text)) throw new ValidationError('public key line: must be a single line');
  const match = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(text);
  const [, type, encoded, comment] = match ?? [];
  if (type === undefined || encoded === undefined) {
    throw new ValidationError('public key line: expected "TYPE BASE64 [COMMENT]", as in a .pub file');
  }
  if (!isPublicKeyType(type) && !isCertificateKeyType(type)) {
    throw new ValidationError(`public key line: unsupported key type "${type}" (options before the key are not accepted)`);
  }
  const blob = Buffer.from(encoded, 'base64');
  // Buffer.from ignores junk, so insist the text is exactly the canonical encoding.
  if (!BASE64.test(encoded) || blob.toString('base64') !== encoded) {
    throw new ValidationError(`public key line: the ${type} key is not valid base64`);
  }
  if (isCertificateKeyType(type)) {
    try {
      parseCertificate(blob);
    } catch (err) {
      if (err instanceof CertificateError) throw new ValidationError(`public key line: ${err.message}`, { cause: err });
      throw err;
    }
  } else {
    parseKey(blob, (message) => new ValidationError(`public key line: ${message}`));
  }
  const inner = new SshReader(blob).readText('key type');
  if (inner !== type) throw new ValidationError(`public key line: says ${type} but the key inside is ${inner}`);
  return { type, blob, comment: comment ?? '' };
}

/** Formats `TYPE BASE64 [COMMENT]`; refuses a type that differs from the blob's own. */
export function formatAuthorizedKeyLine(type: string, blob: Buffer, comment?: string): string {
  const inner = new SshReader(blob, (message) => new ValidationError(`key blob: ${message}`)).readText('key type');
  if (inner !== type) throw new ValidationError(`key blob is ${inner}, not ${type}`);
  // A newline in the comment would inject a second authorized_keys entry.
  if (comment !== undefined && /[\r\n\0]/.test(comment)) {
    throw new ValidationError('key comment must not contain a line break or NUL');
  }
  const base = `${type} ${blob.toString('base64')}`;
  return comment ? `${base} ${comment}` : base;
}

/** The SSH blob of an ed25519 node KeyObject (public, or private from which the public is derived). */
export function ed25519PublicBlob(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? crypto.createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new ValidationError(`expected an ed25519 key, got ${publicKey.asymmetricKeyType ?? publicKey.type}`);
  }
  const { x } = publicKey.export({ format: 'jwk' });
  if (x === undefined) throw new ValidationError('ed25519 key has no public part');
  return ed25519Blob(Buffer.from(x, 'base64url'));
}

/** The SSH public key blob of a raw 32-byte ed25519 public key. */
export function ed25519Blob(pub: Buffer): Buffer {
  if (pub.length !== 32) throw new ValidationError(`an ed25519 public key is 32 bytes, not ${pub.length}`);
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
}

/** `SHA256:<base64 without padding>`, exactly as `ssh-keygen -l` prints it. */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

// Signatures ------------------------------------------------------------------------------

export type SignatureCheck = { valid: true; algorithm: string } | { valid: false; reason: string };

/** The hash a signature algorithm uses with a key type, or undefined when they don't fit. */
function signatureHash(keyType: PublicKeyType, algorithm: string): { hash: string | null } | undefined {
  if (keyType === 'ssh-ed25519') return algorithm === 'ssh-ed25519' ? { hash: null } : undefined;
  if (isEcdsaType(keyType)) return algorithm === keyType ? { hash: ECDSA[keyType].hash } : undefined;
  if (algorithm === 'rsa-sha2-256') return { hash: 'sha256' };
  if (algorithm === 'rsa-sha2-512') return { hash: 'sha512' };
  if (algorithm === 'ssh-rsa') return { hash: 'sha1' };
  return undefined;
}

function leftPad(bytes: Buffer, size: number): Buffer {
  return bytes.length >= size ? bytes : Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
}

/**
 * Verifies an SSH signature blob (`string algorithm, string signature`) over data, and says
 * why when it does not verify. The algorithm must fit the key type.
 */
export function checkSshSignature(key: SshPublicKey, signatureBlob: Buffer, data: Buffer): SignatureCheck {
  const fail: WireErrorFactory = (message) => new ValidationError(message);
  let algorithm: string;
  let sig: Buffer;
  try {
    const r = new SshReader(signatureBlob, fail);
    algorithm = r.readText('signature algorithm');
    sig = r.readString('signature');
    r.expectEnd('signature');
  } catch (err) {
    return { valid: false, reason: `malformed signature: ${err instanceof Error ? err.message : String(err)}` };
  }
  const fit = signatureHash(key.type, algorithm);
  if (!fit) return { valid: false, reason: `signature algorithm ${algorithm} does not fit a ${key.type} key` };
  try {
    let ok: boolean;
    if (key.type === 'ssh-ed25519') {
      if (sig.length !== 64) return { valid: false, reason: `ed25519 signature is ${sig.length} bytes, not 64` };
      ok = crypto.verify(null, data, key.keyObject, sig);
    } else if (isEcdsaType(key.type)) {
      const { size } = ECDSA[key.type];
      const inner = new SshReader(sig, fail);
      const rValue = inner.readMpint('ecdsa r');
      const sValue = inner.readMpint('ecdsa s');
      inner.expectEnd('ecdsa signature');
      if (rValue.length > size || sValue.length > size) return { valid: false, reason: 'ecdsa signature values are too large' };
      // IEEE P1363 is r || s, each padded to the curve size: simpler than building DER.
      const p1363 = Buffer.concat([leftPad(rValue, size), leftPad(sValue, size)]);
      ok = crypto.verify(fit.hash, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, p1363);
    } else {
      const modulusBits = key.keyObject.asymmetricKeyDetails?.modulusLength ?? 0;
      const size = Math.ceil(modulusBits / 8);
      if (sig.length > size) return { valid: false, reason: 'rsa signature is longer than the modulus' };
      // OpenSSH accepts signatures shorter than the modulus and pads them; so do we.
      ok = crypto.verify(fit.hash, data, { key: key.keyObject, padding: crypto.constants.RSA_PKCS1_PADDING }, leftPad(sig, size));
    }
    return ok ? { valid: true, algorithm } : { valid: false, reason: `${algorithm} signature does not match the signed data` };
  } catch (err) {
    return { valid: false, reason: `${algorithm} signature could not be checked: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function verifySshSignature(key: SshPublicKey, signatureBlob: Buffer, data: Buffer): boolean {
  return checkSshSignature(key, signatureBlob, data).valid;
}

/** Signs data with an ed25519 private key, returning the SSH signature blob. */
export function signEd25519(privateKey: KeyObject, data: Buffer): Buffer {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ValidationError(`expected an ed25519 private key, got ${privateKey.asymmetricKeyType ?? ''} ${privateKey.type} key`);
  }
  return Buffer.concat([sshString('ssh-ed25519'), sshString(crypto.sign(null, data, privateKey))]);
}

// Certificates ----------------------------------------------------------------------------

export type CertType = 'user' | 'host';
const CERT_TYPE_CODES: Record<CertType, number> = { user: 1, host: 2 };

/** validBefore meaning "forever". */
export const CERT_TIME_INFINITY = 0xffffffffffffffffn;
// OpenSSH's SSHKEY_CERT_MAX_PRINCIPALS.
const MAX_PRINCIPALS = 256;

/** A critical option or extension; data is the decoded value, '' for flags. */
export interface CertOption {
  name: string;
  data: string;
}

export interface Certificate {
  /** The wire algorithm name, e.g. ssh-ed25519-cert-v01@openssh.com. */
  certType: CertificateKeyType;
  nonce: Buffer;
  /** The certified key, as parsePublicKeyBlob returns it (plain type). */
  key: SshPublicKey;
  serial: bigint;
  type: CertType;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch. */
  validAfter: bigint;
  /** Seconds since the epoch; CERT_TIME_INFINITY means forever. */
  validBefore: bigint;
  criticalOptions: CertOption[];
  extensions: CertOption[];
  reserved: Buffer;
  /** The CA's public key. */
  signatureKey: SshPublicKey;
  /** The CA's SSH signature blob. */
  signature: Buffer;
  /** Everything before the signature field: what the CA signed. */
  signedBytes: Buffer;
  /** The whole certificate blob. */
  blob: Buffer;
}

const malformed: WireErrorFactory = (message) => new CertificateError('cert_malformed', `malformed certificate: ${message}`);

function readOptions(field: Buffer, kind: string, fail: WireErrorFactory): CertOption[] {
  const r = new SshReader(field, fail);
  const out: CertOption[] = [];
  let previous: Buffer | undefined;
  while (r.remaining() > 0) {
    const nameBytes = r.readString(`${kind} name`);
    const name = decodeText(nameBytes, `${kind} name`, fail);
    // PROTOCOL.certkeys: lexical order, each name once. A duplicate could make two readers
    // of the same certificate see different restrictions.
    if (previous && Buffer.compare(previous, nameBytes) >= 0) {
      throw fail(`${kind} "${name}" is duplicated or out of order (names must be sorted and unique)`);
    }
    previous = nameBytes;
    const raw = r.readString(`${kind} "${name}" data`);
    let data = '';
    if (raw.length > 0) {
      // A value is an SSH string nested inside the data field.
      const inner = new SshReader(raw, fail);
      data = inner.readText(`${kind} "${name}" value`);
      inner.expectEnd(`${kind} "${name}" data`);
    }
    out.push({ name, data });
  }
  return out;
}

/** Parses an OpenSSH certificate blob. Does not check it: see CertChecker. */
export function parseCertificate(blob: Buffer): Certificate {
  const fail = malformed;
  const r = new SshReader(blob, fail);
  const certType = r.readText('certificate type');
  if (!isCertificateKeyType(certType)) throw fail(`unsupported certificate type "${certType}"`);
  const keyType = certType.slice(0, -CERT_SUFFIX.length);
  if (!isPublicKeyType(keyType)) throw fail(`unsupported certificate type "${certType}"`);
  const nonce = r.readString('nonce');
  const keyStart = r.offset;
  const keyObject = readKeyFields(r, keyType, fail);
  const keyBlob = Buffer.concat([sshString(keyType), blob.subarray(keyStart, r.offset)]);
  const serial = r.readUint64('serial');
  const typeCode = r.readUint32('certificate type code');
  const type = typeCode === 1 ? 'user' : typeCode === 2 ? 'host' : undefined;
  if (!type) throw fail(`certificate type code ${typeCode} is neither 1 (user) nor 2 (host)`);
  const keyId = r.readText('key id');
  const principalsReader = new SshReader(r.readString('principals'), fail);
  const principals: string[] = [];
  while (principalsReader.remaining() > 0) {
    if (principals.length === MAX_PRINCIPALS) throw fail(`more than ${MAX_PRINCIPALS} principals`);
    principals.push(principalsReader.readText(`principal ${principals.length + 1}`));
  }
  const validAfter = r.readUint64('valid after');
  const validBefore = r.readUint64('valid before');
  const criticalOptions = readOptions(r.readString('critical options'), 'critical option', fail);
  const extensions = readOptions(r.readString('extensions'), 'extension', fail);
  const reserved = r.readString('reserved');
  const signatureKeyBlob = r.readString('signature key');
  const signedBytes = Buffer.from(blob.subarray(0, r.offset));
  const signature = Buffer.from(r.readString('signature'));
  r.expectEnd('certificate');
  const signatureKey = parseKey(signatureKeyBlob, (message) => fail(`signature key: ${message}`));
  return {
    certType,
    nonce: Buffer.from(nonce),
    key: { type: keyType, blob: keyBlob, keyObject },
    serial,
    type,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    reserved: Buffer.from(reserved),
    signatureKey,
    signature,
    signedBytes,
    blob: Buffer.from(blob),
  };
}

export interface CertificateSpec {
  /** The SSH blob of the plain public key to certify. */
  publicKeyBlob: Buffer;
  type: CertType;
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  /** Defaults to a random 64-bit serial, so audit rows and revocations can name one cert. */
  serial?: bigint;
  criticalOptions?: CertOption[];
  extensions?: CertOption[];
}

export interface CertificateAuthorityKey {
  /** Ed25519 private key. */
  privateKey: KeyObject;
  /** The SSH blob of its public key. */
  publicBlob: Buffer;
}

function encodeOptions(options: readonly CertOption[], kind: string): Buffer {
  const entries = options.map((o) => ({ ...o, nameBytes: Buffer.from(o.name, 'utf8') }));
  // OpenSSH requires lexical (byte) order; JS string sort is UTF-16 order, so compare bytes.
  entries.sort((a, b) => Buffer.compare(a.nameBytes, b.nameBytes));
  const parts: Buffer[] = [];
  entries.forEach((entry, i) => {
    if (entry.name === '' || /\0/.test(entry.name) || /\0/.test(entry.data)) {
      throw new ValidationError(`${kind} "${entry.name}": names must be non-empty and neither name nor value may contain NUL`);
    }
    const before = entries[i - 1];
    if (before && before.nameBytes.equals(entry.nameBytes)) throw new ValidationError(`${kind} "${entry.name}" is given twice`);
    parts.push(sshString(entry.nameBytes), sshString(entry.data === '' ? Buffer.alloc(0) : sshString(entry.data)));
  });
  return Buffer.concat(parts);
}

function epochSeconds(date: Date, field: string): bigint {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms < 0) throw new ValidationError(`${field}: must be a valid date after 1970`);
  return BigInt(Math.floor(ms / 1000));
}

/** Signs an OpenSSH certificate with an ed25519 CA; returns the certificate blob. */
export function signCertificate(spec: CertificateSpec, ca: CertificateAuthorityKey): Buffer {
  const key = parsePublicKeyBlob(spec.publicKeyBlob);
  if (!ed25519PublicBlob(ca.privateKey).equals(ca.publicBlob)) {
    throw new ValidationError('CA private key does not match the CA public key');
  }
  if (spec.keyId === '' || spec.keyId.includes('\0')) throw new ValidationError('certificate key id must be non-empty, without NUL');
  // An empty list means "any principal" to OpenSSH's cert-authority lines, so never mint one.
  if (spec.principals.length === 0) throw new ValidationError(`a ${spec.type} certificate needs at least one principal`);
  if (spec.principals.length > MAX_PRINCIPALS) throw new ValidationError(`at most ${MAX_PRINCIPALS} principals`);
  for (const p of spec.principals) {
    if (p === '' || p.includes('\0')) throw new ValidationError('principals must be non-empty, without NUL');
  }
  const validAfter = epochSeconds(spec.validAfter, 'validAfter');
  const validBefore = epochSeconds(spec.validBefore, 'validBefore');
  if (validBefore <= validAfter) throw new ValidationError('validBefore must be at least a second after validAfter');
  const serial = spec.serial ?? crypto.randomBytes(8).readBigUInt64BE(0);
  const signed = Buffer.concat([
    sshString(`${key.type}${CERT_SUFFIX}`),
    sshString(crypto.randomBytes(32)),
    key.blob.subarray(4 + key.type.length), // the key fields, after its type name
    sshUint64(serial),
    sshUint32(CERT_TYPE_CODES[spec.type]),
    sshString(spec.keyId),
    sshString(Buffer.concat(spec.principals.map((p) => sshString(p)))),
    sshUint64(validAfter),
    sshUint64(validBefore),
    sshString(encodeOptions(spec.criticalOptions ?? [], 'critical option')),
    sshString(encodeOptions(spec.extensions ?? [], 'extension')),
    sshString(Buffer.alloc(0)), // reserved
    sshString(ca.publicBlob),
  ]);
  return Buffer.concat([signed, sshString(signEd25519(ca.privateKey, signed))]);
}

// Checking --------------------------------------------------------------------------------

export interface CertCheckerPolicy {
  now: () => Date;
  /** Given the CA's public key blob; trust is the caller's policy. */
  isTrustedAuthority: (caBlob: Buffer) => boolean;
  /** Critical options this server enforces; any other one refuses the certificate. */
  supportedCriticalOptions?: readonly string[];
  isRevoked?: (cert: Certificate) => boolean;
}

export interface CertCheckRequest {
  principal: string;
  certType: CertType;
  /** The client's IP address, for source-address. */
  sourceAddress?: string;
}

/** Seconds since the epoch as `2026-01-01T00:00:00Z`. */
function formatSshTime(seconds: bigint): string {
  if (seconds === CERT_TIME_INFINITY) return 'forever';
  // Beyond what Date can hold (year 275760).
  if (seconds > 8_640_000_000_000n) return `${seconds} seconds after 1970`;
  return new Date(Number(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Turns "127.0.0.1/32,::1" into a BlockList, or says which entry is wrong. */
function parseSourceAddressList(list: string): net.BlockList | string {
  const blockList = new net.BlockList();
  for (const entry of list.split(',')) {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry);
    const address = m?.[1];
    const family = address === undefined ? 0 : net.isIP(address);
    if (address === undefined || family === 0) return entry;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const prefix = m?.[2] === undefined ? undefined : Number(m[2]);
    if (prefix !== undefined && prefix > (family === 4 ? 32 : 128)) return entry;
    try {
      if (prefix === undefined) blockList.addAddress(address, type);
      else blockList.addSubnet(address, prefix, type);
    } catch {
      return entry;
    }
  }
  return blockList;
}

/**
 * Whether the peer address matches the list, or undefined when it is not an IP. BlockList
 * itself matches IPv4-mapped IPv6 peers (::ffff:127.0.0.1) against IPv4 entries.
 */
function sourceAddressMatches(blockList: net.BlockList, peer: string): boolean | undefined {
  const address = peer.replace(/%.*$/, ''); // drop an IPv6 zone id
  const family = net.isIP(address);
  if (family === 0) return undefined;
  return blockList.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Checks certificates the way golang.org/x/crypto/ssh's CertChecker does, with the policy
 * injected. The CA and its signature are checked first, so every later refusal speaks
 * about contents the CA vouched for.
 */
export class CertChecker {
  readonly #policy: CertCheckerPolicy;
  readonly #supported: ReadonlySet<string>;

  constructor(policy: CertCheckerPolicy) {
    this.#policy = policy;
    this.#supported = new Set(policy.supportedCriticalOptions ?? ['source-address']);
  }

  /** Throws CertificateError with the failed check's code; returns when the cert is good. */
  check(cert: Certificate, request: CertCheckRequest): void {
    const ca = cert.signatureKey;
    if (!this.#policy.isTrustedAuthority(ca.blob)) {
      throw new CertificateError(
        'cert_untrusted_authority',
        `certificate is signed by ${ca.type} key ${fingerprintSha256(ca.blob)}, which is not a trusted ${request.certType} certificate authority`,
      );
    }
    const sig = checkSshSignature(ca, cert.signature, cert.signedBytes);
    if (!sig.valid) {
      throw new CertificateError('cert_bad_signature', `certificate signature does not verify with CA ${fingerprintSha256(ca.blob)}: ${sig.reason}`);
    }
    // OpenSSH (8.2+) refuses SHA-1 CA signatures by default (CASignatureAlgorithms).
    if (sig.algorithm === 'ssh-rsa') {
      throw new CertificateError('cert_bad_signature', 'certificate is signed with ssh-rsa (RSA with SHA-1), which is not accepted for certificates');
    }
    if (cert.type !== request.certType) {
      throw new CertificateError('cert_wrong_type', `certificate is a ${cert.type} certificate, but a ${request.certType} certificate is required`);
    }
    if (this.#policy.isRevoked?.(cert)) {
      throw new CertificateError('cert_revoked', `certificate serial ${cert.serial} (key id "${cert.keyId}") has been revoked`);
    }
    const nowMs = this.#policy.now().getTime();
    if (!Number.isFinite(nowMs)) throw new ValidationError('CertChecker: the clock returned an invalid date');
    const now = BigInt(Math.floor(nowMs / 1000));
    if (now < cert.validAfter) {
      throw new CertificateError(
        'cert_not_yet_valid',
        `certificate is not valid until ${formatSshTime(cert.validAfter)} (it is now ${formatSshTime(now)})`,
      );
    }
    if (cert.validBefore !== CERT_TIME_INFINITY && now >= cert.validBefore) {
      throw new CertificateError('cert_expired', `certificate expired at ${formatSshTime(cert.validBefore)}`);
    }
    // Unlike OpenSSH's authorized_keys cert-authority, an empty list is not a wildcard here.
    if (cert.principals.length === 0) {
      throw new CertificateError('cert_principal_mismatch', `certificate lists no principals, so it is not valid for "${request.principal}"`);
    }
    if (!cert.principals.includes(request.principal)) {
      throw new CertificateError(
        'cert_principal_mismatch',
        `certificate is not valid for "${request.principal}"; it lists ${cert.principals.map((p) => `"${p}"`).join(', ')}`,
      );
    }
    for (const option of cert.criticalOptions) {
      if (!this.#supported.has(option.name)) {
        throw new CertificateError(
          'cert_unknown_critical_option',
          `certificate requires critical option "${option.name}", which this server does not support`,
        );
      }
    }
    const sourceAddress = cert.criticalOptions.find((o) => o.name === 'source-address');
    if (sourceAddress) this.#checkSourceAddress(sourceAddress.data, request.sourceAddress);
  }

  #checkSourceAddress(list: string, peer: string | undefined): void {
    const blockList = parseSourceAddressList(list);
    if (typeof blockList === 'string') {
      throw new CertificateError('cert_source_address', `certificate source-address "${list}" has an invalid entry "${blockList}"`);
    }
    if (peer === undefined) {
      throw new CertificateError('cert_source_address', `certificate is restricted to source-address "${list}", but the client address is unknown`);
    }
    const matches = sourceAddressMatches(blockList, peer);
    if (matches === undefined) {
      throw new CertificateError('cert_source_address', `client address "${peer}" is not an IP address, so source-address "${list}" cannot match`);
    }
    if (!matches) {
      throw new CertificateError('cert_source_address', `connection from ${peer} is not allowed by the certificate's source-address "${list}"`);
    }
  }
}

/** Verifies a user-auth signature made with the certificate's own key. */
export function verifyCertificateAuthSignature(cert: Certificate, signatureBlob: Buffer, data: Buffer): boolean {
  return verifySshSignature(cert.key, signatureBlob, data);
}
