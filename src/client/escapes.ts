// ssh's escape sequences for a terminal session (ssh(1), ESCAPE CHARACTERS): the escape
// character (~ by default) at the start of a line, then one character naming what to do.
// `~.` ends a hung session, `~C` adds or cancels a forward without reconnecting.

import { ValidationError } from '../errors';

export type EscapeAction = 'disconnect' | 'help' | 'list' | 'command';

const ACTIONS: Readonly<Record<string, EscapeAction>> = { '.': 'disconnect', '?': 'help', '#': 'list', C: 'command' };

/** -e and EscapeChar: one character, ^X for a control character, or none. */
export function parseEscapeChar(value: string): number | null {
  if (value === 'none') return null;
  if (value.length === 1) return value.charCodeAt(0);
  if (value.length === 2 && value[0] === '^') return value.charCodeAt(1) & 0x1f;
  throw new ValidationError(`Bad escape character '${value}'.`);
}

export const escapeName = (char: number) => (char < 0x20 ? `^${String.fromCharCode(char + 0x40)}` : String.fromCharCode(char));

/**
 * Finds escapes in what the user types. read() splits a chunk into the bytes for the server
 * and the first escape in it, with the rest to read once that escape has been handled (`~C`
 * takes over the terminal for a line, so the rest must wait).
 */
export class EscapeReader {
  readonly char: number;
  #lineStart = true;
  #pending = false;

  constructor(char: number) {
    this.char = char;
  }

  read(input: Buffer): { send: Buffer; action?: EscapeAction; rest: Buffer } {
    const send: number[] = [];
    for (let i = 0; i < input.length; i++) {
      const c = input[i] as number;
      if (this.#pending) {
        this.#pending = false;
        const action = ACTIONS[String.fromCharCode(c)];
        if (action) return { send: Buffer.from(send), action, rest: input.subarray(i + 1) };
        // The escape character twice sends it once; before anything else it goes as typed.
        if (c !== this.char) send.push(this.char);
      } else if (this.#lineStart && c === this.char) {
        this.#pending = true;
        continue;
      }
      send.push(c);
      this.#lineStart = c === 0x0d || c === 0x0a;
    }
    return { send: Buffer.from(send), rest: Buffer.alloc(0) };
  }
}

export function escapeHelp(char: number): string[] {
  const e = escapeName(char);
  return [
    'Supported escape sequences:',
    ` ${e}.   - terminate connection`,
    ` ${e}C   - open a command line (-R, -L, -D to add a forward; -KR, -KL, -KD to cancel one)`,
    ` ${e}#   - list forwards and forwarded connections`,
    ` ${e}?   - this message`,
    ` ${e}${e}   - send the escape character by typing it twice`,
    '(Note that escapes are only recognized immediately after newline.)',
  ];
}

export type CommandLine =
  | { kind: 'none' }
  | { kind: 'help' }
  | { kind: 'forward'; type: 'R' | 'L' | 'D'; spec: string }
  | { kind: 'cancel'; type: 'R' | 'L' | 'D'; spec: string }
  | { kind: 'invalid' };

/** What was typed at the `ssh>` prompt of `~C`, as ssh reads it. */
export function parseCommandLine(line: string): CommandLine {
  const s = line.trim();
  if (s === '') return { kind: 'none' };
  if (s === '-h' || s === '?' || s === 'help') return { kind: 'help' };
  const m = /^-(K?)([RLD])\s*(.*)$/.exec(s);
  if (!m || !m[3]) return { kind: 'invalid' };
  return { kind: m[1] ? 'cancel' : 'forward', type: m[2] as 'R' | 'L' | 'D', spec: m[3] };
}

export const COMMAND_HELP = [
  'Commands:',
  '      -L[bind_address:]port:host:hostport    Request local forward',
  '      -R[bind_address:]port:host:hostport    Request remote forward',
  '      -D[bind_address:]port                  Request dynamic forward',
  '      -KL[bind_address:]port                 Cancel local forward',
  '      -KR[bind_address:]port                 Cancel remote forward',
  '      -KD[bind_address:]port                 Cancel dynamic forward',
];
