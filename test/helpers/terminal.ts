// A program run inside a terminal of the test's own (a real pty), as a user runs ssh: after
// `setup` (stty, say) has run in it. ssh sends its terminal's modes only when it has one.

import * as pty from 'node-pty';

const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;

export function inTerminal(argv: string[], setup = 'true', size = { cols: 132, rows: 40 }): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const term = pty.spawn('/bin/sh', ['-c', `${setup} && exec ${argv.map(quote).join(' ')}`], { name: 'xterm-256color', ...size });
    let output = '';
    term.onData((d) => { output += d; });
    term.onExit((e) => resolve({ code: e.exitCode, output }));
  });
}
