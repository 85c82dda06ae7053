import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { utils, type ParsedKey } from 'ssh2';
import { generateEd25519 } from '../auth/sshkey';
import { OneKeyAgent } from '../protocol/agent';
import { showAs } from '../protocol/ssh2-ext';
import { agentSocketPath, certificatesFirst, orderIdentities, type Identity } from './identity';

function publicKey(): ParsedKey {
  const parsed = utils.parseKey(generateEd25519().public);
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('no key');
  return parsed;
}

/**
 * A plain identity and, sharing its key, a certificate identity (the blob only has to differ).
 * A file's is signable (as an encrypted key is, through its passphrase) unless `publicOnly`.
 */
function pair(label: string, fromAgent: boolean, publicOnly = false): [Identity, Identity] {
  const key = publicKey();
  const keyBlob = key.getPublicSSH();
  const signer = fromAgent || !publicOnly ? { agent: new OneKeyAgent(key, () => Promise.resolve(Buffer.alloc(0))) } : {};
  const plain: Identity = { key, ...signer, label, keyBlob, explicit: !fromAgent, fromAgent };
  const cert = showAs(key, 'ssh-ed25519-cert-v01@openssh.com', Buffer.concat([Buffer.from('cert:'), keyBlob]));
  return [{ ...plain, key: cert }, plain];
}

const names = (ids: Identity[]) => ids.map((id) => `${id.label}${id.key.type.includes('-cert-') ? '-cert' : ''}${id.fromAgent ? '@agent' : ''}`);

describe('identities', () => {
  it("orders them as ssh does: the agent's named keys, its other keys, then the other files", () => {
    const [aCert, a] = pair('a', false);
    const [bCert, b] = pair('b', false);
    const [, c] = pair('c', true);
    // The agent holds b (key and certificate, as ssh-add puts them) and c; the files are a and b.
    const agent: Identity[] = [c, { ...b, fromAgent: true, label: 'b-comment' }, { ...bCert, fromAgent: true, label: 'b-comment' }];
    const files = [aCert, a, bCert, b];
    assert.deepEqual(names(orderIdentities(files, agent, false)), ['b@agent', 'b-cert@agent', 'c@agent', 'a-cert', 'a']);
    assert.deepEqual(names(orderIdentities(files, agent, true)), ['b@agent', 'b-cert@agent', 'a-cert', 'a'], 'IdentitiesOnly: c stays back');
    assert.deepEqual(names(certificatesFirst(orderIdentities(files, agent, false))), ['b-cert@agent', 'b@agent', 'c@agent', 'a-cert', 'a']);
    assert.equal(orderIdentities(files, agent, false)[0]?.label, 'b', "a file's name, signed by the agent");
  });

  it('drops a file that nothing can sign for: a public key the agent does not hold', () => {
    const [, held] = pair('held.pub', false, true);
    const [, alone] = pair('alone.pub', false, true);
    const agentCopy: Identity = { ...held, fromAgent: true, label: 'comment' };
    assert.deepEqual(names(orderIdentities([held, alone], [agentCopy], false)), ['held.pub@agent']);
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
