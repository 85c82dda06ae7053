import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRESET_ROLES } from './presets';
import { parseRole } from './roles';

const good = `kind: role
metadata: { name: dev }
spec:
  options:
    ssh_port_forwarding:
      local: { enabled: true }
      remote: { enabled: true, permit_listen: ["localhost:8000-8999"] }
  allow: { logins: [alice] }
`;

describe('role documents', () => {
  it('parses a valid role and its listen rules', () => {
    const role = parseRole(good, 'dev.yaml');
    assert.equal(role.name, 'dev');
    assert.equal(role.permitListen?.[0]?.minPort, 8000);
  });

  it('parses the preset roles', () => {
    for (const yaml of Object.values(PRESET_ROLES)) assert.doesNotThrow(() => parseRole(yaml));
  });

  const bad: [string, string, RegExp][] = [
    ['YAML syntax', 'kind: role\nmetadata: [\n', /dev\.yaml:\d+:\d+: invalid YAML/],
    ['wrong kind', good.replace('kind: role', 'kind: user'), /kind: must be "role"/],
    ['missing logins', good.replace('allow: { logins: [alice] }', 'allow: {}'), /spec\.allow\.logins: required field is missing/],
    ['missing remote.enabled', good.replace('remote: { enabled: true, ', 'remote: { '), /spec\.options\.ssh_port_forwarding\.remote\.enabled: required field is missing/],
    ['typo in a field', good.replace('permit_listen', 'permit_listn'), /remote\.permit_listn: unknown field/],
    ['enabled not a boolean', good.replace('local: { enabled: true }', 'local: { enabled: "yes" }'), /local\.enabled: must be boolean/],
    ['bad listen rule', good.replace('localhost:8000-8999', 'localhost:99999'), /permit_listen\[0\]: listen rule "localhost:99999": port above 65535/],
    ['bad login', good.replace('[alice]', '["al ice"]'), /spec\.allow\.logins\[0\]: must be a valid OS login name/],
    ['bad name', good.replace('name: dev', 'name: "dev role"'), /metadata\.name: must be letters/],
    ['empty document', '', /\(top level\): must be object/],
  ];
  for (const [name, yaml, message] of bad) {
    it(`refuses ${name} with the field named`, () => {
      assert.throws(() => parseRole(yaml, 'dev.yaml'), (err: Error) => {
        assert.match(err.message, message);
        assert.match(err.message, /^dev\.yaml/);
        return true;
      });
    });
  }
});
