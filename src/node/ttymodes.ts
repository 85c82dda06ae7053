// A pty-req's terminal modes applied before the session's command starts, as sshd applies
// them: node-pty cannot set termios, so stty does, on the terminal it is started on.

/**
 * `argv` run after stty has applied `args` (from sttyArgs) to the terminal on its standard
 * input. Failures are ignored, as sshd ignores a mode the system does not take. Every
 * argument is a word of stty's or a number, so none needs more than single quotes.
 */
export function withTtyModes(args: readonly string[], argv: readonly string[]): string[] {
  if (args.length === 0) return [...argv];
  const script = `stty ${args.map((a) => `'${a}'`).join(' ')} 2>/dev/null; exec "$@"`;
  return ['/bin/sh', '-c', script, 'sh', ...argv];
}
