import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from './config';

describe('ferryd config', () => {
  it('fills defaults for an empty file', () => {
    const c = parseConfig('', 'ferry.yaml');
    assert.equal(c.ssh.listen.port, 3022);
    assert.equal(c.auth.listen.port, 3025);
    assert.equal(c.dataDir, path.resolve('./data'));
  });

  it('reads teleport.yaml-shaped sections', () => {
    const c = parseConfig('ferry: { data_dir: /tmp/f }\nauth_service: { enabled: false }\nssh_service: { listen_addr: "[::]:2222" }\n', 'f.yaml');
    assert.equal(c.auth.enabled, false);
    assert.deepEqual(c.ssh.listen, { host: '::', port: 2222 });
    assert.equal(c.dataDir, '/tmp/f');
  });

  const bad: [string, RegExp][] = [
    ['ssh_service: { listen_addr: "nowhere" }', /f\.yaml: ssh_service\.listen_addr: must be HOST:PORT/],
    ['ssh_service: { listen_addr: "x:70000" }', /ssh_service\.listen_addr: "x:70000" must be HOST:PORT with a port up to 65535/],
    ['ssh_service: { enabeld: true }', /ssh_service\.enabeld: unknown field/],
    ['auth_service: { enabled: "no" }', /auth_service\.enabled: must be boolean/],
    ['auth_service: { enabled: false }\nssh_service: { enabled: false }', /nothing to run/],
    ['ssh_service: [', /f\.yaml:\d+:\d+: invalid YAML/],
  ];
  for (const [yaml, message] of bad) {
    it(`refuses ${JSON.stringify(yaml)}`, () => assert.throws(() => parseConfig(yaml, 'f.yaml'), message));
  }
});
