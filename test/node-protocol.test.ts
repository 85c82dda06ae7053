// The node at the protocol level, driven by ssh2's client over real loopback sockets:
// reply ordering, cross-connection isolation, malformed requests, certificate refusals and
// role changes taking effect without new certificates.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, type ParsedKey } from 'ssh2';
import { signCertificate, ed25519PublicBlob, formatAuthorizedKeyLine, parseAuthorizedKeyLine } from '../src/auth/sshcert';
import { newEd25519 } from '../src/auth/sshkey';
import { certifiedKey } from '../src/protocol/ssh2-ext';
import { TestCluster, roleYaml, type Credentials } from './helpers/cluster';
import { canConnect, eventually } from './helpers/process';
import { MSG, sendRaw, sshString, sshUint32 } from './helpers/raw';
import { certifiedKeyFile, connect, forwardIn } from './helpers/ssh2-client';
import { ensureOpenSSH, ensureOsUser, type TestOsUser } from './helpers/system';

const unforwardIn = (c: Client, bind: string, port: number) =>
  new Promise<void>((resolve, reject) => c.unforwardIn(bind, port, (err) => (err ? reject(err) : resolve())));

/** Sends a GLOBAL_REQUEST (want_reply) whose payload the test writes byte by byte. */
function sendRawGlobalRequest(c: Client, name: string, payload: Buffer): void {
  sendRaw(c, MSG.GLOBAL_REQUEST, sshString(name), Buffer.from([1]), payload);
}

describe('the node at the protocol level', () => {
  let cluster: TestCluster;
  let dev: TestOsUser;
  let creds: Credentials;
  let key: ParsedKey;

  before(async () => {
    ensureOpenSSH();
    dev = ensureOsUser('ferry-dev');
    cluster = await TestCluster.start();
    await cluster.role(roleYaml('dev', { logins: [dev.name], permitListen: ['*:1024-65535', '*:0'], maxForwards: 3 }));
    creds = await cluster.user('alice', [dev.name], ['dev']);
    key = certifiedKeyFile(creds.key);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('answers every want_reply global request in order, unknown ones included', async () => {
    const c = await connect(cluster.port, dev.name, key);
    try {
      const blocker = net.createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
      const taken = (blocker.address() as net.AddressInfo).port;
      const order: string[] = [];
      const a = forwardIn(c, '127.0.0.1', taken).then(() => order.push('taken:ok'), () => order.push('taken:fail'));
      const b = forwardIn(c, 'localhost', 0).then((p) => order.push(`zero:${p > 0 ? 'ok' : 'bad'}`), () => order.push('zero:fail'));
      const d = forwardIn(c, '127.0.0.1', 70000).then(() => order.push('big:ok'), () => order.push('big:fail'));
      await Promise.all([a, b, d]);
      blocker.close();
      assert.deepEqual(order, ['taken:fail', 'zero:ok', 'big:fail']);
      const refusal = await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.fields?.requested_port === 70000);
      assert.equal(refusal.code, 'port_out_of_range');
    } finally {
      c.end();
    }
  });

  it('one connection can never cancel another connection’s forward', async () => {
    const owner = await connect(cluster.port, dev.name, key);
    const other = await connect(cluster.port, dev.name, key);
    try {
      const port = await forwardIn(owner, 'localhost', 0);
      await assert.rejects(unforwardIn(other, 'localhost', port));
      assert.equal(await canConnect(port), true);
      const refusal = await cluster.expectAudit('tunnel.cancel', (e) => !e.success && e.fields?.forward === `localhost:${port}`);
      assert.equal(refusal.code, 'no_such_forward');
      // The owner must name the forward exactly: same string, bound port.
      await assert.rejects(unforwardIn(owner, '127.0.0.1', port));
      await unforwardIn(owner, 'localhost', port);
      assert.equal(await canConnect(port), false);
      // And the port can be taken again at once.
      assert.equal(await forwardIn(owner, 'localhost', port), port);
    } finally {
      owner.end();
      other.end();
    }
  });

  it('caps remote forwards per connection (cap_reached)', async () => {
    const c = await connect(cluster.port, dev.name, key);
    try {
      for (let i = 0; i < 3; i++) await forwardIn(c, 'localhost', 0);
      await assert.rejects(forwardIn(c, 'localhost', 0));
      const refusal = await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.code === 'cap_reached');
      assert.match(refusal.message ?? '', /max_forwards 3/);
    } finally {
      c.end();
    }
  });

  it('a malformed tcpip-forward ends only that connection; the node serves everyone else', async () => {
    const victim = await connect(cluster.port, dev.name, key);
    const bystander = await connect(cluster.port, dev.name, key);
    try {
      const port = await forwardIn(bystander, 'localhost', 0);
      const closed = new Promise<void>((r) => victim.once('close', () => r()));
      victim.on('error', () => {});
      // A bind address string, then no port: a truncated payload.
      sendRawGlobalRequest(victim, 'tcpip-forward', Buffer.concat([sshUint32(9), Buffer.from('localhost')]));
      await closed;
      assert.equal(await canConnect(port), true, 'the other connection keeps its forward');
      const fresh = await connect(cluster.port, dev.name, key);
      fresh.end();
    } finally {
      bystander.end();
    }
  });

  it('survives garbage on the wire: bad banners and random bytes end only those sockets', async () => {
    const payloads = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.concat([Buffer.from('SSH-2.0-junk\r\n'), crypto.randomBytes(4096)]),
      Buffer.concat([Buffer.from('SSH-2.0-junk\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00])]),
      crypto.randomBytes(70_000),
    ];
    for (const payload of payloads) {
      await new Promise<void>((resolve) => {
        const s = net.connect({ port: cluster.port, host: '127.0.0.1' }, () => s.write(payload));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.on('data', () => {});
        setTimeout(() => { s.destroy(); resolve(); }, 2000).unref();
      });
    }
    const c = await connect(cluster.port, dev.name, key);
    assert.ok((await forwardIn(c, 'localhost', 0)) > 0);
    c.end();
  });

  it('refuses expired, foreign and wrong-principal certificates, each audited with its code', async () => {
    const cases: { name: string; code: string; sign: () => Promise<string> }[] = [
      {
        name: 'expired',
        code: 'cert_expired',
        sign: async () => {
          const ca = await cluster.auth.getCA('user');
          return certLine(crypto.createPrivateKey(ca.privateKeyPem), ca.publicBlob, [dev.name], new Date(Date.now() - 7200_000), new Date(Date.now() - 3600_000));
        },
      },
      {
        name: 'signed by another CA',
        code: 'cert_untrusted_authority',
        sign: async () => {
          const { privateKey, publicKey } = newEd25519();
          return certLine(privateKey, ed25519PublicBlob(publicKey), [dev.name], new Date(Date.now() - 60_000), new Date(Date.now() + 3600_000));
        },
      },
      {
        name: 'for another login',
        code: 'cert_principal_mismatch',
        sign: async () => {
          const ca = await cluster.auth.getCA('user');
          return certLine(crypto.createPrivateKey(ca.privateKeyPem), ca.publicBlob, ['someone-else'], new Date(Date.now() - 60_000), new Date(Date.now() + 3600_000));
        },
      },
    ];
    const pub = parseAuthorizedKeyLine(fs.readFileSync(`${creds.key}.pub`, 'utf8'));
    function certLine(caKey: crypto.KeyObject, caBlob: Buffer, principals: string[], from: Date, to: Date): string {
      const blob = signCertificate({ publicKeyBlob: pub.blob, type: 'user', keyId: 'alice', principals, validAfter: from, validBefore: to, extensions: [{ name: 'permit-port-forwarding', data: '' }] }, { privateKey: caKey, publicBlob: caBlob });
      return formatAuthorizedKeyLine('ssh-ed25519-cert-v01@openssh.com', blob);
    }
    const plain = certifiedKeyFile(creds.key);
    for (const c of cases) {
      const bad = certifiedKey(Object.getPrototypeOf(plain) as ParsedKey, await c.sign(), c.name);
      await assert.rejects(connect(cluster.port, dev.name, bad), /authentication methods failed/, c.name);
      const refusal = await cluster.expectAudit('auth.login', (e) => !e.success && e.code === c.code);
      assert.ok(refusal.message && refusal.message.length > 10, c.name);
    }
    const ok = await connect(cluster.port, dev.name, key);
    ok.end();
  });

  it('a role change applies to the next request without a new certificate', async () => {
    const c = await connect(cluster.port, dev.name, key);
    try {
      await forwardIn(c, 'localhost', 0);
      await cluster.role(roleYaml('dev', { logins: [dev.name], remote: false }));
      await assert.rejects(forwardIn(c, 'localhost', 0));
      await cluster.expectAudit('tunnel.listen', (e) => !e.success && e.code === 'denied_by_role');
    } finally {
      c.end();
      await cluster.role(roleYaml('dev', { logins: [dev.name], permitListen: ['*:1024-65535', '*:0'], maxForwards: 3 }));
    }
  });

  it('refuses -L (direct-tcpip) when no role enables local forwarding, with the reason', async () => {
    await cluster.role(roleYaml('dev', { logins: [dev.name], local: false, permitListen: ['*:1024-65535', '*:0'], maxForwards: 3 }));
    const c = await connect(cluster.port, dev.name, key);
    try {
      const err = await new Promise<Error | undefined>((resolve) => c.forwardOut('127.0.0.1', 1, '127.0.0.1', cluster.port, (e) => resolve(e)));
      assert.match(String(err?.message), /local port forwarding is not allowed for you/);
      const refusal = await cluster.expectAudit('forward.local', (e) => !e.success);
      assert.equal(refusal.code, 'denied_by_role');
    } finally {
      c.end();
      await cluster.role(roleYaml('dev', { logins: [dev.name], permitListen: ['*:1024-65535', '*:0'], maxForwards: 3 }));
    }
  });

  it('after an abrupt disconnect every listener of the connection is closed', async () => {
    const c = await connect(cluster.port, dev.name, key);
    const ports = [await forwardIn(c, 'localhost', 0), await forwardIn(c, '', 0)];
    const sock = (c as unknown as { _sock: net.Socket })._sock;
    sock.destroy();
    for (const port of ports) await eventually(`port ${port} closed`, async () => !(await canConnect(port)), 1000);
  });

  it('refuses an OS login that does not exist, with the reason audited', async () => {
    const ghost = await cluster.user('ghost', ['no-such-user-x'], ['dev']);
    await cluster.role(roleYaml('dev', { logins: [dev.name, 'no-such-user-x'], permitListen: ['*:1024-65535', '*:0'], maxForwards: 3 }));
    const gkey = certifiedKeyFile(ghost.key);
    await assert.rejects(connect(cluster.port, 'no-such-user-x', gkey));
    const refusal = await cluster.expectAudit('auth.login', (e) => !e.success && e.user === 'ghost');
    assert.equal(refusal.code, 'unknown_login');
  });

  it('refuses an expired OS account or one whose shell is missing, as sshd does, and audits why', async () => {
    const expired = ensureOsUser('ferry-expired', { expire: '2000-01-01', shell: '/bin/sh' });
    const noShell = ensureOsUser('ferry-noshell', { expire: '', shell: '/nonexistent/shell' });
    const later = ensureOsUser('ferry-later', { expire: '2999-01-01', shell: '/bin/sh' });
    await cluster.role(roleYaml('accounts', { logins: [expired.name, noShell.name, later.name] }));
    const cases: [TestOsUser, string, string, RegExp | undefined][] = [
      [expired, 'erin', 'login_expired', /account of login "ferry-expired" expired on 2000-01-01/],
      [noShell, 'nora', 'login_shell_unusable', /login shell \/nonexistent\/shell of "ferry-noshell" does not exist/],
      [later, 'lara', '', undefined],
    ];
    for (const [os, name, code, reason] of cases) {
      const creds = await cluster.user(name, [os.name], ['accounts']);
      const key = certifiedKeyFile(creds.key);
      if (!code) {
        (await connect(cluster.port, os.name, key)).end(); // an expiry still ahead lets the login in
        continue;
      }
      await assert.rejects(connect(cluster.port, os.name, key));
      const refusal = await cluster.expectAudit('auth.login', (e) => !e.success && e.user === name);
      assert.equal(refusal.code, code);
      assert.match(refusal.message ?? '', reason ?? /./);
    }
  });
});

describe('stopping the node', () => {
  it('hangs up running sessions and records their end before it stops', async () => {
    ensureOpenSSH();
    const dev = ensureOsUser('ferry-dev');
    const cluster = await TestCluster.start();
    try {
      await cluster.role(roleYaml('dev', { logins: [dev.name] }));
      const creds = await cluster.user('alice', [dev.name], ['dev']);
      const c = await connect(cluster.port, dev.name, certifiedKeyFile(creds.key));
      c.on('error', () => {});
      // `exec`: the login shell is dash, which would fork sleep and die alone on the hang-up.
      await new Promise<void>((resolve, reject) => c.exec('exec sleep 30', (err, stream) => {
        if (err) return reject(err);
        stream.on('data', () => {}).stderr.on('data', () => {});
        resolve();
      }));
      await cluster.expectAudit('session.start', (e) => e.fields?.command === 'exec sleep 30');
      await cluster.node.stop();
      const ends = await cluster.auth.storage.queryAudit({ type: 'session.end', limit: 10 });
      assert.ok(ends.some((e) => e.fields?.command === 'exec sleep 30' && e.fields.signal === 'SIGHUP'), JSON.stringify(ends));
    } finally {
      await cluster.auth.storage.close();
      fs.rmSync(cluster.dir, { recursive: true, force: true });
    }
  });
});
