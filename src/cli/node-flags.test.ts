import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { NODE_FLAGS, missingNodeFlags } from './node-flags';

const BIN = path.join(__dirname, '..', '..', '..', 'bin');

describe('node flags', () => {
  for (const name of ['ferryd', 'ferry']) {
    it(`bin/${name} passes NODE_FLAGS on its #! line`, () => {
      const first = fs.readFileSync(path.join(BIN, name), 'utf8').split('\n')[0];
      assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    });
  }

  it('reports a flag that is missing, and accepts any value or spelling of one that is there', () => {
    assert.deepEqual(missingNodeFlags([]), [...NODE_FLAGS]);
    assert.deepEqual(missingNodeFlags(['--trace-gc']), [...NODE_FLAGS]);
    assert.deepEqual(missingNodeFlags([...NODE_FLAGS]), []);
    assert.deepEqual(missingNodeFlags(['--initial-old-space-size=256']), []);
    assert.deepEqual(missingNodeFlags(['--initial_old_space_size=64']), []);
  });
});
