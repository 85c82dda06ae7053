import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { withTtyModes } from './ttymodes';

describe('withTtyModes', () => {
  it('runs the command unchanged when there are no modes', () => {
    assert.deepEqual(withTtyModes([], ['/bin/bash', '-l']), ['/bin/bash', '-l']);
  });

  it('runs stty then execs the command with its arguments untouched', () => {
    // Without a terminal stty fails; the command still runs, with its own arguments.
    const [file, ...args] = withTtyModes(['erase', '^H', 'quit', '^\\', '-ixon'], ['/bin/echo', '$HOME', "it's", '"q"']) as [string, ...string[]];
    assert.equal(execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), `$HOME it's "q"\n`);
  });
});
