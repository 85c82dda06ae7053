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

/** A program in a terminal of the test's that the test types into, as a user would. */
export class TypedTerminal {
  readonly #term: pty.IPty;
  #output = '';
  readonly exited: Promise<number>;

  constructor(argv: string[], size = { cols: 132, rows: 40 }, env: NodeJS.ProcessEnv = process.env) {
    const [file, ...args] = argv as [string, ...string[]];
    this.#term = pty.spawn(file, args, { name: 'xterm-256color', ...size, env: env as Record<string, string> });
    this.#term.onData((d) => { this.#output += d; });
    this.exited = new Promise((resolve) => this.#term.onExit((e) => resolve(e.exitCode)));
  }

  get output(): string {
    return this.#output;
  }

  type(text: string): void {
    this.#term.write(text);
  }

  /** Waits for `re` in what the terminal showed after `from` (an offset into output). */
  async waitFor(re: RegExp, from = 0, ms = 5000): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.#output.slice(from));
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`${String(re)} not shown in: ${JSON.stringify(this.#output)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  kill(): void {
    this.#term.kill('SIGKILL');
  }
}
