import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../errors';
import {
  type Forward,
  type ForwardSpecOptions,
  formatAllocatedPort,
  formatForwardListener,
  formatForwardTarget,
  loadTcpServices,
  parseDynamicForward,
  parseLocalForward,
  parseRemoteForward,
  parseTcpServices,
} from './forwardspec';

// A fixed services table so the rows do not depend on this machine's /etc/services.
const services = parseTcpServices(
  [
    '# comment line',
    'ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol',
    'http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP',
    'https\t\t443/tcp',
    'domain\t\t53/udp',
    'http-alt\t8080/tcp\twebcache',
    'bogus\t\t99999/tcp',
  ].join('\n'),
);
// Omit distributed over the union, so each row is checked against its own kind.
type WithoutSpec<T> = T extends unknown ? Omit<T, 'spec'> : never;

const options: ForwardSpecOptions = { tcpServices: services };

const REMOTE_FORMS =
  '[bind_address:]port:host:hostport, [bind_address:]port:local_socket, ' +
  'remote_socket:host:hostport, remote_socket:local_socket or [bind_address:]port';
const LOCAL_FORMS =
  '[bind_address:]port:host:hostport, [bind_address:]port:remote_socket, ' +
  'local_socket:host:hostport or local_socket:remote_socket';
const DYNAMIC_FORMS = '[bind_address:]port or local_socket';

const tcp = (host: string, port: number) => ({ kind: 'tcp', host, port }) as const;
const unix = (path: string) => ({ kind: 'unix', path }) as const;
const socks = { kind: 'socks' } as const;
const loopback = { kind: 'loopback' } as const;
const allInterfaces = { kind: 'all-interfaces' } as const;
const address = (value: string) => ({ kind: 'address', address: value }) as const;

function assertBad(parse: () => unknown, message: string): void {
  assert.throws(parse, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.message, message);
    assert.equal(err.code, 'invalid_input');
    return true;
  });
}

describe('parseRemoteForward (-R)', () => {
  // Every accepted row was checked against `ssh -G -R <spec>` of OpenSSH 9.2.
  const valid: [spec: string, expected: WithoutSpec<Forward>][] = [
    ['8080:host:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('host', 80) }],
    ['0.0.0.0:8080:host:80', { kind: 'remote-tcp', bindAddress: '0.0.0.0', port: 8080, target: tcp('host', 80) }],
    ['gw.example:8080:10.0.0.5:22', { kind: 'remote-tcp', bindAddress: 'gw.example', port: 8080, target: tcp('10.0.0.5', 22) }],
    ['*:8080:host:80', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: tcp('host', 80) }],
    [':8080:host:80', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: tcp('host', 80) }],
    ['localhost:8080:host:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('host', 80) }],
    ['[::1]:8080:[::1]:80', { kind: 'remote-tcp', bindAddress: '::1', port: 8080, target: tcp('::1', 80) }],
    ['[::]:8080:host:80', { kind: 'remote-tcp', bindAddress: '::', port: 8080, target: tcp('host', 80) }],
    ['8080:[fe80::1%eth0]:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('fe80::1%eth0', 80) }],
    ['[*]:8080:host:80', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: tcp('host', 80) }],
    ['[]:8080:host:80', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: tcp('host', 80) }],
    ['0:host:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 0, target: tcp('host', 80) }],
    ['65535:host:65535', { kind: 'remote-tcp', bindAddress: 'localhost', port: 65535, target: tcp('host', 65535) }],
    ['http:host:https', { kind: 'remote-tcp', bindAddress: 'localhost', port: 80, target: tcp('host', 443) }],
    ['www:host:webcache', { kind: 'remote-tcp', bindAddress: 'localhost', port: 80, target: tcp('host', 8080) }],
    ['+80:host:080', { kind: 'remote-tcp', bindAddress: 'localhost', port: 80, target: tcp('host', 80) }],
    ['-0:host: 80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 0, target: tcp('host', 80) }],
    ['  8080:host:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('host', 80) }],
    ['8080:host:80:', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('host', 80) }],
    ['a:1:h:2:', { kind: 'remote-tcp', bindAddress: 'a', port: 1, target: tcp('h', 2) }],
    ['8080:x\\:y:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('x:y', 80) }],
    // An escaped '/' does not make a path; an unescaped one in the host field does not either
    // (only the first and last fields are asked), so these are odd host names, as in ssh.
    ['8080:\\/x:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('/x', 80) }],
    ['8080:/x:80', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: tcp('/x', 80) }],
    ['8080:/tmp/app.sock', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: unix('/tmp/app.sock') }],
    ['0:/tmp/app.sock', { kind: 'remote-tcp', bindAddress: 'localhost', port: 0, target: unix('/tmp/app.sock') }],
    ['*:8080:/tmp/app.sock', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: unix('/tmp/app.sock') }],
    ['[::1]:8080:[/tmp/a:b]', { kind: 'remote-tcp', bindAddress: '::1', port: 8080, target: unix('/tmp/a:b') }],
    ['/run/remote.sock:host:80', { kind: 'remote-unix', socketPath: '/run/remote.sock', target: tcp('host', 80) }],
    ['[/a]:host:80', { kind: 'remote-unix', socketPath: '/a', target: tcp('host', 80) }],
    ['/run/remote.sock:/tmp/local.sock', { kind: 'remote-unix', socketPath: '/run/remote.sock', target: unix('/tmp/local.sock') }],
    ['relative/r.sock:./l.sock', { kind: 'remote-unix', socketPath: 'relative/r.sock', target: unix('./l.sock') }],
    // Reverse dynamic: the client serves SOCKS.
    ['8080', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: socks }],
    ['8080:', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: socks }],
    ['0', { kind: 'remote-tcp', bindAddress: 'localhost', port: 0, target: socks }],
    ['localhost:8080', { kind: 'remote-tcp', bindAddress: 'localhost', port: 8080, target: socks }],
    ['*:8080', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: socks }],
    [':8080', { kind: 'remote-tcp', bindAddress: '', port: 8080, target: socks }],
    ['[::1]:0', { kind: 'remote-tcp', bindAddress: '::1', port: 0, target: socks }],
    ['http', { kind: 'remote-tcp', bindAddress: 'localhost', port: 80, target: socks }],
    // ssh parses a lone path as reverse dynamic on a remote socket (and then fails to serve
    // it); Ferry serves SOCKS there. "8080/host/80" is such a path, not the old '/' form.
    ['/run/socks.sock', { kind: 'remote-unix', socketPath: '/run/socks.sock', target: socks }],
    ['8080/host/80', { kind: 'remote-unix', socketPath: '8080/host/80', target: socks }],
    // The first field is a path but the second is not: ssh reads bind_address:port.
    ['/a:8080', { kind: 'remote-tcp', bindAddress: '/a', port: 8080, target: socks }],
  ];
  for (const [spec, expected] of valid) {
    it(`parses '${spec}'`, () => {
      assert.deepEqual(parseRemoteForward(spec, options), { ...expected, spec });
    });
  }

  const longHost = 'h'.repeat(1025);
  const longPath = `/${'p'.repeat(107)}`;
  const bad: [spec: string, reason: string | undefined][] = [
    ['', undefined],
    ['   ', undefined],
    ['8080:host', "'host' is not a port number or a TCP service name"],
    ['8080:host:0', 'host port 0 is not allowed'],
    ['8080:host:00', 'host port 0 is not allowed'],
    ['8080:host:', "'host' is not a port number or a TCP service name"],
    ['70000:host:80', 'port 70000 is outside 0..65535'],
    ['8080:host:65536', 'port 65536 is outside 0..65535'],
    ['-1:host:80', 'port -1 is outside 0..65535'],
    ['99999999999999999999:host:80', 'port 99999999999999999999 is outside 0..65535'],
    ['nosuchservice:host:80', "'nosuchservice' is not a port number or a TCP service name"],
    ['8080:host:domain', "'domain' is not a port number or a TCP service name"],
    ['8080:host:bogus', "'bogus' is not a port number or a TCP service name"],
    ['HTTP:host:80', "'HTTP' is not a port number or a TCP service name"],
    ['0x50:host:80', "'0x50' is not a port number or a TCP service name"],
    ['8080 :host:80', "'8080 ' is not a port number or a TCP service name"],
    ['8080:host:80 ', "'80 ' is not a port number or a TCP service name"],
    ['::8080', 'empty port'],
    ['b::host:80', 'empty port'],
    ['8080::80', 'empty host'],
    ['a:1:h:2:e', 'too many fields'],
    ['a:b:c:d:e:f', 'too many fields'],
    ['[::1:8080:host:80', "unbalanced '['"],
    ['8080:[::1:80', "unbalanced '['"],
    ['[::1]8080:host:80', "']' must end the field"],
    ['8080:host\\', "trailing '\\'"],
    ['/a:host:/b', "'/b' is not a port number or a TCP service name"],
    [`8080:${longHost}:80`, 'host name longer than 1024 bytes'],
    [`${longHost}:8080`, 'host name longer than 1024 bytes'],
    [`8080:${longPath}`, 'socket path longer than 107 bytes'],
    [`${longPath}:host:80`, 'socket path longer than 107 bytes'],
  ];
  for (const [spec, reason] of bad) {
    it(`refuses '${spec.length > 40 ? `${spec.slice(0, 40)}...` : spec}'`, () => {
      const detail = reason === undefined ? '' : ` (${reason})`;
      assertBad(
        () => parseRemoteForward(spec, options),
        `Bad remote forwarding specification '${spec}': expected ${REMOTE_FORMS}${detail}`,
      );
    });
  }

  it('accepts the longest host and socket path ssh accepts', () => {
    assert.equal(parseRemoteForward(`8080:${'h'.repeat(1024)}:80`, options).kind, 'remote-tcp');
    const path = `/${'p'.repeat(106)}`;
    assert.deepEqual(parseRemoteForward(`8080:${path}`, options).target, unix(path));
  });

  it('keeps the spec as typed, leading white space included', () => {
    assert.equal(parseRemoteForward(' 8080:h:80', options).spec, ' 8080:h:80');
  });
});

describe('parseLocalForward (-L)', () => {
  const valid: [spec: string, expected: WithoutSpec<Forward>][] = [
    ['8080:host:80', { kind: 'local-tcp', listen: loopback, port: 8080, target: tcp('host', 80) }],
    ['localhost:8080:host:80', { kind: 'local-tcp', listen: loopback, port: 8080, target: tcp('host', 80) }],
    ['*:8080:host:80', { kind: 'local-tcp', listen: allInterfaces, port: 8080, target: tcp('host', 80) }],
    [':8080:host:80', { kind: 'local-tcp', listen: allInterfaces, port: 8080, target: tcp('host', 80) }],
    ['127.0.0.1:8080:host:80', { kind: 'local-tcp', listen: address('127.0.0.1'), port: 8080, target: tcp('host', 80) }],
    ['[::1]:8080:[::1]:80', { kind: 'local-tcp', listen: address('::1'), port: 8080, target: tcp('::1', 80) }],
    ['0.0.0.0:8080:db:5432', { kind: 'local-tcp', listen: address('0.0.0.0'), port: 8080, target: tcp('db', 5432) }],
    ['ssh:host:ssh', { kind: 'local-tcp', listen: loopback, port: 22, target: tcp('host', 22) }],
    ['8080:/run/app.sock', { kind: 'local-tcp', listen: loopback, port: 8080, target: unix('/run/app.sock') }],
    ['*:8080:/run/app.sock', { kind: 'local-tcp', listen: allInterfaces, port: 8080, target: unix('/run/app.sock') }],
    ['/tmp/l.sock:host:80', { kind: 'local-unix', socketPath: '/tmp/l.sock', target: tcp('host', 80) }],
    ['/tmp/l.sock:/run/r.sock', { kind: 'local-unix', socketPath: '/tmp/l.sock', target: unix('/run/r.sock') }],
    ['8080:host:80:', { kind: 'local-tcp', listen: loopback, port: 8080, target: tcp('host', 80) }],
  ];
  for (const [spec, expected] of valid) {
    it(`parses '${spec}'`, () => {
      assert.deepEqual(parseLocalForward(spec, options), { ...expected, spec });
    });
  }

  const bad: [spec: string, reason: string | undefined][] = [
    ['', undefined],
    ['8080', undefined],
    ['localhost:8080', undefined],
    ['abc', undefined],
    ['/tmp/l.sock', undefined],
    ['8080/host/80', undefined],
    ['0:host:80', 'listen port 0 is only allowed for -R'],
    ['b:0:host:80', 'listen port 0 is only allowed for -R'],
    ['8080:host:0', 'host port 0 is not allowed'],
    ['8080:host:70000', 'port 70000 is outside 0..65535'],
    ['8080::80', 'empty host'],
    ['a:1:h:2:e', 'too many fields'],
    ['[a/b]:80', undefined],
  ];
  for (const [spec, reason] of bad) {
    it(`refuses '${spec}'`, () => {
      const detail = reason === undefined ? '' : ` (${reason})`;
      assertBad(() => parseLocalForward(spec, options), `Bad local forwarding specification '${spec}': expected ${LOCAL_FORMS}${detail}`);
    });
  }
});

describe('parseDynamicForward (-D)', () => {
  const valid: [spec: string, expected: WithoutSpec<Forward>][] = [
    ['1080', { kind: 'dynamic-tcp', listen: loopback, port: 1080 }],
    ['1080:', { kind: 'dynamic-tcp', listen: loopback, port: 1080 }],
    ['localhost:1080', { kind: 'dynamic-tcp', listen: loopback, port: 1080 }],
    ['*:1080', { kind: 'dynamic-tcp', listen: allInterfaces, port: 1080 }],
    [':1080', { kind: 'dynamic-tcp', listen: allInterfaces, port: 1080 }],
    ['[]:1080', { kind: 'dynamic-tcp', listen: allInterfaces, port: 1080 }],
    ['[::1]:1080', { kind: 'dynamic-tcp', listen: address('::1'), port: 1080 }],
    ['192.0.2.1:1080', { kind: 'dynamic-tcp', listen: address('192.0.2.1'), port: 1080 }],
    ['a[b]:1080', { kind: 'dynamic-tcp', listen: address('a[b]'), port: 1080 }],
    [' 1080', { kind: 'dynamic-tcp', listen: loopback, port: 1080 }],
    ['/tmp/socks.sock', { kind: 'dynamic-unix', socketPath: '/tmp/socks.sock' }],
  ];
  for (const [spec, expected] of valid) {
    it(`parses '${spec}'`, () => {
      assert.deepEqual(parseDynamicForward(spec, options), { ...expected, spec });
    });
  }

  const bad: [spec: string, reason: string | undefined][] = [
    ['', undefined],
    ['0', 'listen port 0 is only allowed for -R'],
    ['localhost:0', 'listen port 0 is only allowed for -R'],
    ['1080:host:80', undefined],
    ['b:1080:host:80', undefined],
    ['1080:/tmp/x.sock', undefined],
    ['/a:/b', undefined],
    ['a:b', "'b' is not a port number or a TCP service name"],
    ['1080::', 'empty port'],
    ['70000', 'port 70000 is outside 0..65535'],
    ['[a]b:1080', "']' must end the field"],
    ['[::1', "unbalanced '['"],
    ['\\', "trailing '\\'"],
  ];
  for (const [spec, reason] of bad) {
    it(`refuses '${spec}'`, () => {
      const detail = reason === undefined ? '' : ` (${reason})`;
      assertBad(
        () => parseDynamicForward(spec, options),
        `Bad dynamic forwarding specification '${spec}': expected ${DYNAMIC_FORMS}${detail}`,
      );
    });
  }
});

describe('service names', () => {
  it('reads names and aliases of tcp entries only, first entry winning', () => {
    assert.deepEqual(
      [...parseTcpServices('a 1/tcp b c # x\na 2/tcp\nd 3/udp\n  # only a comment\ne\nf 70000/tcp\n')],
      [
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ],
    );
  });

  it('says so when there is no services database, numbers still working', () => {
    const none: ForwardSpecOptions = { tcpServices: null };
    assertBad(
      () => parseRemoteForward('http:host:80', none),
      `Bad remote forwarding specification 'http:host:80': expected ${REMOTE_FORMS} ` +
        "('http' is not a port number, and service names cannot be looked up because /etc/services is missing)",
    );
    assert.equal(parseRemoteForward('8080:host:80', none).kind, 'remote-tcp');
  });

  it('treats an unreadable services file as missing', () => {
    assert.equal(loadTcpServices('/nonexistent/ferry/services'), null);
  });

  it('uses /etc/services when no table is given', (t) => {
    const system = loadTcpServices();
    if (system === null || system.get('ssh') !== 22) {
      t.skip('this machine has no /etc/services listing ssh');
      return;
    }
    assert.deepEqual(parseLocalForward('2222:host:ssh').target, tcp('host', 22));
  });
});

describe('formatting for messages', () => {
  it('writes targets as ssh does', () => {
    assert.equal(formatForwardTarget(tcp('db.internal', 5432)), 'db.internal:5432');
    assert.equal(formatForwardTarget(tcp('::1', 80)), '::1:80');
    assert.equal(formatForwardTarget(unix('/run/app.sock')), '/run/app.sock');
    assert.equal(formatForwardTarget(socks), 'socks:0');
  });

  it("writes ssh's allocated port notice", () => {
    const forward = parseRemoteForward('0:localhost:3000', options);
    assert.equal(formatAllocatedPort(40123, forward.target), 'Allocated port 40123 for remote forward to localhost:3000');
    assert.equal(formatAllocatedPort(40124, parseRemoteForward('0', options).target), 'Allocated port 40124 for remote forward to socks:0');
  });

  const listeners: [Forward, string][] = [
    [parseRemoteForward('8080:h:80', options), 'localhost:8080'],
    [parseRemoteForward('*:8080:h:80', options), '*:8080'],
    [parseRemoteForward('[::1]:8080', options), '[::1]:8080'],
    [parseRemoteForward('/run/r.sock:h:80', options), '/run/r.sock'],
    [parseLocalForward('8080:h:80', options), 'localhost:8080'],
    [parseLocalForward(':8080:h:80', options), '*:8080'],
    [parseLocalForward('[::1]:8080:h:80', options), '[::1]:8080'],
    [parseDynamicForward('10.0.0.1:1080', options), '10.0.0.1:1080'],
    [parseDynamicForward('/tmp/s.sock', options), '/tmp/s.sock'],
  ];
  for (const [forward, expected] of listeners) {
    it(`writes the listener of '${forward.spec}' as ${expected}`, () => {
      assert.equal(formatForwardListener(forward), expected);
    });
  }
});
