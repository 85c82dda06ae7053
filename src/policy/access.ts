// How several roles combine into what one login may do. The rules, also in the README:
// - logins: the union of every role's allow.logins, less the union of deny.logins;
//   "{{internal.logins}}" stands for the logins on the user's own record.
// - a switch (pty, local and remote forwarding, unix sockets, gateway_ports) is on when at
//   least one role turns it on and no role says `false`: an explicit false in any role denies.
// - permit_listen: the union of the lists of the roles that enable remote forwarding; a
//   role that enables it without a list allows any address, any port 1-65535, and port 0.
// - max_forwards: the smallest cap any role sets (32 when none does).

import type { Role } from '../auth/roles';
import { parseListenRule, type ListenRule } from './listen';

export const DEFAULT_MAX_FORWARDS = 32;
const DEFAULT_PERMIT_LISTEN = ['*:*', '*:0'].map(parseListenRule);

export interface Switch {
  allowed: boolean;
  /** Why it is off: the role that says false, or that no role turns it on. */
  reason: string;
}

export interface Access {
  roles: string[];
  logins: Set<string>;
  deniedLogins: Set<string>;
  pty: Switch;
  localForwarding: Switch;
  remoteForwarding: Switch;
  unixSockets: Switch;
  gatewayPorts: boolean;
  permitListen: ListenRule[];
  maxForwards: number;
}

type SwitchValue = boolean | undefined;

function combine(roles: Role[], what: string, pick: (role: Role) => SwitchValue, byDefault: boolean): Switch {
  const off = roles.find((role) => pick(role) === false);
  if (off) return { allowed: false, reason: `role "${off.name}" disables ${what}` };
  const on = roles.some((role) => pick(role) === true) || (byDefault && roles.length > 0);
  return on
    ? { allowed: true, reason: '' }
    : { allowed: false, reason: `none of the roles [${roles.map((r) => r.name).join(', ')}] allows ${what}` };
}

export const INTERNAL_LOGINS = '{{internal.logins}}';

export function resolveAccess(roles: Role[], userLogins: string[]): Access {
  const fwd = (role: Role) => role.doc.spec.options.ssh_port_forwarding;
  const remoteForwarding = combine(roles, 'remote port forwarding', (r) => fwd(r).remote.enabled, false);
  const remoteRoles = roles.filter((r) => fwd(r).remote.enabled);
  const caps = roles.map((r) => fwd(r).remote.max_forwards).filter((n): n is number => n !== undefined);
  return {
    roles: roles.map((r) => r.name),
    logins: new Set(roles.flatMap((r) => r.doc.spec.allow.logins).flatMap((l) => (l === INTERNAL_LOGINS ? userLogins : [l]))),
    deniedLogins: new Set(roles.flatMap((r) => r.doc.spec.deny?.logins ?? [])),
    pty: combine(roles, 'a terminal (permit_pty)', (r) => r.doc.spec.options.permit_pty, true),
    localForwarding: combine(roles, 'local port forwarding', (r) => fwd(r).local.enabled, false),
    remoteForwarding,
    unixSockets: remoteForwarding.allowed
      ? combine(remoteRoles, 'unix-socket forwarding', (r) => fwd(r).remote.unix_sockets, true)
      : remoteForwarding,
    gatewayPorts: roles.some((r) => fwd(r).remote.gateway_ports === true) &&
      !roles.some((r) => fwd(r).remote.gateway_ports === false),
    permitListen: remoteRoles.flatMap((r) => r.permitListen ?? DEFAULT_PERMIT_LISTEN),
    maxForwards: caps.length > 0 ? Math.min(...caps) : DEFAULT_MAX_FORWARDS,
  };
}
