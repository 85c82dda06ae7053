// Terminal modes (RFC 4254 section 8) in stty's words, both ways: the node applies a pty-req's
// modes with stty, as sshd applies them with tcsetattr, and the client reads its terminal's
// with `stty -a` to send them, as ssh does. Node has no termios of its own.

/** Special characters by RFC name; the ones Linux has no slot for are left out. */
const CHARS: Readonly<Record<string, string>> = {
  VINTR: 'intr', VQUIT: 'quit', VERASE: 'erase', VKILL: 'kill', VEOF: 'eof', VEOL: 'eol',
  VEOL2: 'eol2', VSTART: 'start', VSTOP: 'stop', VSUSP: 'susp', VREPRINT: 'rprnt',
  VWERASE: 'werase', VLNEXT: 'lnext', VDISCARD: 'discard', VSWTCH: 'swtch',
};

/**
 * On/off modes. The character size and parity are left out: a pseudo-terminal keeps its own
 * (Linux copies them back), so setting them only makes stty report a failure. So is PENDIN,
 * which GNU stty does not know.
 */
const FLAGS: Readonly<Record<string, string>> = {
  IGNPAR: 'ignpar', PARMRK: 'parmrk', INPCK: 'inpck', ISTRIP: 'istrip', INLCR: 'inlcr',
  IGNCR: 'igncr', ICRNL: 'icrnl', IUCLC: 'iuclc', IXON: 'ixon', IXANY: 'ixany', IXOFF: 'ixoff',
  IMAXBEL: 'imaxbel', IUTF8: 'iutf8',
  ISIG: 'isig', ICANON: 'icanon', XCASE: 'xcase', ECHO: 'echo', ECHOE: 'echoe', ECHOK: 'echok',
  ECHONL: 'echonl', NOFLSH: 'noflsh', TOSTOP: 'tostop', IEXTEN: 'iexten', ECHOCTL: 'echoctl',
  ECHOKE: 'echoke',
  OPOST: 'opost', OLCUC: 'olcuc', ONLCR: 'onlcr', OCRNL: 'ocrnl', ONOCR: 'onocr', ONLRET: 'onlret',
};

const SPEEDS: Readonly<Record<string, string>> = { TTY_OP_ISPEED: 'ispeed', TTY_OP_OSPEED: 'ospeed' };
const BAUDS = new Set([50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400]);

/** 255 is "no character" on the wire (OpenSSH's encoding of _POSIX_VDISABLE). */
const NO_CHAR = 0xff;

function charArg(value: number): string {
  const c = value & 0xff;
  if (c === NO_CHAR) return 'undef';
  // stty reads one character literally and ^X as a control: a bare "3" would be the digit.
  if (c < 0x20) return `^${String.fromCharCode(c + 0x40)}`;
  return String(c);
}

/**
 * stty's arguments for the modes ssh2 parsed from a pty-req, in the order they came: one group
 * per mode (`['erase', '^H']`, `['-ixon']`), so that a stty that does not know one word can be
 * given the others alone.
 */
export function sttyArgs(modes: object | undefined): string[][] {
  const groups: string[][] = [];
  for (const [name, value] of Object.entries(modes ?? {}) as [string, unknown][]) {
    if (typeof value !== 'number') continue;
    const char = CHARS[name];
    const flag = FLAGS[name];
    const speed = SPEEDS[name];
    if (char !== undefined) groups.push([char, charArg(value)]);
    else if (flag !== undefined) groups.push([value === 0 ? `-${flag}` : flag]);
    else if (speed !== undefined && BAUDS.has(value)) groups.push([speed, String(value)]);
  }
  return groups;
}

const byStty = (table: Readonly<Record<string, string>>) => new Map(Object.entries(table).map(([rfc, stty]) => [stty, rfc]));
/** BSD's stty calls rprnt "reprint"; BusyBox's (and GNU's before 8.26) call discard "flush". */
const CHAR_BY_STTY = byStty(CHARS).set('reprint', 'VREPRINT').set('flush', 'VDISCARD');
const FLAG_BY_STTY = byStty(FLAGS);

/** A character as `stty -a` shows it: ^C, ^?, M-^?, <undef>, or itself. */
function charValue(shown: string): number | undefined {
  if (shown === '<undef>' || shown === 'undef') return NO_CHAR;
  const meta = shown.startsWith('M-') ? 0x80 : 0;
  const rest = meta ? shown.slice(2) : shown;
  if (rest === '^?') return meta | 0x7f;
  if (rest.length === 2 && rest[0] === '^') return meta | (rest.charCodeAt(1) & 0x1f);
  if (rest.length === 1) return meta | rest.charCodeAt(0);
  return undefined;
}

/**
 * The modes to send for a terminal, from its `stty -a` (GNU's or BSD's layout): what ssh sends
 * from tcgetattr. A character no slot on the wire has (BSD's status, say) is left out.
 */
export function modesFromStty(shown: string): Record<string, number> {
  const modes: Record<string, number> = {};
  for (const [, name, value] of shown.matchAll(/([a-z0-9]+) = ([^;\s]+);/g)) {
    const rfc = CHAR_BY_STTY.get(name ?? '');
    const v = charValue(value ?? '');
    if (rfc !== undefined && v !== undefined) modes[rfc] = v;
  }
  for (const [, off, name] of shown.matchAll(/(?<=^|\s)(-?)([a-z0-9]+)(?=\s|$)/g)) {
    const rfc = FLAG_BY_STTY.get(name ?? '');
    if (rfc !== undefined) modes[rfc] = off === '-' ? 0 : 1;
  }
  const ispeed = /\bispeed (\d+) baud/.exec(shown)?.[1] ?? /\bspeed (\d+) baud/.exec(shown)?.[1];
  const ospeed = /\bospeed (\d+) baud/.exec(shown)?.[1] ?? /\bspeed (\d+) baud/.exec(shown)?.[1];
  if (ispeed !== undefined) modes.TTY_OP_ISPEED = Number(ispeed);
  if (ospeed !== undefined) modes.TTY_OP_OSPEED = Number(ospeed);
  return modes;
}
