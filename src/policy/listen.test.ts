import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesListenRule, parseListenRule } from './listen';

describe('permit_listen rules', () => {
  const cases: [rule: string, bind: string, port: number, match: boolean][] = [
    ['localhost:8080', 'localhost', 8080, true],
    ['localhost:8080', 'LOCALHOST', 8080, true],
    ['localhost:8080', 'localhost', 8081, false],
    ['localhost:8080', '127.0.0.1', 8080, false],
    ['*:8000-8999', '', 8500, true],
    ['*:8000-8999', '0.0.0.0', 7999, false],
    ['*:*', 'anything', 65535, true],
    ['*:*', 'anything', 0, false],
    ['*:0', 'localhost', 0, true],
    ['*:0', 'localhost', 1, false],
    ['127.0.0.?:9000', '127.0.0.1', 9000, true],
    ['[::1]:9000', '::1', 9000, true],
    ['[::1]:*', '::1', 22, true],
    ['10.*:80', '10.1.2.3', 80, true],
    ['10.*:80', '110.1.2.3', 80, false],
  ];
  for (const [rule, bind, port, match] of cases) {
    it(`${rule} ${match ? 'matches' : 'does not match'} "${bind}":${port}`, () => {
      assert.equal(matchesListenRule(parseListenRule(rule), bind, port), match);
    });
  }

  const bad: [string, RegExp][] = [
    ['localhost', /missing port/],
    [':80', /empty host pattern/],
    ['host:70000', /above 65535/],
    ['host:90-80', /backwards/],
    ['host:0-100', /port 0 must be listed on its own/],
    ['host:abc', /bad port "abc"/],
    ['[::1:80', /unbalanced brackets/],
  ];
  for (const [rule, message] of bad) {
    it(`refuses "${rule}"`, () => {
      assert.throws(() => parseListenRule(rule), (err: Error) => message.test(err.message) && err.message.includes(`"${rule}"`));
    });
  }
});
