// The ssh-agent protocol through ssh2 (its OpenSSHAgent), with what Ferry's patch of ssh2 adds:
// the agent's certificates, which ssh2 cannot parse and would drop, come back as blobs and are
// offered as certificates of the key inside them. Signing is the agent's, per key.

import { BaseAgent, OpenSSHAgent, type ParsedKey, type SignCallback, type SigningRequestOptions } from 'ssh2';
import { isCertificateKeyType, parseCertificate, SshReader } from '../auth/sshcert';
import { ValidationError } from '../errors';
import { parseFirstKey, showAs } from './ssh2-ext';

export interface AgentKey {
  /** The public key, or the certificate (type and blob the certificate's, the rest its key's). */
  key: ParsedKey;
  comment: string;
}

/** What the patched AgentProtocol gives for an identity ssh2 cannot parse. */
interface RawIdentity {
  blob: Buffer;
  comment: string;
}

/** The agent's identities, in its order: keys ssh2 parses and certificates; others are skipped. */
export function agentKeys(socketPath: string): Promise<{ keys: AgentKey[]; skipped: string[] }> {
  return new Promise((resolve, reject) => {
    new OpenSSHAgent(socketPath).getIdentities((err, identities) => {
      if (err) return reject(err);
      const keys: AgentKey[] = [];
      const skipped: string[] = [];
      for (const identity of (identities ?? []) as Array<ParsedKey | RawIdentity>) {
        if (!('blob' in identity)) {
          keys.push({ key: identity, comment: identity.comment });
          continue;
        }
        try {
          keys.push({ key: certificateKey(identity.blob), comment: identity.comment });
        } catch (e) {
          skipped.push(`${identity.comment || 'an identity'}: ${(e as Error).message}`);
        }
      }
      resolve({ keys, skipped });
    });
  });
}

/** A public ParsedKey that is shown as the certificate `blob` (an OpenSSH certificate of it). */
export function certificateKey(blob: Buffer): ParsedKey {
  const type = new SshReader(blob).readText('key type');
  if (!isCertificateKeyType(type)) throw new ValidationError(`key type ${type} is not supported`);
  const plain = parseFirstKey(parseCertificate(blob).key.blob);
  if (plain instanceof Error) throw new ValidationError(`the certified key: ${plain.message}`);
  return showAs(plain, type, blob);
}

export type Signer = (key: ParsedKey, data: Buffer, options: SigningRequestOptions) => Promise<Buffer>;

/**
 * An agent that holds one key and signs through `sign`: how ssh2 is made to offer a key whose
 * signature comes later, from ssh-agent or after a passphrase, in the order Ferry chooses.
 */
export class OneKeyAgent extends BaseAgent<ParsedKey> {
  readonly #key: ParsedKey;
  readonly #sign: Signer;

  constructor(key: ParsedKey, sign: Signer) {
    super();
    this.#key = key;
    this.#sign = sign;
  }

  getIdentities(cb: (err: Error | null, keys?: ParsedKey[]) => void): void {
    cb(null, [this.#key]);
  }

  sign(pubKey: ParsedKey, data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    const done = (typeof options === 'function' ? options : cb) ?? (() => undefined);
    this.#sign(pubKey, data, typeof options === 'function' ? {} : options).then(
      (signature) => done(null, signature),
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

/** Signs with the agent at `socketPath`. */
export function agentSigner(socketPath: string): Signer {
  const agent = new OpenSSHAgent(socketPath);
  return (key, data, options) =>
    new Promise((resolve, reject) => {
      agent.sign(key, data, options, (err, signature) => {
        if (signature && !err) return resolve(signature);
        // ssh's words for SSH_AGENT_FAILURE (a key to confirm, not confirmed; a constrained key)
        reject(err?.message === 'Agent responded with failure' ? new Error('agent refused operation') : (err ?? new Error('the agent gave no signature')));
      });
    });
}
