// ssh's escape sequences for a terminal session (ssh(1), ESCAPE CHARACTERS): the escape
// character (~ by default) at the start of a line, then one character naming what to do.
// `~.` ends a hung session, `~C` adds or cancels a forward without reconnecting.

import { ValidationError } from '../errors';

export type EscapeAction = 'disconnect' | 'help' | 'list' | 'command';

const ACTIONS: Readonly<Record<string, EscapeAction>> = { '.': 'disconnect', '?': 'help', '#': 'list', C: 'command' };

/**
 * -e and EscapeChar: one ASCII character, ^X for a control character (X from @ to _, or a
 * letter), or none. Bytes are compared, so a character beyond ASCII could never be typed alone.
 */
export function parseEscapeChar(value: string): number | null {
  if (value === 'none') return null;
  const code = (i: number) => value.charCodeAt(i);
  if (value.length === 1 && code(0) < 0x80) return code(0);
  if (value.length === 2 && value[0] === '^' && code(1) >= 0x40 && code(1) < 0x80) return code(1) & 0x1f;
  throw new ValidationError(`Bad escape character '${value}'.`);
}

export const escapeName = (char: number) => (char < 0x20 ? `^${String.fromCharCode(char + 0x40)}` : String.fromCharCode(char));

/**
 * Finds escapes in what the user types. read() splits a chunk into the bytes for the server
 * and the first escape in it, with the rest to read once that escape has been handled (after
 * `~C` the rest is the command line's).
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

/**
 * The line typed at the `ssh>` prompt, edited while the terminal stays raw (so that neither
 * Ctrl-C nor Ctrl-D reaches the session or ends its input): backspace, ^U, Enter; ^C, or
 * ^D on an empty line, leaves the prompt.
 */
export class PromptLine {
  #text = '';

  /** What to echo, and once Enter or a cancel came, the line (null: cancelled) and the rest. */
  feed(input: Buffer): { echo: string; line?: string | null; rest: Buffer } {
    let echo = '';
    for (let i = 0; i < input.length; i++) {
      const c = input[i] as number;
      const rest = () => input.subarray(i + 1);
      if (c === 0x0d || c === 0x0a) return { echo: `${echo}\r\n`, line: this.#text, rest: rest() };
      if (c === 0x03 || (c === 0x04 && this.#text === '')) return { echo: `${echo}\r\n`, line: null, rest: rest() };
      if ((c === 0x7f || c === 0x08) && this.#text !== '') {
        this.#text = this.#text.slice(0, -1);
        echo += '\b \b';
      } else if (c === 0x15) {
        echo += '\b \b'.repeat(this.#text.length);
        this.#text = '';
      } else if (c >= 0x20 && c < 0x7f) {
        this.#text += String.fromCharCode(c);
        echo += String.fromCharCode(c);
      }
    }
    return { echo, rest: Buffer.alloc(0) };
  }
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
