import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { whenWritten } from './streams';

/** A writable that takes `ms` per chunk, as an SSH channel short of window does. */
function slowWritable(ms: number): Writable {
  return new Writable({ highWaterMark: 4, write: (_chunk, _enc, cb) => setTimeout(cb, ms) });
}

describe('whenWritten', () => {
  it('calls at once for a stream still being written, or one that finished', async () => {
    let calls = 0;
    const open = slowWritable(1);
    whenWritten(open, () => { calls += 1; });
    assert.equal(calls, 1);
    const done = slowWritable(1);
    done.end('x');
    await new Promise((r) => done.once('finish', r));
    whenWritten(done, () => { calls += 1; });
    assert.equal(calls, 2);
  });

  it('waits for what an ended stream still holds, and calls once', async () => {
    const w = slowWritable(5);
    for (let i = 0; i < 5; i++) w.write('chunk');
    w.end();
    let calls = 0;
    whenWritten(w, () => { calls += 1; });
    assert.equal(calls, 0);
    await new Promise((r) => w.once('finish', r));
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 1);
    w.destroy();
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 1);
  });

  it('calls when the stream is destroyed before it finishes', async () => {
    const w = slowWritable(50);
    w.write('a');
    w.end('b');
    let calls = 0;
    whenWritten(w, () => { calls += 1; });
    w.destroy();
    await new Promise((r) => w.once('close', r));
    assert.equal(calls, 1);
  });
});
