import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planBind, plainAddress } from './bind';

describe('planBind: sshd bind-address semantics', () => {
  const cases: [bind: string, gatewayPorts: boolean, hosts: string[], firstOnly: boolean][] = [
    ['localhost', false, ['127.0.0.1', '::1'], false],
    ['', false, ['127.0.0.1', '::1'], false],
    ['*', false, ['127.0.0.1', '::1'], false],
    ['0.0.0.0', false, ['127.0.0.1', '::1'], false],
    ['192.0.2.7', false, ['127.0.0.1', '::1'], false],
    ['127.0.0.1', false, ['127.0.0.1'], false],
    ['::1', false, ['::1'], false],
    ['localhost', true, ['127.0.0.1', '::1'], false],
    ['', true, ['::', '0.0.0.0'], true],
    ['*', true, ['::', '0.0.0.0'], true],
    ['0.0.0.0', true, ['0.0.0.0'], false],
    ['192.0.2.7', true, ['192.0.2.7'], false],
    ['127.0.0.1', true, ['127.0.0.1'], false],
  ];
  for (const [bind, gw, hosts, firstOnly] of cases) {
    it(`"${bind}" with gateway_ports ${gw} binds ${hosts.join(', ')}`, () => {
      assert.deepEqual(planBind(bind, gw), { hosts, firstOnly });
    });
  }

  it('reports IPv4-mapped peers in their IPv4 form', () => {
    assert.equal(plainAddress('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(plainAddress('::1'), '::1');
    assert.equal(plainAddress(undefined), '');
  });
});
