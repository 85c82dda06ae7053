import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Scope } from './scope';

describe('Scope', () => {
  it('runs disposers last-in-first-out, once', async () => {
    const order: number[] = [];
    const scope = new Scope();
    scope.defer(() => { order.push(1); });
    scope.defer(async () => { order.push(2); });
    await scope.close();
    await scope.close();
    assert.deepEqual(order, [2, 1]);
    assert.equal(scope.signal.aborted, true);
  });

  it('aborts a signal taken before the close, and hands out an aborted one after it', async () => {
    const before = new Scope();
    const signal = before.signal;
    let aborted = 0;
    signal.addEventListener('abort', () => { aborted += 1; });
    await before.close();
    assert.equal(aborted, 1);
    const after = new Scope();
    await after.close();
    assert.equal(after.signal.aborted, true);
    assert.equal(after.signal.reason, signal.reason);
  });

  it('waits for disposers that return a promise', async () => {
    const scope = new Scope();
    let done = false;
    scope.defer(() => new Promise<void>((r) => setTimeout(() => { done = true; r(); }, 20)));
    await scope.close();
    assert.equal(done, true);
  });

  it('runs a disposer added to a closed scope at once', async () => {
    const scope = new Scope();
    await scope.close();
    let ran = false;
    scope.defer(() => { ran = true; });
    assert.equal(ran, true);
  });

  it('closes children with the parent, and a closed child leaves the parent alone', async () => {
    const parent = new Scope();
    const a = parent.child();
    const b = parent.child();
    let aClosed = 0;
    a.defer(() => { aClosed += 1; });
    await b.close();
    assert.equal(parent.closed, false);
    await parent.close();
    assert.equal(aClosed, 1);
    assert.equal(a.closed, true);
  });

  it('reports disposer errors and keeps going', async () => {
    const errors: unknown[] = [];
    const scope = new Scope((e) => errors.push(e));
    let ran = false;
    scope.defer(() => { ran = true; });
    scope.defer(() => { throw new Error('boom'); });
    await scope.close();
    assert.equal(ran, true);
    assert.equal(errors.length, 1);
  });
});
