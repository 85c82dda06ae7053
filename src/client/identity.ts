// The client's identities, in the order ssh offers them: the private key files (-i,
// IdentityFile, or ssh's default names) each with the OpenSSH certificate the cluster signed
// for it (KEY-cert.pub, as ssh looks for it), and the keys and certificates in ssh-agent.
// A key in the agent is signed for by the agent, so an encrypted file the agent holds is never
// asked for its passphrase; one it does not hold is asked only when the server would take it.

import fs from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { fingerprintSha256, isCertificateKeyType, parseAuthorizedKeyLine, SshReader } from '../auth/sshcert';
import { agentKeys, agentSigner, certificateKey, OneKeyAgent, type Signer } from '../protocol/agent';
import { certifiedKey, parseFirstKey, type KeyOffer } from '../protocol/ssh2-ext';
import { DEFAULT_IDENTITY_FILES, expandHome } from './options';
import type { AskPassphrase } from './passphrase';

export interface Identity extends KeyOffer {
  /** What ssh -v names it by: the file, or the agent's comment for the key. */
  label: string;
  /** The plain public key's blob, which a certificate shares with its key. */
  keyBlob: Buffer;
  /** Named by -i, IdentityFile or CertificateFile (not one of ssh's default names, nor the agent's alone). */
  explicit: boolean;
  /** Signed for by ssh-agent. */
  fromAgent: boolean;
  /** Signs for it when ssh2 cannot with `key` itself: the agent, or a key still to be decrypted. */
  sign?: Signer;
}

export interface IdentitySources {
  /** -i and IdentityFile, in order; empty: ssh's default names. */
  files: readonly string[];
  /** CertificateFile, each; with none, KEY-cert.pub beside each key. */
  certFiles: readonly string[];
  /** The agent's socket; undefined: no agent. */
  agentSocket: string | undefined;
  /** IdentitiesOnly: of the agent's keys, only those the files name. */
  identitiesOnly: boolean;
  /** BatchMode: never ask for a passphrase. */
  batchMode: boolean;
  /** NumberOfPasswordPrompts: how often a passphrase is asked for before the key is passed over. */
  passwordPrompts: number;
}

export interface IdentityIO {
  ask: AskPassphrase;
  warn(line: string): void;
  debug(line: string): void;
}

/** The agent's socket that IdentityAgent names: the default and SSH_AUTH_SOCK read that variable, $VAR another; none, none. */
export function agentSocketPath(identityAgent: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (identityAgent === undefined || identityAgent === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK || undefined;
  if (identityAgent.toLowerCase() === 'none') return undefined;
  if (identityAgent.startsWith('$')) return env[identityAgent.slice(1)] || undefined;
  return identityAgent;
}

/** Thrown by a key's signer when no passphrase was given for it: the key is passed over quietly. */
export class NoPassphrase extends Error {}

export async function loadIdentities(src: IdentitySources, io: IdentityIO): Promise<Identity[]> {
  const explicit = src.files.length > 0;
  // As ssh: certificates from CertificateFile are tried first, ahead of the agent's keys, and
  // only without them is KEY-cert.pub looked for beside each key.
  const certificates = src.certFiles.flatMap((f) => certificateFile(expandHome(f), io));
  const files: Identity[] = [];
  for (const file of (explicit ? src.files : DEFAULT_IDENTITY_FILES).map(expandHome)) {
    try {
      files.push(...(await fileIdentities(file, explicit, src.certFiles.length === 0, src, io)));
    } catch (err) {
      io.warn(`Load key "${file}": ${(err as Error).message}`);
    }
  }
  let agent: Identity[] = [];
  if (src.agentSocket !== undefined) {
    try {
      const { keys, skipped } = await agentKeys(src.agentSocket);
      for (const line of skipped) io.debug(`agent: skipped ${line}`);
      const signWithAgent = agentSigner(src.agentSocket);
      agent = keys.map(({ key, comment }) => ({
        key,
        sign: (_shown, data, options) => signWithAgent(key, data, options),
        label: comment,
        keyBlob: plainBlob(key),
        explicit: false,
        fromAgent: true,
      }));
    } catch (err) {
      io.debug(`get_agent_identities: ${src.agentSocket}: ${(err as Error).message}`);
    }
  }
  const ordered = certificatesFirst(withSigners([...certificates, ...orderIdentities(files, agent, src.identitiesOnly)]));
  for (const id of ordered) io.debug(`Will attempt key: ${describeIdentity(id)}`);
  return ordered.map((id) => (id.sign ? { ...id, agent: new OneKeyAgent(id.key, id.sign) } : id));
}

/**
 * ssh's order (sshconnect2.c, pubkey_prepare): the agent's keys that the files name, in the
 * agent's order and signed by it; then the agent's other keys (not with IdentitiesOnly); then
 * the files the agent does not hold.
 */
export function orderIdentities(files: readonly Identity[], agent: readonly Identity[], identitiesOnly: boolean): Identity[] {
  const remaining = [...files];
  const preferred: Identity[] = [];
  const agentOnly: Identity[] = [];
  for (const held of agent) {
    const blob = held.key.getPublicSSH();
    const at = remaining.findIndex((f) => f.key.getPublicSSH().equals(blob));
    const named = at >= 0 ? remaining.splice(at, 1)[0] : undefined;
    if (named) preferred.push({ ...named, key: held.key, sign: held.sign, fromAgent: true });
    else if (!identitiesOnly) agentOnly.push(held);
  }
  return [...preferred, ...agentOnly, ...remaining];
}

/**
 * Each identity with the best signer any identity of the same key has, as ssh signs a
 * certificate with whatever holds its key (sign_and_send_pubkey): the agent, then a private
 * key read from its file, then a key that needs its passphrase. One nothing can sign for (a
 * public key or certificate whose key is nowhere) is dropped, and so is a second offer of
 * the same key or certificate.
 */
export function withSigners(ids: readonly Identity[]): Identity[] {
  const rank = (id: Identity) => (id.fromAgent ? 3 : id.key.isPrivateKey() ? 2 : id.sign ? 1 : 0);
  const out: Identity[] = [];
  for (const id of ids) {
    if (out.some((o) => o.key.getPublicSSH().equals(id.key.getPublicSSH()))) continue;
    const best = ids.filter((o) => o.keyBlob.equals(id.keyBlob)).reduce((a, b) => (rank(b) > rank(a) ? b : a), id);
    if (rank(best) === 0) continue;
    if (best === id) out.push(id);
    else if (best.sign) out.push({ ...id, sign: best.sign, fromAgent: best.fromAgent });
    else out.push({ ...id, sign: privateSigner(best.key) });
  }
  return out;
}

/**
 * Each certificate moved ahead of its own plain key. ssh offers a key before its certificate;
 * ferry offers the certificate first, so that a ferry node, which takes certificates only,
 * does not log a refused plain key for every login.
 */
export function certificatesFirst(ids: readonly Identity[]): Identity[] {
  const out: Identity[] = [];
  for (const id of ids) {
    const plainAt = isCertificateKeyType(id.key.type) ? out.findIndex((o) => !isCertificateKeyType(o.key.type) && o.keyBlob.equals(id.keyBlob)) : -1;
    if (plainAt >= 0) out.splice(plainAt, 0, id);
    else out.push(id);
  }
  return out;
}

/** As ssh -v shows it: `FILE ED25519-CERT SHA256:... explicit agent`. */
export function describeIdentity(id: Identity): string {
  const kind = keyKind(id.key.type);
  return [id.label, kind, fingerprintSha256(id.keyBlob), ...(id.explicit ? ['explicit'] : []), ...(id.fromAgent ? ['agent'] : [])].join(' ');
}

/** ssh's short name of a key type: ED25519, RSA-CERT, ... */
export function keyKind(type: string): string {
  const cert = isCertificateKeyType(type);
  const plain = cert ? type.replace(/-cert-v01@openssh\.com$/, '') : type;
  const base = plain === 'ssh-ed25519' ? 'ED25519' : plain === 'ssh-rsa' ? 'RSA' : plain.startsWith('ecdsa-') ? 'ECDSA' : plain;
  return cert ? `${base}-CERT` : base;
}

function plainBlob(key: ParsedKey): Buffer {
  const blob = key.getPublicSSH();
  if (!isCertificateKeyType(key.type)) return blob;
  // A certificate adapter is its key underneath (protocol/agent.ts, ssh2-ext's showAs).
  return (Object.getPrototypeOf(key) as ParsedKey).getPublicSSH();
}

/**
 * One key file's identities: its certificate beside it (when `withCertificate`), then the key.
 * A public key file (IdentityFile ~/.ssh/key.pub, as for keys that live in an agent only) is
 * kept for whatever holds its key to sign for (withSigners).
 */
async function fileIdentities(file: string, explicit: boolean, withCertificate: boolean, src: IdentitySources, io: IdentityIO): Promise<Identity[]> {
  if (!fs.existsSync(file)) {
    // As ssh: FILE.pub alone names a key that lives in an agent (a token, 1Password).
    const pub = publicKeyBeside(file);
    return pub ? [{ key: pub, label: file, keyBlob: pub.getPublicSSH(), explicit, fromAgent: false }] : [];
  }
  const text = fs.readFileSync(file);
  if (/^\s*\S+-cert-v01@openssh\.com\s/.test(text.toString('latin1', 0, 100))) {
    // -i KEY-cert.pub (as Vault's docs have it): a certificate, signed for by whatever holds its key.
    return certificateFile(file, io);
  }
  const parsed = parseFirstKey(text);
  let key: ParsedKey; // the private key when it could be read, else the public key
  let sign: Signer | undefined;
  if (!(parsed instanceof Error)) {
    key = parsed;
  } else if (/no passphrase given/.test(parsed.message)) {
    const pub = publicKeyBeside(file) ?? publicKeyInside(text);
    const decrypt = decrypter(file, text, pub, src, io);
    const known = pub ?? (await decrypt()); // an old PEM key hides its public key too
    if (known === undefined) return [];
    key = known;
    sign = async (_shown, data, options) => {
      const priv = await decrypt();
      if (priv === undefined) throw new NoPassphrase(`${file}: no passphrase given`);
      return privateSigner(priv)(priv, data, options);
    };
  } else {
    throw new Error(`invalid format (${parsed.message})`);
  }
  const plain: Identity = { key, ...(sign ? { sign } : {}), label: file, keyBlob: key.getPublicSSH(), explicit, fromAgent: false };
  const beside = `${file}-cert.pub`;
  if (!withCertificate || !fs.existsSync(beside)) return [plain];
  try {
    return [{ ...plain, key: certifiedKey(key, fs.readFileSync(beside, 'utf8'), beside) }, plain];
  } catch (err) {
    io.warn(`${beside}: ${(err as Error).message}`);
    return [plain];
  }
}

/** A CertificateFile's certificate, to be signed for by whatever holds its key; none when it is not there or not one (as ssh, -v says). */
function certificateFile(file: string, io: IdentityIO): Identity[] {
  try {
    const line = parseAuthorizedKeyLine(fs.readFileSync(file, 'utf8'));
    const key = certificateKey(line.blob);
    return [{ key, label: file, keyBlob: plainBlob(key), explicit: true, fromAgent: false }];
  } catch (err) {
    io.debug(`certificate file ${file}: ${(err as Error).message}`);
    return [];
  }
}

function privateSigner(priv: ParsedKey): Signer {
  return async (_shown, data, options) => {
    const signature = priv.sign(data, options.hash);
    if (signature instanceof Error) throw signature;
    return signature;
  };
}

/**
 * Decrypts `file` once, asking for its passphrase as ssh does (load_identity_file): first an
 * empty one, then up to NumberOfPasswordPrompts times, never in BatchMode; an empty answer
 * passes the key over. The outcome is kept, so the certificate and the key ask once. A key
 * that is not the public key it was offered as is not signed with.
 */
function decrypter(file: string, text: Buffer, pub: ParsedKey | undefined, src: IdentitySources, io: IdentityIO): () => Promise<ParsedKey | undefined> {
  let outcome: Promise<ParsedKey | undefined> | undefined;
  const attempt = async (): Promise<ParsedKey | undefined> => {
    for (let i = 0; i <= src.passwordPrompts; i++) {
      let passphrase = '';
      if (i > 0) {
        if (src.batchMode) return undefined;
        const answer = await io.ask(`Enter passphrase for key '${file}': `);
        if (!answer) return undefined;
        passphrase = answer;
      }
      const parsed = parseFirstKey(text, passphrase);
      if (parsed instanceof Error) {
        if (i > 0) io.debug(`${file}: ${parsed.message}`);
        continue;
      }
      if (pub && !parsed.getPublicSSH().equals(pub.getPublicSSH())) {
        io.warn(`Load key "${file}": the private key does not match its public key ${file}.pub`);
        return undefined;
      }
      return parsed;
    }
    return undefined;
  };
  return () => (outcome ??= attempt());
}

/** FILE.pub, when it is there and a public key. */
function publicKeyBeside(file: string): ParsedKey | undefined {
  const pubFile = `${file}.pub`;
  if (!fs.existsSync(pubFile)) return undefined;
  const parsed = parseFirstKey(fs.readFileSync(pubFile));
  return parsed instanceof Error ? undefined : parsed;
}

/** The public key an OpenSSH-format private key file carries unencrypted (PROTOCOL.key), as ssh reads it. */
function publicKeyInside(text: Buffer): ParsedKey | undefined {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([^-]*)-----END OPENSSH PRIVATE KEY-----/.exec(text.toString('latin1'));
  if (!m?.[1]) return undefined;
  try {
    const r = new SshReader(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
    if (r.readBytes(15, 'magic').toString('latin1') !== 'openssh-key-v1\0') return undefined;
    r.readString('cipher');
    r.readString('kdf');
    r.readString('kdf options');
    if (r.readUint32('number of keys') < 1) return undefined;
    const parsed = parseFirstKey(r.readString('public key'));
    return parsed instanceof Error ? undefined : parsed;
  } catch {
    return undefined;
  }
}
