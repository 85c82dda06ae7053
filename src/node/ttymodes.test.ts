import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { sttyArgs, withTtyModes } from './ttymodes';

describe('terminal modes', () => {
  const cases: [string, Record<string, number>, string[]][] = [
    ['control characters as ^X', { VINTR: 3, VERASE: 8, VQUIT: 0x1c }, ['intr', '^C', 'erase', '^H', 'quit', '^\\']],
    ['other characters as numbers, 255 as undef', { VERASE: 127, VEOL: 255, VKILL: 0x41 }, ['erase', '127', 'eol', 'undef', 'kill', '65']],
    ['flags on and off', { IXON: 0, ICRNL: 1, IUTF8: 1, ECHO: 0, OPOST: 5 }, ['-ixon', 'icrnl', 'iutf8', '-echo', 'opost']],
    ['speeds that are baud rates', { TTY_OP_ISPEED: 38400, TTY_OP_OSPEED: 12345 }, ['ispeed', '38400']],
    ['no slot on Linux, or kept by the pty', { VDSUSP: 25, VSTATUS: 20, VFLUSH: 15, CS8: 1, PARENB: 0, PENDIN: 0 }, []],
  ];
  for (const [what, modes, args] of cases) {
    it(`translates ${what}`, () => assert.deepEqual(sttyArgs(modes), args));
  }

  it('translates no modes to no stty, and runs the command unchanged', () => {
    assert.deepEqual(sttyArgs(undefined), []);
    assert.deepEqual(withTtyModes([], ['/bin/bash', '-l']), ['/bin/bash', '-l']);
  });

  it('runs stty then execs the command with its arguments untouched', () => {
    // Without a terminal stty fails; the command still runs, with its own arguments.
    const argv = withTtyModes(sttyArgs({ VERASE: 8, VQUIT: 0x1c, IXON: 0 }), ['/bin/echo', '$HOME', "it's", '"q"']);
    const [file, ...args] = argv as [string, ...string[]];
    assert.equal(execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), `$HOME it's "q"\n`);
  });
});
