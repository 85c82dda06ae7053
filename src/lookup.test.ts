import assert from 'node:assert/strict';
import type dns from 'node:dns';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ForwardResolver, LOOKUP_TTL_MS, type Resolve } from './lookup';

/** A resolver that counts its calls and answers from `table` (a name it lacks is ENOTFOUND). */
function countingResolver(table: Record<string, dns.LookupAddress[]>): Resolve & { calls: string[] } {
  const calls: string[] = [];
  const resolve = ((hostname, _options, then) => {
    calls.push(hostname);
    const addresses = table[hostname];
    setImmediate(() => (addresses
      ? then(null, addresses)
      : then(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])));
  }) as Resolve & { calls: string[] };
  resolve.calls = calls;
  return resolve;
}

function ask(lookup: net.LookupFunction, hostname: string, options: dns.LookupOptions): Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family?: number }> {
  return new Promise((resolve) => lookup(hostname, options, (err, address, family) => resolve({ err, address, family })));
}

const LOCALHOST: dns.LookupAddress[] = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];

describe('ForwardResolver', () => {
  it('resolves a name once within the TTL and again after it', async () => {
    let clock = 0;
    const resolver = countingResolver({ localhost: LOCALHOST });
    const lookup = new ForwardResolver(resolver, () => clock).lookup;
    assert.deepEqual((await ask(lookup, 'localhost', { all: true })).address, LOCALHOST);
    clock += LOOKUP_TTL_MS - 1;
    assert.deepEqual((await ask(lookup, 'localhost', { all: true })).address, LOCALHOST);
    assert.equal(resolver.calls.length, 1);
    clock += 1;
    await ask(lookup, 'localhost', { all: true });
    assert.equal(resolver.calls.length, 2);
  });

  it('answers one address, in the resolver order, when all is not asked', async () => {
    const lookup = new ForwardResolver(countingResolver({ localhost: LOCALHOST }), () => 0).lookup;
    await ask(lookup, 'localhost', { all: true });
    const one = await ask(lookup, 'localhost', {});
    assert.equal(one.address, '::1');
    assert.equal(one.family, 6);
  });

  it('keeps names and address families apart, whatever hints net.connect passes', async () => {
    const resolver = countingResolver({ localhost: LOCALHOST, 'db.internal': [{ address: '10.0.0.5', family: 4 }] });
    const lookup = new ForwardResolver(resolver, () => 0).lookup;
    await ask(lookup, 'localhost', { all: true, hints: 32 });
    await ask(lookup, 'localhost', { all: true, hints: 0 });
    await ask(lookup, 'localhost', { all: true, family: 4 });
    assert.deepEqual((await ask(lookup, 'db.internal', { all: true })).address, [{ address: '10.0.0.5', family: 4 }]);
    assert.deepEqual(resolver.calls, ['localhost', 'localhost', 'db.internal']);
  });

  it('does not keep a failure: the next connection asks again', async () => {
    const table: Record<string, dns.LookupAddress[]> = {};
    const resolver = countingResolver(table);
    const lookup = new ForwardResolver(resolver, () => 0).lookup;
    const failed = await ask(lookup, 'dev.test', { all: true });
    assert.equal(failed.err?.code, 'ENOTFOUND');
    table['dev.test'] = [{ address: '127.0.0.1', family: 4 }];
    assert.equal((await ask(lookup, 'dev.test', {})).address, '127.0.0.1');
    assert.equal(resolver.calls.length, 2);
  });

  it('connects through the cache: each address in turn, or the one address straight', async () => {
    const server = net.createServer((s) => { s.on('error', () => {}); s.end('hi'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const fetch = (resolver: ForwardResolver, host: string) =>
      new Promise<string>((resolve, reject) => {
        const s = resolver.connect(host, port);
        let text = '';
        s.on('data', (d) => { text += d; });
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
    try {
      // localhost answering ::1 first, where nothing listens: the next address must be tried
      const both = countingResolver({ localhost: LOCALHOST });
      const twoWay = new ForwardResolver(both, () => 0);
      for (let i = 0; i < 2; i++) assert.equal(await fetch(twoWay, 'localhost'), 'hi');
      assert.equal(both.calls.length, 1);
      const one = countingResolver({ 'web.test': [{ address: '127.0.0.1', family: 4 }] });
      const oneWay = new ForwardResolver(one, () => 0);
      assert.equal(await fetch(oneWay, 'web.test'), 'hi');
      // the second is dialled as 127.0.0.1: net.connect does no lookup at all
      const second = oneWay.connect('web.test', port);
      let looked = false;
      second.on('lookup', () => { looked = true; });
      await new Promise((resolve, reject) => second.on('connect', resolve).on('error', reject));
      assert.equal(second.remoteAddress, '127.0.0.1');
      second.destroy();
      assert.equal(looked, false, 'the single cached address is dialled without a lookup');
      assert.equal(one.calls.length, 1);
    } finally {
      server.close();
    }
  });
});
