// What policy returns: allow, or deny with a code, a short message for the user and the
// full reason for the audit log.

export type DenyCode =
  | 'denied_by_role'
  | 'no_such_forward'
  | 'login_denied'
  | 'address_not_allowed'
  | 'port_out_of_range'
  | 'privileged_port'
  | 'port_in_use'
  | 'cap_reached'
  | 'certificate_denied'
  | 'path_not_allowed'
  | 'bind_failed'
  | 'unknown_user';

export type Decision =
  | { allow: true }
  | { allow: false; code: DenyCode; message: string; reason: string };

export const ALLOW: Decision = { allow: true };

export function deny(code: DenyCode, message: string, reason: string = message): Decision {
  return { allow: false, code, message, reason };
}
