// The auth service core: the cluster's certificate authorities, users, roles and audit
// log, over a Storage backend. ferryd's node and ferryctl both work through this class.

import crypto from 'node:crypto';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../errors';
import type { CAType, CertAuthority, Storage, User } from './types';
import { parseRole, type Role } from './roles';
import { PRESET_ROLES } from './presets';
import { resolveAccess } from '../policy/access';
import {
  ed25519Blob,
  formatAuthorizedKeyLine,
  parseAuthorizedKeyLine,
  signCertificate,
} from './sshcert';
import { newEd25519 } from './sshkey';

/** Extension carrying the user's role names (comma-separated) in the certificates we sign. */
export const ROLES_EXTENSION = 'ferry-roles@ferry.dev';
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const LOGIN = /^[A-Za-z_][A-Za-z0-9._-]{0,31}\$?$/;
const MAX_TTL_MS = 30 * 24 * 3600 * 1000;

export interface SignedUserCert {
  certificateLine: string;
  principals: string[];
  validBefore: Date;
  extensions: string[];
}

export class AuthService {
  readonly storage: Storage;
  readonly clusterName: string;
  readonly #roleCache = new Map<string, { updatedAt: number; role: Role }>();

  constructor(storage: Storage, clusterName: string) {
    this.storage = storage;
    this.clusterName = clusterName;
  }

  /** Generates the user and host CAs on first start; later starts keep the stored ones. */
  async ensureCAs(): Promise<void> {
    for (const type of ['user', 'host'] as const) {
      if (await this.storage.getCA(type)) continue;
      const { privateKey, pub } = newEd25519();
      await this.storage.initCA({
        type,
        privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        publicBlob: ed25519Blob(pub),
        createdAt: new Date(),
      });
    }
  }

  /** On a cluster with no roles at all, creates the preset ones. */
  async ensurePresetRoles(): Promise<string[]> {
    if ((await this.storage.listRoles()).length > 0) return [];
    const created: string[] = [];
    for (const [name, yaml] of Object.entries(PRESET_ROLES)) {
      await this.createRole(yaml, `preset role "${name}"`, false);
      created.push(name);
    }
    return created;
  }

  async getCA(type: CAType): Promise<CertAuthority> {
    const ca = await this.storage.getCA(type);
    if (!ca) throw new NotFoundError(`the ${type} CA does not exist yet: start ferryd once to create it`);
    return ca;
  }

  /** CA public keys in the forms OpenSSH takes: TrustedUserCAKeys, or @cert-authority lines. */
  async exportCA(type: CAType): Promise<string> {
    const ca = await this.getCA(type);
    const key = formatAuthorizedKeyLine('ssh-ed25519', ca.publicBlob, `ferry ${type} CA (${this.clusterName})`);
    return type === 'host' ? `@cert-authority * ${key}\n` : `${key}\n`;
  }

  // Users --------------------------------------------------------------------

  async addUser(name: string, logins: string[], roles: string[]): Promise<User> {
    if (!USER_NAME.test(name)) throw new ValidationError(`user name "${name}": must be letters, digits, ".", "_", "@" or "-"`);
    for (const login of logins) {
      if (!LOGIN.test(login)) throw new ValidationError(`login "${login}": not a valid OS login name`);
    }
    if (logins.length === 0) throw new ValidationError(`user "${name}": give at least one login (--logins)`);
    for (const role of roles) {
      if (!(await this.storage.getRole(role))) throw new NotFoundError(`role "${role}" does not exist (create it first with: ferryctl roles create -f role.yaml)`);
    }
    const user: User = { name, logins: unique(logins), roles: unique(roles), createdAt: new Date() };
    await this.storage.createUser(user);
    return user;
  }

  async getUser(name: string): Promise<User> {
    const user = await this.storage.getUser(name);
    if (!user) throw new NotFoundError(`user "${name}" does not exist`);
    return user;
  }

  async removeUser(name: string): Promise<void> {
    if (!(await this.storage.deleteUser(name))) throw new NotFoundError(`user "${name}" does not exist`);
  }

  // Roles --------------------------------------------------------------------

  async createRole(yaml: string, source: string, replace: boolean): Promise<Role> {
    const role = parseRole(yaml, source);
    if (!replace && (await this.storage.getRole(role.name))) {
      throw new AlreadyExistsError(`role "${role.name}" already exists (use --force to replace it)`);
    }
    await this.storage.putRole({ name: role.name, yaml, updatedAt: new Date() }, { replace });
    return role;
  }

  async removeRole(name: string): Promise<void> {
    const users = (await this.storage.listUsers()).filter((u) => u.roles.includes(name)).map((u) => u.name);
    if (users.length > 0) {
      throw new ValidationError(`role "${name}" is still assigned to ${users.join(', ')}: remove it from them first`);
    }
    if (!(await this.storage.deleteRole(name))) throw new NotFoundError(`role "${name}" does not exist`);
  }

  /** Resolves role names as they are stored now; a role deleted since grants nothing. */
  async loadRoles(names: string[]): Promise<Role[]> {
    const roles: Role[] = [];
    for (const name of names) {
      const record = await this.storage.getRole(name);
      if (!record) continue;
      const cached = this.#roleCache.get(name);
      if (cached && cached.updatedAt === record.updatedAt.getTime()) {
        roles.push(cached.role);
        continue;
      }
      const role = parseRole(record.yaml, `role "${name}"`);
      this.#roleCache.set(name, { updatedAt: record.updatedAt.getTime(), role });
      roles.push(role);
    }
    return roles;
  }

  // Certificates -------------------------------------------------------------

  async signUserCert(userName: string, publicKeyLine: string, ttlMs: number): Promise<SignedUserCert> {
    if (!(ttlMs > 0) || ttlMs > MAX_TTL_MS) throw new ValidationError('--ttl: must be between 1s and 720h');
    const user = await this.getUser(userName);
    const key = parseAuthorizedKeyLine(publicKeyLine);
    if (key.type.includes('-cert-')) throw new ValidationError('--pubkey: give the public key (KEY.pub), not a certificate');
    const access = resolveAccess(await this.loadRoles(user.roles), user.logins);
    const extensions: { name: string; data: string }[] = [{ name: ROLES_EXTENSION, data: user.roles.join(',') }];
    if (access.pty.allowed) extensions.push({ name: 'permit-pty', data: '' });
    if (access.localForwarding.allowed || access.remoteForwarding.allowed) {
      extensions.push({ name: 'permit-port-forwarding', data: '' });
    }
    const ca = await this.getCA('user');
    const now = Date.now();
    const validBefore = new Date(now + ttlMs);
    const blob = signCertificate(
      {
        publicKeyBlob: key.blob,
        type: 'user',
        keyId: user.name,
        principals: user.logins,
        // Back-date a minute so a client clock slightly behind still accepts it.
        validAfter: new Date(now - 60_000),
        validBefore,
        extensions,
      },
      { privateKey: crypto.createPrivateKey(ca.privateKeyPem), publicBlob: ca.publicBlob },
    );
    return {
      certificateLine: formatAuthorizedKeyLine(`${key.type}-cert-v01@openssh.com`, blob, `${user.name}@${this.clusterName}`),
      principals: user.logins,
      validBefore,
      extensions: extensions.map((e) => e.name),
    };
  }

  /** A host certificate for a node's key, so clients can trust the node through the host CA. */
  async signHostCert(publicKeyBlob: Buffer, nodeName: string, principals: string[], ttlMs: number): Promise<string> {
    const ca = await this.getCA('host');
    const now = Date.now();
    const blob = signCertificate(
      {
        publicKeyBlob,
        type: 'host',
        keyId: nodeName,
        principals: unique(principals),
        validAfter: new Date(now - 60_000),
        validBefore: new Date(now + ttlMs),
      },
      { privateKey: crypto.createPrivateKey(ca.privateKeyPem), publicBlob: ca.publicBlob },
    );
    return formatAuthorizedKeyLine('ssh-ed25519-cert-v01@openssh.com', blob, `${nodeName}@${this.clusterName}`);
  }

}

function unique(values: string[]): string[] {
  return [...new Set(values.filter((v) => v !== ''))];
}
