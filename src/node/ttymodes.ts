// A pty-req's terminal modes applied before the session's command starts, as sshd applies
// them: node-pty cannot set termios, so stty does, on the terminal it is started on.

const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;

/**
 * `argv` run after stty has applied `groups` (from sttyArgs) to the terminal on its standard
 * input. stty applies nothing when one word is unknown to it (BusyBox's has no "discard"), so
 * then each group is tried alone; what fails is ignored, as sshd ignores a mode the system
 * does not take.
 */
export function withTtyModes(groups: readonly (readonly string[])[], argv: readonly string[]): string[] {
  if (groups.length === 0) return [...argv];
  const all = groups.flat().map(quote).join(' ');
  const each = groups.map((g) => `stty ${g.map(quote).join(' ')}`).join('; ');
  return ['/bin/sh', '-c', `{ stty ${all} || { ${each}; }; } 2>/dev/null; exec "$@"`, 'sh', ...argv];
}
