import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRole } from '../auth/roles';
import { resolveAccess } from './access';
import { MAX_SOCKET_PATH, authorizeDirectTcpip, authorizeLogin, authorizeTcpipForward, authorizeStreamlocalForward, type TcpipForwardRequest } from './authorize';

function role(name: string, remote: Record<string, unknown>, extra: { local?: boolean; logins?: string[]; deny?: string[] } = {}) {
  return parseRole(JSON.stringify({
    kind: 'role',
    metadata: { name },
    spec: {
      options: { ssh_port_forwarding: { local: { enabled: extra.local ?? true }, remote } },
      allow: { logins: extra.logins ?? ['alice'] },
      ...(extra.deny ? { deny: { logins: extra.deny } } : {}),
    },
  }));
}

const req = (over: Partial<TcpipForwardRequest> = {}): TcpipForwardRequest => ({
  bindAddress: 'localhost', port: 8080, uid: 1000, activeForwards: 0, certPermitsForwarding: true, ...over,
});

describe('authorizeTcpipForward', () => {
  const dev = role('dev', { enabled: true, permit_listen: ['localhost:8000-8999', '*:0', '*:80'], max_forwards: 2 });
  const cases: [string, ReturnType<typeof role>[], Partial<TcpipForwardRequest>, string | null, RegExp?][] = [
    ['allowed port in range', [dev], {}, null],
    ['port 0 listed', [dev], { port: 0 }, null],
    ['address not in the list', [dev], { bindAddress: '0.0.0.0' }, 'address_not_allowed', /listening on 0\.0\.0\.0:8080 is not allowed/],
    ['port outside the range', [dev], { port: 9000 }, 'address_not_allowed'],
    ['empty bind shown as *', [dev], { bindAddress: '', port: 9000 }, 'address_not_allowed', /on \*:9000/],
    ['privileged port for non-root', [dev], { bindAddress: 'x', port: 80 }, 'privileged_port', /port 80 is privileged/],
    ['privileged port for root', [dev], { bindAddress: 'x', port: 80, uid: 0 }, null],
    ['port above 65535', [dev], { port: 70000 }, 'port_out_of_range'],
    ['cap reached', [dev], { activeForwards: 2 }, 'cap_reached', /limit reached \(2 per connection\)/],
    ['certificate without permit-port-forwarding', [dev], { certPermitsForwarding: false }, 'certificate_denied'],
    ['no roles at all', [], {}, 'denied_by_role', /none of the roles/],
    ['remote off in one role', [dev, role('ops', { enabled: false })], {}, 'denied_by_role', /role "ops" disables remote port forwarding/],
    ['lists combine across roles', [dev, role('web', { enabled: true, permit_listen: ['localhost:9000'] })], { port: 9000 }, null],
    ['role with no list allows any unprivileged port', [role('open', { enabled: true })], { bindAddress: '*', port: 40000 }, null],
    ['smallest cap wins', [dev, role('tight', { enabled: true, max_forwards: 1 })], { activeForwards: 1 }, 'cap_reached'],
  ];
  for (const [name, roles, over, code, message] of cases) {
    it(name, () => {
      const d = authorizeTcpipForward(resolveAccess(roles, ['alice']), req(over));
      if (code === null) return assert.equal(d.allow, true, JSON.stringify(d));
      assert.equal(d.allow, false);
      if (d.allow) return;
      assert.equal(d.code, code);
      if (message) assert.match(`${d.message} | ${d.reason}`, message);
      assert.ok(d.reason.length >= d.message.length, 'the audit reason is the full text');
    });
  }
});

describe('authorizeStreamlocalForward', () => {
  it('follows the remote switch and unix_sockets', () => {
    const on = resolveAccess([role('a', { enabled: true })], []);
    assert.equal(authorizeStreamlocalForward(on, '/tmp/x.sock', 0, true).allow, true);
    const off = resolveAccess([role('a', { enabled: true }), role('b', { enabled: true, unix_sockets: false })], []);
    const d = authorizeStreamlocalForward(off, '/tmp/x.sock', 0, true);
    assert.equal(d.allow ? '' : d.code, 'denied_by_role');
    const rel = authorizeStreamlocalForward(on, 'x.sock', 0, true);
    assert.equal(rel.allow ? '' : rel.code, 'path_not_allowed');
  });

  it('refuses a path longer than sun_path holds, counted in bytes, and one with a NUL', () => {
    const on = resolveAccess([role('a', { enabled: true })], []);
    const fits = `/tmp/${'x'.repeat(MAX_SOCKET_PATH - 5)}`;
    assert.equal(Buffer.byteLength(fits), MAX_SOCKET_PATH);
    assert.equal(authorizeStreamlocalForward(on, fits, 0, true).allow, true);
    const long = authorizeStreamlocalForward(on, `${fits}x`, 0, true);
    assert.match(long.allow ? '' : long.message, /too long \(108 bytes, at most 107\)/);
    const wide = authorizeStreamlocalForward(on, `/tmp/${'é'.repeat(52)}`, 0, true); // 5 + 104 bytes
    assert.equal(wide.allow ? '' : wide.code, 'path_not_allowed');
    const nul = authorizeStreamlocalForward(on, '/tmp/a\0b', 0, true);
    assert.match(nul.allow ? '' : nul.message, /NUL/);
  });
});

describe('authorizeLogin', () => {
  it('expands {{internal.logins}} and honours deny.logins', () => {
    const access = resolveAccess([role('t', { enabled: true }, { logins: ['{{internal.logins}}'], deny: ['root'] })], ['alice', 'root']);
    assert.equal(authorizeLogin(access, 'alice').allow, true);
    const root = authorizeLogin(access, 'root');
    assert.equal(root.allow ? '' : root.code, 'login_denied');
    assert.equal(authorizeLogin(access, 'mallory').allow, false);
  });
});

describe('authorizeDirectTcpip', () => {
  it('refuses a port above 65535 before anything dials it', () => {
    const on = resolveAccess([role('a', { enabled: true })], []);
    assert.equal(authorizeDirectTcpip(on, true, '127.0.0.1', 65535).allow, true);
    const d = authorizeDirectTcpip(on, true, '127.0.0.1', 65536);
    assert.equal(d.allow ? '' : d.code, 'port_out_of_range');
  });
});
