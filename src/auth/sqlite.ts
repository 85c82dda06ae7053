// The embedded SQLite backend. WAL mode lets ferryd write while ferryctl reads the same file.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AlreadyExistsError, FerryError } from '../errors';
import type {
  AuditEvent,
  AuditQuery,
  CAType,
  CertAuthority,
  RoleRecord,
  Storage,
  StoredAuditEvent,
  TunnelRecord,
  User,
} from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cas (
  type TEXT PRIMARY KEY,
  private_key_pem TEXT NOT NULL,
  public_blob BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY,
  logins TEXT NOT NULL,
  roles TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
  name TEXT PRIMARY KEY,
  yaml TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  type TEXT NOT NULL,
  success INTEGER NOT NULL,
  code TEXT,
  message TEXT,
  user TEXT,
  login TEXT,
  node TEXT,
  remote_addr TEXT,
  fields TEXT
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time);
CREATE INDEX IF NOT EXISTS audit_type ON audit(type, time);
CREATE TABLE IF NOT EXISTS tunnels (
  id TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  user TEXT NOT NULL,
  login TEXT NOT NULL,
  remote_addr TEXT NOT NULL,
  kind TEXT NOT NULL,
  bind_address TEXT NOT NULL,
  port INTEGER NOT NULL,
  connections INTEGER NOT NULL,
  active_connections INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

interface CARow { type: string; private_key_pem: string; public_blob: Buffer; created_at: number }
interface UserRow { name: string; logins: string; roles: string; created_at: number }
interface RoleRow { name: string; yaml: string; updated_at: number }
interface AuditRow {
  id: number; time: number; type: string; success: number; code: string | null; message: string | null;
  user: string | null; login: string | null; node: string | null; remote_addr: string | null; fields: string | null;
}
interface TunnelRow {
  id: string; node: string; user: string; login: string; remote_addr: string; kind: string;
  bind_address: string; port: number; connections: number; active_connections: number;
  bytes_in: number; bytes_out: number; started_at: number; updated_at: number;
}

export class SqliteStorage implements Storage {
  readonly #db: Database.Database;
  /** Statements are prepared once: preparing per call was a quarter of the node's time at 2k conn/s. */
  readonly #statements = new Map<string, Database.Statement>();

  #stmt(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      this.#db = new Database(file);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('busy_timeout = 5000');
      this.#db.exec(SCHEMA);
    } catch (err) {
      throw new FerryError('storage_open_failed', `cannot open the database ${file}: ${String(err)}`, { cause: err });
    }
    if (file !== ':memory:') fs.chmodSync(file, 0o600);
  }

  async getCA(type: CAType): Promise<CertAuthority | undefined> {
    const row = this.#stmt('SELECT * FROM cas WHERE type = ?').get(type) as CARow | undefined;
    return row && { type, privateKeyPem: row.private_key_pem, publicBlob: row.public_blob, createdAt: new Date(row.created_at) };
  }

  async initCA(ca: CertAuthority): Promise<CertAuthority> {
    this.#stmt('INSERT OR IGNORE INTO cas (type, private_key_pem, public_blob, created_at) VALUES (?, ?, ?, ?)')
      .run(ca.type, ca.privateKeyPem, ca.publicBlob, ca.createdAt.getTime());
    const stored = await this.getCA(ca.type);
    if (!stored) throw new FerryError('storage_failed', `the ${ca.type} CA was not stored`);
    return stored;
  }

  async getUser(name: string): Promise<User | undefined> {
    const row = this.#stmt('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    return row && userFromRow(row);
  }

  async listUsers(): Promise<User[]> {
    return (this.#stmt('SELECT * FROM users ORDER BY name').all() as UserRow[]).map(userFromRow);
  }

  async createUser(user: User): Promise<void> {
    const result = this.#stmt('INSERT OR IGNORE INTO users (name, logins, roles, created_at) VALUES (?, ?, ?, ?)')
      .run(user.name, JSON.stringify(user.logins), JSON.stringify(user.roles), user.createdAt.getTime());
    if (result.changes === 0) throw new AlreadyExistsError(`user "${user.name}" already exists`);
  }

  async updateUser(user: User): Promise<void> {
    this.#stmt('UPDATE users SET logins = ?, roles = ? WHERE name = ?')
      .run(JSON.stringify(user.logins), JSON.stringify(user.roles), user.name);
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.#stmt('DELETE FROM users WHERE name = ?').run(name).changes > 0;
  }

  async getRole(name: string): Promise<RoleRecord | undefined> {
    const row = this.#stmt('SELECT * FROM roles WHERE name = ?').get(name) as RoleRow | undefined;
    return row && roleFromRow(row);
  }

  async listRoles(): Promise<RoleRecord[]> {
    return (this.#stmt('SELECT * FROM roles ORDER BY name').all() as RoleRow[]).map(roleFromRow);
  }

  async putRole(role: RoleRecord, opts: { replace: boolean }): Promise<void> {
    const verb = opts.replace ? 'INSERT OR REPLACE' : 'INSERT OR IGNORE';
    const result = this.#stmt(`${verb} INTO roles (name, yaml, updated_at) VALUES (?, ?, ?)`)
      .run(role.name, role.yaml, role.updatedAt.getTime());
    if (result.changes === 0) throw new AlreadyExistsError(`role "${role.name}" already exists (use --force to replace it)`);
  }

  async deleteRole(name: string): Promise<boolean> {
    return this.#stmt('DELETE FROM roles WHERE name = ?').run(name).changes > 0;
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    this.#insertAudit(event);
  }

  #auditTx: ((batch: AuditEvent[]) => void) | undefined;

  async appendAuditBatch(events: AuditEvent[]): Promise<void> {
    this.#auditTx ??= this.#db.transaction((batch: AuditEvent[]) => {
      for (const event of batch) this.#insertAudit(event);
    });
    this.#auditTx(events);
  }

  #insertAudit(event: AuditEvent): void {
    this.#stmt(
        `INSERT INTO audit (time, type, success, code, message, user, login, node, remote_addr, fields)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        event.time?.getTime() ?? Date.now(),
        event.type,
        event.success ? 1 : 0,
        event.code ?? null,
        event.message ?? null,
        event.user ?? null,
        event.login ?? null,
        event.node ?? null,
        event.remoteAddr ?? null,
        event.fields ? JSON.stringify(event.fields) : null,
      );
  }

  async queryAudit(query: AuditQuery): Promise<StoredAuditEvent[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.type !== undefined) {
      // "tunnel" matches tunnel.listen, tunnel.conn.start, ...: a prefix filter by dotted segment.
      where.push('(type = ? OR type LIKE ?)');
      args.push(query.type, `${query.type}.%`);
    }
    if (query.since) { where.push('time >= ?'); args.push(query.since.getTime()); }
    if (query.until) { where.push('time <= ?'); args.push(query.until.getTime()); }
    if (query.user !== undefined) { where.push('user = ?'); args.push(query.user); }
    if (query.success !== undefined) { where.push('success = ?'); args.push(query.success ? 1 : 0); }
    // Filters vary only in which are present, so the statement cache stays small.
    let sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    if (query.limit !== undefined) {
      sql += ' LIMIT ?';
      args.push(Math.max(0, Math.floor(query.limit)));
    }
    return (this.#stmt(sql).all(...args) as AuditRow[]).map(auditFromRow);
  }

  async upsertTunnel(t: TunnelRecord): Promise<void> {
    this.#stmt(
        `INSERT OR REPLACE INTO tunnels (id, node, user, login, remote_addr, kind, bind_address, port, connections,
           active_connections, bytes_in, bytes_out, started_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        t.id, t.node, t.user, t.login, t.remoteAddr, t.kind, t.bindAddress, t.port, t.connections,
        t.activeConnections, t.bytesIn, t.bytesOut, t.startedAt.getTime(), t.updatedAt.getTime(),
      );
  }

  async deleteTunnel(id: string): Promise<void> {
    this.#stmt('DELETE FROM tunnels WHERE id = ?').run(id);
  }

  async clearTunnels(node: string): Promise<void> {
    this.#stmt('DELETE FROM tunnels WHERE node = ?').run(node);
  }

  async listTunnels(): Promise<TunnelRecord[]> {
    return (this.#stmt('SELECT * FROM tunnels ORDER BY started_at').all() as TunnelRow[]).map(tunnelFromRow);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

function userFromRow(row: UserRow): User {
  return {
    name: row.name,
    logins: JSON.parse(row.logins) as string[],
    roles: JSON.parse(row.roles) as string[],
    createdAt: new Date(row.created_at),
  };
}

function roleFromRow(row: RoleRow): RoleRecord {
  return { name: row.name, yaml: row.yaml, updatedAt: new Date(row.updated_at) };
}

function auditFromRow(row: AuditRow): StoredAuditEvent {
  const event: StoredAuditEvent = { id: row.id, time: new Date(row.time), type: row.type, success: row.success === 1 };
  if (row.code !== null) event.code = row.code;
  if (row.message !== null) event.message = row.message;
  if (row.user !== null) event.user = row.user;
  if (row.login !== null) event.login = row.login;
  if (row.node !== null) event.node = row.node;
  if (row.remote_addr !== null) event.remoteAddr = row.remote_addr;
  if (row.fields !== null) event.fields = JSON.parse(row.fields) as Record<string, unknown>;
  return event;
}

function tunnelFromRow(row: TunnelRow): TunnelRecord {
  return {
    id: row.id,
    node: row.node,
    user: row.user,
    login: row.login,
    remoteAddr: row.remote_addr,
    kind: row.kind === 'unix' ? 'unix' : 'tcp',
    bindAddress: row.bind_address,
    port: row.port,
    connections: row.connections,
    activeConnections: row.active_connections,
    bytesIn: row.bytes_in,
    bytesOut: row.bytes_out,
    startedAt: new Date(row.started_at),
    updatedAt: new Date(row.updated_at),
  };
}
