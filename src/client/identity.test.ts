import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ParsedKey } from 'ssh2';
import { generateEd25519 } from '../auth/sshkey';
import { parseFirstKey, showAs } from '../protocol/ssh2-ext';
import { agentSocketPath, certificatesFirst, orderIdentities, withSigners, type Identity } from './identity';

function keyPair(): { priv: ParsedKey; pub: ParsedKey } {
  const pair = generateEd25519();
  const parse = (text: string) => {
    const parsed = parseFirstKey(text);
    if (parsed instanceof Error) throw parsed;
    return parsed;
  };
  return { priv: parse(pair.private), pub: parse(pair.public) };
}

const sign = () => Promise.resolve(Buffer.alloc(0));
type Holder = 'private' | 'passphrase' | 'agent' | 'none';

/**
 * A plain identity and, sharing its key, a certificate identity (the blob only has to differ
 * from the key's), each held as `holder` says: a private key read from its file, a key that
 * needs its passphrase, the agent, or nothing (a public key file).
 */
function pair(label: string, holder: Holder): [Identity, Identity] {
  const { priv, pub } = keyPair();
  const key = holder === 'private' ? priv : pub;
  const keyBlob = key.getPublicSSH();
  const plain: Identity = { key, ...(holder === 'agent' || holder === 'passphrase' ? { sign } : {}), label, keyBlob, explicit: holder !== 'agent', fromAgent: holder === 'agent' };
  const cert = showAs(key, 'ssh-ed25519-cert-v01@openssh.com', Buffer.concat([Buffer.from('cert:'), keyBlob]));
  return [{ ...plain, key: cert }, plain];
}

/** The same key, held otherwise (the agent's copy of a file's key, say). */
function heldAs(id: Identity, holder: Holder, label = id.label): Identity {
  const { sign: _s, ...rest } = id;
  return { ...rest, ...(holder === 'agent' || holder === 'passphrase' ? { sign } : {}), label, fromAgent: holder === 'agent' };
}

const names = (ids: Identity[]) => ids.map((id) => `${id.label}${id.key.type.includes('-cert-') ? '-cert' : ''}${id.fromAgent ? '@agent' : ''}`);

describe('identities', () => {
  it("orders them as ssh does: the agent's named keys, its other keys, then the other files", () => {
    const [aCert, a] = pair('a', 'private');
    const [bCert, b] = pair('b', 'private');
    const [, c] = pair('c', 'agent');
    // The agent holds c, then b (key and certificate, as ssh-add puts them); the files are a and b.
    const agent = [c, heldAs(b, 'agent', 'b-comment'), heldAs(bCert, 'agent', 'b-comment')];
    const files = [aCert, a, bCert, b];
    assert.deepEqual(names(orderIdentities(files, agent, false)), ['b@agent', 'b-cert@agent', 'c@agent', 'a-cert', 'a']);
    assert.deepEqual(names(orderIdentities(files, agent, true)), ['b@agent', 'b-cert@agent', 'a-cert', 'a'], 'IdentitiesOnly: c stays back');
    assert.deepEqual(names(certificatesFirst(orderIdentities(files, agent, false))), ['b-cert@agent', 'b@agent', 'c@agent', 'a-cert', 'a']);
    assert.equal(orderIdentities(files, agent, false)[0]?.label, 'b', "a file's name, signed by the agent");
  });

  it('signs each with the best holder of its key: the agent, a private key, a passphrase; drops what nothing holds', () => {
    const table: Array<[string, Holder, Holder | undefined, string[]]> = [
      // [what, the file's key, the agent's copy of the plain key, offered]
      ['a certificate on disk, its key in the agent only', 'passphrase', 'agent', ['k-cert@agent', 'k@agent']],
      ['a .pub and its certificate, the key in the agent', 'none', 'agent', ['k-cert@agent', 'k@agent']],
      ['a .pub and its certificate, the key nowhere', 'none', undefined, []],
      ['an encrypted key, no agent', 'passphrase', undefined, ['k-cert', 'k']],
      ['a private key, no agent', 'private', undefined, ['k-cert', 'k']],
    ];
    for (const [what, file, agentCopy, offered] of table) {
      const [cert, plain] = pair('k', file);
      const agent = agentCopy ? [heldAs(plain, agentCopy)] : [];
      const ids = withSigners(orderIdentities([cert, plain], agent, false));
      assert.deepEqual(names(certificatesFirst(ids)), offered, what);
      for (const id of ids) assert.ok(id.sign !== undefined || id.key.isPrivateKey(), `${what}: ${id.label} can be signed for`);
    }
    const [cert, plain] = pair('k', 'private');
    const borrowed = withSigners([{ ...cert, key: showAs(keyPair().pub, cert.key.type, cert.key.getPublicSSH()), keyBlob: plain.keyBlob }, plain]);
    assert.ok(borrowed[0]?.sign, "a CertificateFile's certificate signs with the key file's private key");
    assert.equal(withSigners([plain, { ...plain, label: 'again' }]).length, 1, 'one key, offered once');
  });

  it('finds the agent as ssh does: SSH_AUTH_SOCK by default, IdentityAgent a path, $VAR or none', () => {
    const env = { SSH_AUTH_SOCK: '/run/a.sock', OTHER: '/run/b.sock' };
    const cases: Array<[string | undefined, string | undefined]> = [
      [undefined, '/run/a.sock'],
      ['SSH_AUTH_SOCK', '/run/a.sock'],
      ['$OTHER', '/run/b.sock'],
      ['$UNSET', undefined],
      ['none', undefined],
      ['/tmp/agent', '/tmp/agent'],
    ];
    for (const [setting, socket] of cases) assert.equal(agentSocketPath(setting, env), socket, String(setting));
    assert.equal(agentSocketPath(undefined, {}), undefined);
  });
});
