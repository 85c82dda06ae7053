// User authentication at the node: an OpenSSH user certificate signed by the cluster's user
// CA, checked the way CertChecker does it, then the login checked against the OS and the
// user's current roles. Returns a typed Identity or a refusal with its own code.

import type { AuthContext, PublicKeyAuthContext } from 'ssh2';
import { CertificateError } from '../errors';
import type { AuthService } from '../auth/service';
import { ROLES_EXTENSION } from '../auth/service';
import { resolveAccess } from '../policy/access';
import { authorizeLogin } from '../policy/authorize';
import { CertChecker, checkSshSignature, parseCertificate } from '../auth/sshcert';
import { accountRefusal, canActAs, lookupOsUser, type OsUser } from './osuser';

export interface Identity {
  /** The ferry user: the certificate's key id. */
  user: string;
  login: string;
  roles: string[];
  certSerial: string;
  permitPty: boolean;
  permitPortForwarding: boolean;
  remoteAddr: string;
  remotePort: number;
  osUser: OsUser;
}

export type AuthOutcome =
  | { kind: 'query' }
  | { kind: 'accept'; identity: Identity }
  | { kind: 'reject'; code: string; reason: string; user?: string; audit: boolean };

export interface Peer {
  address: string;
  port: number;
}

export async function authenticate(
  auth: AuthService,
  ctx: AuthContext,
  peer: Peer,
  now: () => Date = () => new Date(),
): Promise<AuthOutcome> {
  if (ctx.method !== 'publickey') {
    return { kind: 'reject', code: 'method_not_allowed', reason: `method ${ctx.method} is not accepted`, audit: false };
  }
  const pk = ctx as PublicKeyAuthContext;
  if (!pk.key.algo.endsWith('-cert-v01@openssh.com')) {
    // Plain keys are how OpenSSH clients probe; only certificates can succeed, so no audit row.
    return { kind: 'reject', code: 'not_a_certificate', reason: `plain ${pk.key.algo} keys are not accepted`, audit: false };
  }
  const userCA = await auth.getCA('user');
  let cert;
  try {
    cert = parseCertificate(pk.key.data);
    new CertChecker({
      now,
      isTrustedAuthority: (blob) => blob.equals(userCA.publicBlob),
      supportedCriticalOptions: ['source-address'],
    }).check(cert, { principal: pk.username, certType: 'user', sourceAddress: peer.address });
  } catch (err) {
    if (err instanceof CertificateError) {
      return { kind: 'reject', code: err.code, reason: err.message, user: cert?.keyId, audit: true };
    }
    throw err;
  }
  const user = cert.keyId;
  if (!pk.signature || !pk.blob) return { kind: 'query' };
  const signature = checkSshSignature(cert.key, pk.signature, pk.blob);
  if (!signature.valid) {
    return { kind: 'reject', code: 'bad_signature', reason: `the signature made with the certificate key does not verify: ${signature.reason}`, user, audit: true };
  }
  if (signature.algorithm === 'ssh-rsa') {
    // SHA-1 RSA signatures: refused by OpenSSH 8.8+ by default, and by us.
    return { kind: 'reject', code: 'weak_signature', reason: 'ssh-rsa (SHA-1) signatures are not accepted; use rsa-sha2-256/512 or an ed25519 key', user, audit: true };
  }
  const record = await auth.storage.getUser(user);
  if (!record) return { kind: 'reject', code: 'unknown_user', reason: `user "${user}" no longer exists`, user, audit: true };
  const roleNames = (cert.extensions.find((e) => e.name === ROLES_EXTENSION)?.data ?? '').split(',').filter(Boolean);
  const access = resolveAccess(await auth.loadRoles(roleNames), record.logins);
  const loginDecision = authorizeLogin(access, pk.username);
  if (!loginDecision.allow) return { kind: 'reject', code: loginDecision.code, reason: loginDecision.reason, user, audit: true };
  const osUser = await lookupOsUser(pk.username);
  if (!osUser) {
    return { kind: 'reject', code: 'unknown_login', reason: `login "${pk.username}" does not exist on this node`, user, audit: true };
  }
  const refusal = accountRefusal(osUser);
  if (refusal) return { kind: 'reject', ...refusal, user, audit: true };
  if (!canActAs(osUser)) {
    return {
      kind: 'reject',
      code: 'login_unavailable',
      reason: `this node runs unprivileged and can only serve its own OS user, not "${pk.username}"`,
      user,
      audit: true,
    };
  }
  const has = (name: string) => cert.extensions.some((e) => e.name === name);
  return {
    kind: 'accept',
    identity: {
      user,
      login: pk.username,
      roles: roleNames,
      certSerial: cert.serial.toString(),
      permitPty: has('permit-pty'),
      permitPortForwarding: has('permit-port-forwarding'),
      remoteAddr: peer.address,
      remotePort: peer.port,
      osUser,
    },
  };
}
