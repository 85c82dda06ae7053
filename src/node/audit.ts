// The node's audit writer: fills in who and where from the connection's identity, and never
// lets a storage failure take a connection down (it is reported on stderr instead).

import type { AuthService } from '../auth/service';
import type { AuditEvent } from '../auth/types';
import type { Decision } from '../policy/decision';
import type { Identity } from './authenticate';

export class NodeAudit {
  readonly #auth: AuthService;
  readonly #node: string;

  constructor(auth: AuthService, node: string) {
    this.#auth = auth;
    this.#node = node;
  }

  emit(event: AuditEvent, identity?: Identity): void {
    const full: AuditEvent = { node: this.#node, ...event };
    if (identity) {
      full.user ??= identity.user;
      full.login ??= identity.login;
      full.remoteAddr ??= `${identity.remoteAddr}:${identity.remotePort}`;
    }
    this.#auth.audit(full).catch((err: unknown) => {
      process.stderr.write(`ferryd: audit write failed for ${event.type}: ${String(err)}\n`);
    });
  }

  /** Records a refusal under the type of the action that was refused. */
  refusal(type: string, decision: Extract<Decision, { allow: false }>, identity: Identity, fields?: Record<string, unknown>): void {
    const event: AuditEvent = { type, success: false, code: decision.code, message: decision.reason };
    if (fields) event.fields = fields;
    this.emit(event, identity);
  }
}
