// Records the auth service keeps, and the storage interface that holds them. SQLite is the
// embedded default; the interface is async so that a networked backend (PostgreSQL) fits.

export type CAType = 'user' | 'host';

export interface CertAuthority {
  type: CAType;
  /** PKCS#8 PEM of the Ed25519 private key. */
  privateKeyPem: string;
  /** SSH wire blob of the public key. */
  publicBlob: Buffer;
  createdAt: Date;
}

export interface User {
  name: string;
  logins: string[];
  roles: string[];
  createdAt: Date;
}

export interface RoleRecord {
  name: string;
  /** The YAML document as the admin wrote it, kept verbatim. */
  yaml: string;
  updatedAt: Date;
}

export interface AuditEvent {
  type: string;
  /** When it happened; the time of the write when left out. */
  time?: Date;
  success: boolean;
  /** Machine-readable reason for a refusal or failure, e.g. "denied_by_role". */
  code?: string;
  /** Human-readable reason, the full text for the admin. */
  message?: string;
  user?: string;
  login?: string;
  node?: string;
  remoteAddr?: string;
  /** Event-specific fields (bind address, port, bytes, ...). */
  fields?: Record<string, unknown>;
}

export interface StoredAuditEvent extends AuditEvent {
  id: number;
  time: Date;
}

export interface AuditQuery {
  type?: string;
  since?: Date;
  until?: Date;
  user?: string;
  success?: boolean;
  limit?: number;
}

/** A live remote forward, published by the node that holds it. */
export interface TunnelRecord {
  id: string;
  node: string;
  user: string;
  login: string;
  remoteAddr: string;
  kind: 'tcp' | 'unix';
  /** The bind string exactly as the client sent it (or the socket path). */
  bindAddress: string;
  port: number;
  connections: number;
  activeConnections: number;
  bytesIn: number;
  bytesOut: number;
  startedAt: Date;
  updatedAt: Date;
}

export interface Storage {
  getCA(type: CAType): Promise<CertAuthority | undefined>;
  /** Stores the CA unless one of that type exists; returns the one that is stored. */
  initCA(ca: CertAuthority): Promise<CertAuthority>;

  getUser(name: string): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  createUser(user: User): Promise<void>;
  updateUser(user: User): Promise<void>;
  deleteUser(name: string): Promise<boolean>;

  getRole(name: string): Promise<RoleRecord | undefined>;
  listRoles(): Promise<RoleRecord[]>;
  putRole(role: RoleRecord, opts: { replace: boolean }): Promise<void>;
  deleteRole(name: string): Promise<boolean>;

  appendAudit(event: AuditEvent): Promise<void>;
  /** Several events in one transaction, in order. */
  appendAuditBatch(events: AuditEvent[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<StoredAuditEvent[]>;

  upsertTunnel(tunnel: TunnelRecord): Promise<void>;
  deleteTunnel(id: string): Promise<void>;
  /** Drops every tunnel a node published: used when that node starts or stops. */
  clearTunnels(node: string): Promise<void>;
  listTunnels(): Promise<TunnelRecord[]>;

  close(): Promise<void>;
}
