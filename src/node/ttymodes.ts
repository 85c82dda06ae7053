// The terminal modes of a pty-req (RFC 4254 section 8), applied to the session's terminal as
// sshd applies them: the client sends its own terminal's settings (its erase character, -ixon,
// ...) and the remote shell starts with them. node-pty cannot set termios, so stty does it,
// on the terminal it is given, before the login's shell or command starts.

/** Special characters, by their RFC name; the ones Linux has no slot for are left out. */
const CHARS: Readonly<Record<string, string>> = {
  VINTR: 'intr', VQUIT: 'quit', VERASE: 'erase', VKILL: 'kill', VEOF: 'eof', VEOL: 'eol',
  VEOL2: 'eol2', VSTART: 'start', VSTOP: 'stop', VSUSP: 'susp', VREPRINT: 'rprnt',
  VWERASE: 'werase', VLNEXT: 'lnext', VDISCARD: 'discard', VSWTCH: 'swtch',
};

/**
 * On/off modes. The character size and parity are left out: a pseudo-terminal keeps its own
 * (Linux copies them back), so setting them only makes stty report a failure. So is PENDIN,
 * which GNU stty does not know: one unknown argument and it applies none.
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
function charArg(value: number): string {
  const c = value & 0xff;
  if (c === 0xff) return 'undef';
  // stty reads one character literally and ^X as a control: a bare "3" would be the digit.
  if (c < 0x20) return `^${String.fromCharCode(c + 0x40)}`;
  return String(c);
}

/** stty's arguments for the modes ssh2 parsed from a pty-req, in the order they came. */
export function sttyArgs(modes: object | undefined): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(modes ?? {}) as [string, unknown][]) {
    if (typeof value !== 'number') continue;
    const char = CHARS[name];
    const flag = FLAGS[name];
    const speed = SPEEDS[name];
    if (char !== undefined) args.push(char, charArg(value));
    else if (flag !== undefined) args.push(value === 0 ? `-${flag}` : flag);
    else if (speed !== undefined && BAUDS.has(value)) args.push(speed, String(value));
  }
  return args;
}

/**
 * `argv` run after stty has applied `args` to the terminal on its standard input. Failures
 * are ignored, as sshd ignores a mode the system does not take. Every argument comes from
 * the tables above or is a number, so none needs more than single quotes.
 */
export function withTtyModes(args: readonly string[], argv: readonly string[]): string[] {
  if (args.length === 0) return [...argv];
  const script = `stty ${args.map((a) => `'${a}'`).join(' ')} 2>/dev/null; exec "$@"`;
  return ['/bin/sh', '-c', script, 'sh', ...argv];
}
