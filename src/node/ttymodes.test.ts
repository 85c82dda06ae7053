import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as pty from 'node-pty';
import { withTtyModes } from './ttymodes';

function inPty(argv: string[]): Promise<string> {
  return new Promise((resolve) => {
    const [file, ...args] = argv as [string, ...string[]];
    const term = pty.spawn(file, args, { cols: 80, rows: 24 });
    let out = '';
    term.onData((d) => { out += d; });
    term.onExit(() => resolve(out));
  });
}

describe('withTtyModes', () => {
  it('runs the command unchanged when there are no modes', () => {
    assert.deepEqual(withTtyModes([], ['/bin/bash', '-l']), ['/bin/bash', '-l']);
  });

  it('sets the modes on the terminal before the command, each alone when stty refuses one word', async () => {
    const shown = await inPty(withTtyModes([['-ixon'], ['no-such-mode'], ['erase', '^H'], ['quit', '^\\']], ['/bin/sh', '-c', 'stty -a']));
    assert.match(shown, / -ixon /);
    assert.match(shown, /erase = \^H;/);
    assert.match(shown, /quit = \^\\;/);
  });

  it('runs the command with its arguments untouched, and with no terminal too', () => {
    const [file, ...args] = withTtyModes([['-ixon'], ["it's"]], ['/bin/echo', '$HOME', "it's", '"q"']) as [string, ...string[]];
    assert.equal(execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), `$HOME it's "q"\n`);
  });
});
