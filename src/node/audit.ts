// The node's audit writer: fills in who and where from the connection's identity, and never
// lets a storage failure take a connection down (it is reported on stderr instead).

import type { AuthService } from '../auth/service';
import type { AuditEvent } from '../auth/types';
import type { Decision } from '../policy/decision';
import type { Identity } from './authenticate';

/**
 * Events are written together, at most this long after they happen (and at once when the
 * node stops). Per tick was still one transaction per forwarded connection at 2k/s: ten WAL
 * page writes and five lock calls each, a sixth of the node's time.
 */
const AUDIT_FLUSH_MS = 20;
/** ...or as soon as this many are waiting. */
const AUDIT_BATCH_MAX = 512;

export class NodeAudit {
  readonly #auth: AuthService;
  readonly #node: string;
  readonly #pending: AuditEvent[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(auth: AuthService, node: string) {
    this.#auth = auth;
    this.#node = node;
  }

  emit(event: AuditEvent, identity?: Identity): void {
    const full: AuditEvent = { node: this.#node, time: new Date(), ...event };
    if (identity) {
      full.user ??= identity.user;
      full.login ??= identity.login;
      full.remoteAddr ??= `${identity.remoteAddr}:${identity.remotePort}`;
    }
    this.#pending.push(full);
    if (this.#pending.length >= AUDIT_BATCH_MAX) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), AUDIT_FLUSH_MS);
  }

  /** Writes what is queued; the node calls it when it stops. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    try {
      await this.#auth.storage.appendAuditBatch(batch);
    } catch (err) {
      process.stderr.write(`ferryd: audit write failed for ${batch.length} events (${batch.map((e) => e.type).join(', ')}): ${String(err)}\n`);
    }
  }

  /** Records a refusal under the type of the action that was refused. */
  refusal(type: string, decision: Extract<Decision, { allow: false }>, identity: Identity, fields?: Record<string, unknown>): void {
    const event: AuditEvent = { type, success: false, code: decision.code, message: decision.reason };
    if (fields) event.fields = fields;
    this.emit(event, identity);
  }
}
