import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { NODE_FLAGS, missingNodeFlags } from './node-flags';

const BIN = path.join(__dirname, '..', '..', '..', 'bin');

describe('node flags', () => {
  let dir: string;
  let preload: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-flags-'));
    preload = path.join(dir, 'exec-argv.js');
    // Loaded through NODE_OPTIONS, before the script: says how node itself was started.
    fs.writeFileSync(preload, "process.stderr.write('execArgv=' + JSON.stringify(process.execArgv) + '\\n');\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Started as a user would: by the kernel reading the #! line, and by BusyBox's sh (Alpine's
  // /bin/sh, whose env has no -S).
  const launchers: [string, (script: string) => [string, string[]]][] = [
    ['run directly', (script) => [script, []]],
    ['run by BusyBox sh', (script) => ['busybox', ['sh', script]]],
  ];
  for (const name of ['ferryd', 'ferry']) {
    for (const [how, launch] of launchers) {
      it(`bin/${name} starts node with NODE_FLAGS when ${how}`, async () => {
        const [cmd, args] = launch(path.join(BIN, name));
        const { stdout, stderr } = await promisify(execFile)(cmd, [...args, '--help'], {
          encoding: 'utf8',
          env: { ...process.env, NODE_OPTIONS: `--require ${preload}` },
        });
        const line = /^execArgv=(.*)$/m.exec(stderr);
        assert.ok(line, `no execArgv line in: ${stderr}`);
        assert.deepEqual(missingNodeFlags(JSON.parse(line[1] ?? '[]') as string[]), []);
        assert.match(stdout, new RegExp(`Usage: ${name}\\b`));
      });
    }
  }

  it('reports a flag that is missing, and accepts any value or spelling of one that is there', () => {
    assert.deepEqual(missingNodeFlags([]), [...NODE_FLAGS]);
    assert.deepEqual(missingNodeFlags(['--trace-gc']), [...NODE_FLAGS]);
    assert.deepEqual(missingNodeFlags([...NODE_FLAGS]), []);
    assert.deepEqual(missingNodeFlags(['--initial-old-space-size=256']), []);
    assert.deepEqual(missingNodeFlags(['--initial_old_space_size=64']), []);
  });
});
