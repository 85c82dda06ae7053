import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SqliteStorage } from './sqlite';

describe('SqliteStorage audit log', () => {
  it('writes a batch in order with each event’s own time, and filters by type prefix, time, user, outcome and limit', async () => {
    const db = new SqliteStorage(':memory:');
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    await db.appendAuditBatch([
      { type: 'tunnel.listen', success: true, user: 'alice', time: t(1) },
      { type: 'tunnel.conn.start', success: true, user: 'alice', time: t(2) },
      { type: 'tunnelx', success: true, user: 'bob', time: t(3) },
      { type: 'tunnel.listen', success: false, user: 'bob', code: 'denied_by_role', time: t(4) },
    ]);
    await db.appendAudit({ type: 'auth.login', success: true, user: 'alice', fields: { roles: ['dev'] } });
    const all = await db.queryAudit({});
    assert.deepEqual(all.map((e) => e.type), ['tunnel.listen', 'tunnel.conn.start', 'tunnelx', 'tunnel.listen', 'auth.login']);
    assert.equal(all[1]?.time.getTime(), t(2).getTime());
    assert.deepEqual(all[4]?.fields, { roles: ['dev'] });
    assert.deepEqual((await db.queryAudit({ type: 'tunnel' })).map((e) => e.type), ['tunnel.listen', 'tunnel.conn.start', 'tunnel.listen']);
    assert.equal((await db.queryAudit({ since: t(2), until: t(3) })).length, 2);
    assert.equal((await db.queryAudit({ user: 'bob', success: false }))[0]?.code, 'denied_by_role');
    assert.equal((await db.queryAudit({ limit: 2 })).length, 2);
    assert.equal((await db.queryAudit({ limit: 3 })).length, 3);
    await db.close();
  });
});
