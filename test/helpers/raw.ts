// Raw SSH connection-protocol messages for tests that play a hostile or unusual client: built
// byte by byte and sent through an authenticated ssh2 client (ssh2 internals), and the node's
// answers to channels the test opened itself read back. ssh2's own channels are left alone.

import type { Client } from 'ssh2';
import { sshString, sshUint32 } from '../../src/auth/sshcert';

export { sshString, sshUint32 };

interface PacketWriter {
  allocStart: number;
  alloc(n: number): Buffer;
  finalize(p: Buffer): Buffer;
}
interface ProtocolInternals {
  _packetRW: { write: PacketWriter };
  _handlers: Record<string, ((...args: unknown[]) => void) | undefined>;
}

const protocolOf = (c: Client) => (c as unknown as { _protocol: ProtocolInternals })._protocol;

export const MSG = {
  GLOBAL_REQUEST: 80,
  CHANNEL_OPEN: 90,
  CHANNEL_WINDOW_ADJUST: 93,
  CHANNEL_DATA: 94,
  CHANNEL_EOF: 96,
  CHANNEL_CLOSE: 97,
  CHANNEL_REQUEST: 98,
} as const;

/** A pty-req payload: an 80x24 xterm, with no terminal modes unless given encoded ones. */
export function ptyRequest(modes: Buffer = Buffer.from([0])): Buffer {
  return Buffer.concat([sshString('xterm'), sshUint32(80), sshUint32(24), sshUint32(0), sshUint32(0), sshString(modes)]);
}

/** One encoded terminal mode (RFC 4254 section 8): its opcode and uint32 argument. */
export const ttyMode = (opcode: number, value: number) => Buffer.concat([Buffer.from([opcode]), sshUint32(value)]);

/** Sends one message: its type byte and payload, encrypted and framed by the connection. */
export function sendRaw(c: Client, type: number, ...fields: Buffer[]): void {
  const proto = protocolOf(c);
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  const w = proto._packetRW.write;
  const packet = w.alloc(body.length);
  body.copy(packet, w.allocStart);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { sendPacket } = require('ssh2/lib/protocol/utils') as { sendPacket(p: unknown, b: Buffer): void };
  sendPacket(proto, w.finalize(packet));
}

/** What the node sent on one channel the test opened. */
export interface RawChannel {
  /** The node's id for the channel, once confirmed. */
  server?: number;
  openFailure?: { reason: number; description: string };
  /** CHANNEL_SUCCESS (S) and CHANNEL_FAILURE (F), in order. */
  replies: string[];
  /** CHANNEL_DATA payloads, unless the channel was opened with keepData false. */
  data: Buffer[];
  /** CHANNEL_DATA bytes received, kept or not. */
  bytes: number;
  /** CHANNEL_EXTENDED_DATA (stderr) bytes received. */
  stderrBytes: number;
  keepData: boolean;
  requests: { type: string; data: unknown }[];
  eof: boolean;
  closed: boolean;
}

/** The exit status the node sent on a channel, if any. */
export function exitStatus(ch: RawChannel): unknown {
  return ch.requests.find((r) => r.type === 'exit-status')?.data;
}

/** Channel ids from here up are the test's; ssh2 numbers its own from 0. */
const FIRST_RAW_ID = 1000;

/** Taps the client's handlers so that messages for raw channels are kept, not given to ssh2. */
export class RawChannels {
  readonly #client: Client;
  readonly #channels = new Map<number, RawChannel>();
  #next = FIRST_RAW_ID;

  constructor(client: Client) {
    this.#client = client;
    const h = protocolOf(client)._handlers;
    const tap = (name: string, keep: (ch: RawChannel, ...args: unknown[]) => void, recipientOf = (a: unknown[]) => a[0] as number) => {
      const original = h[name];
      h[name] = (p: unknown, ...args: unknown[]) => {
        const ch = this.#channels.get(recipientOf(args));
        if (ch) keep(ch, ...args);
        else original?.(p, ...args);
      };
    };
    tap('CHANNEL_OPEN_CONFIRMATION', (ch, info) => { ch.server = (info as { sender: number }).sender; }, (a) => (a[0] as { recipient: number }).recipient);
    tap('CHANNEL_OPEN_FAILURE', (ch, _r, reason, description) => { ch.openFailure = { reason: reason as number, description: description as string }; });
    tap('CHANNEL_SUCCESS', (ch) => { ch.replies.push('S'); });
    tap('CHANNEL_FAILURE', (ch) => { ch.replies.push('F'); });
    tap('CHANNEL_DATA', (ch, _r, data) => {
      ch.bytes += (data as Buffer).length;
      if (ch.keepData) ch.data.push(Buffer.from(data as Buffer));
    });
    tap('CHANNEL_EOF', (ch) => { ch.eof = true; });
    tap('CHANNEL_CLOSE', (ch) => { ch.closed = true; });
    tap('CHANNEL_REQUEST', (ch, _r, type, _wantReply, data) => { ch.requests.push({ type: type as string, data }); });
    tap('CHANNEL_WINDOW_ADJUST', () => {});
    tap('CHANNEL_EXTENDED_DATA', (ch, _r, data) => { ch.stderrBytes += (data as Buffer).length; });
  }

  /** Sends CHANNEL_OPEN with the given window and maximum packet size; returns the test's id. */
  open(type: string, opts: { window?: number; maxPacket?: number; extra?: Buffer; keepData?: boolean } = {}): number {
    const id = this.#next++;
    this.#channels.set(id, { replies: [], data: [], bytes: 0, stderrBytes: 0, keepData: opts.keepData ?? true, requests: [], eof: false, closed: false });
    sendRaw(this.#client, MSG.CHANNEL_OPEN, sshString(type), sshUint32(id), sshUint32(opts.window ?? 2 * 1024 * 1024), sshUint32(opts.maxPacket ?? 32768), opts.extra ?? Buffer.alloc(0));
    return id;
  }

  get(id: number): RawChannel {
    const ch = this.#channels.get(id);
    if (!ch) throw new Error(`no raw channel ${id}`);
    return ch;
  }

  /** The node's id for an opened channel (it must have been confirmed). */
  server(id: number): number {
    const s = this.get(id).server;
    if (s === undefined) throw new Error(`raw channel ${id} is not confirmed`);
    return s;
  }

  request(id: number, type: string, wantReply: boolean, payload: Buffer = Buffer.alloc(0)): void {
    sendRaw(this.#client, MSG.CHANNEL_REQUEST, sshUint32(this.server(id)), sshString(type), Buffer.from([wantReply ? 1 : 0]), payload);
  }

  data(id: number, data: Buffer): void {
    sendRaw(this.#client, MSG.CHANNEL_DATA, sshUint32(this.server(id)), sshString(data));
  }

  adjust(id: number, bytes: number): void {
    sendRaw(this.#client, MSG.CHANNEL_WINDOW_ADJUST, sshUint32(this.server(id)), sshUint32(bytes));
  }

  eof(id: number): void {
    sendRaw(this.#client, MSG.CHANNEL_EOF, sshUint32(this.server(id)));
  }

  close(id: number): void {
    sendRaw(this.#client, MSG.CHANNEL_CLOSE, sshUint32(this.server(id)));
  }
}
