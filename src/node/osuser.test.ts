import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { accountRefusal, type OsUser } from './osuser';

const DAY = 86_400_000;

function user(over: Partial<OsUser> = {}): OsUser {
  return { name: 'dev', uid: 1000, gid: 1000, groups: [1000], home: '/home/dev', shell: '/bin/sh', ...over };
}

describe('accountRefusal', () => {
  it('lets an account without an expiry and with a working shell in', () => {
    assert.equal(accountRefusal(user()), undefined);
  });

  it('refuses from the expiry day on, as pam_unix does, and names the day', () => {
    const expiresDay = 20_000; // 2024-10-04
    assert.equal(accountRefusal(user({ expiresDay }), new Date(expiresDay * DAY - 1)), undefined);
    const refusal = accountRefusal(user({ expiresDay }), new Date(expiresDay * DAY));
    assert.equal(refusal?.code, 'login_expired');
    assert.match(refusal?.reason ?? '', /account of login "dev" expired on 2024-10-04/);
    assert.equal(accountRefusal(user({ expiresDay: 0 }))?.code, 'login_expired'); // chage -E 0
  });

  it('refuses a login whose shadow entry could not be read, as pam_unix does', () => {
    const refusal = accountRefusal(user({ shadowError: 'getent shadow exited with status 1' }));
    assert.equal(refusal?.code, 'login_unverifiable');
    assert.match(refusal?.reason ?? '', /shadow entry of login "dev" could not be read \(getent shadow exited with status 1\)/);
  });

  it('refuses a login shell that is missing, not executable, or not a file, as sshd does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shell-'));
    try {
      const plain = path.join(dir, 'plain');
      fs.writeFileSync(plain, '', { mode: 0o644 });
      const cases: [string, RegExp][] = [
        [path.join(dir, 'missing'), /does not exist/],
        [plain, /is not executable/],
        [dir, /is not executable/],
      ];
      for (const [shell, why] of cases) {
        const refusal = accountRefusal(user({ shell }));
        assert.equal(refusal?.code, 'login_shell_unusable', shell);
        assert.match(refusal?.reason ?? '', why);
      }
      const nologin = path.join(dir, 'nologin');
      fs.writeFileSync(nologin, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
      assert.equal(accountRefusal(user({ shell: nologin })), undefined, 'a nologin shell still serves tunnels, as with sshd');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
