import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EscapeReader, PromptLine, parseCommandLine, parseEscapeChar, type EscapeAction } from './escapes';
import { buildInvocation, type RawSshFlags } from './options';

/** Feeds `chunks` through one reader; returns what went to the server and the actions, in order. */
function typed(chunks: string[], char = 0x7e): { sent: string; actions: EscapeAction[] } {
  const reader = new EscapeReader(char);
  let sent = '';
  const actions: EscapeAction[] = [];
  for (const chunk of chunks) {
    let input: Buffer = Buffer.from(chunk, 'latin1');
    while (input.length > 0) {
      const r = reader.read(input);
      sent += r.send.toString('latin1');
      if (r.action) actions.push(r.action);
      input = r.rest;
    }
  }
  return { sent, actions };
}

describe('escape sequences', () => {
  const cases: [string, string[], string, EscapeAction[], number?][] = [
    ['~. at the start of the session', ['~.'], '', ['disconnect']],
    ['~. after a return', ['ls\r~.'], 'ls\r', ['disconnect']],
    ['~. after a newline, split across reads', ['ls\n', '~', '.'], 'ls\n', ['disconnect']],
    ['~ in the middle of a line, as typed', ['a~.b'], 'a~.b', []],
    ['~~ sends one ~, and the line has started', ['~~.'], '~.', []],
    ['~ then an unknown character sends both', ['~x'], '~x', []],
    ['~? ~# ~C, and the line still at its start after each', ['~?~#~C~.'], '', ['help', 'list', 'command', 'disconnect']],
    ['another escape character (^])', ['\r\x1d.'], '\r', ['disconnect'], 0x1d],
    ['~ with another escape character, as typed', ['~.'], '~.', [], 0x1d],
  ];
  for (const [what, chunks, sent, actions, char] of cases) {
    it(`reads ${what}`, () => assert.deepEqual(typed(chunks, char), { sent, actions }));
  }

  it('keeps what follows an escape for after it was handled', () => {
    const r = new EscapeReader(0x7e).read(Buffer.from('x\r~Cnext'));
    assert.deepEqual([r.send.toString(), r.action, r.rest.toString()], ['x\r', 'command', 'next']);
  });

  it('parses -e and EscapeChar as ssh does, and -e wins', () => {
    assert.equal(parseEscapeChar('~'), 0x7e);
    assert.equal(parseEscapeChar('^]'), 0x1d);
    assert.equal(parseEscapeChar('none'), null);
    for (const bad of ['ab', 'é', '^1']) assert.throws(() => parseEscapeChar(bad), /Bad escape character/, bad);
    const flags = (extra: Partial<RawSshFlags>): RawSshFlags => ({ i: [], o: [], R: [], L: [], D: [], ...extra });
    assert.equal(buildInvocation('h', [], flags({}), 'u').escapeChar, 0x7e);
    assert.equal(buildInvocation('h', [], flags({ o: ['EscapeChar=none'] }), 'u').escapeChar, null);
    assert.equal(buildInvocation('h', [], flags({ o: ['EscapeChar=none'], e: '^A' }), 'u').escapeChar, 1);
    assert.equal(buildInvocation('h', [], flags({}), 'u').escapeCommandline, true);
    assert.equal(buildInvocation('h', [], flags({ o: ['EnableEscapeCommandline=no'] }), 'u').escapeCommandline, false);
  });

  const edits: [string, string, { echo: string; line?: string | null; rest?: string }][] = [
    ['a line ended by Enter, the rest kept', '-R 80\rls', { echo: '-R 80\r\n', line: '-R 80', rest: 'ls' }],
    ['backspace and ^U', 'ab\x7fc\x15xy\r', { echo: 'ab\b \bc\b \b\b \bxy\r\n', line: 'xy' }],
    ['^C, leaving the prompt', 'ab\x03', { echo: 'ab\r\n', line: null }],
    ['^D on an empty line, leaving it', '\x04', { echo: '\r\n', line: null }],
    ['^D within a line, ignored, and other controls', 'a\x04\x1bb', { echo: 'ab' }],
  ];
  for (const [what, input, expected] of edits) {
    it(`edits the ~C line: ${what}`, () => {
      const r = new PromptLine().feed(Buffer.from(input, 'latin1'));
      assert.deepEqual({ echo: r.echo, line: r.line, rest: r.rest.toString() }, { line: undefined, rest: '', ...expected });
    });
  }

  it('reads ~C command lines', () => {
    assert.deepEqual(parseCommandLine('  '), { kind: 'none' });
    assert.deepEqual(parseCommandLine('?'), { kind: 'help' });
    assert.deepEqual(parseCommandLine('-R 0:localhost:8080'), { kind: 'forward', type: 'R', spec: '0:localhost:8080' });
    assert.deepEqual(parseCommandLine('-L9000:db:5432'), { kind: 'forward', type: 'L', spec: '9000:db:5432' });
    assert.deepEqual(parseCommandLine('-KR 40221'), { kind: 'cancel', type: 'R', spec: '40221' });
    assert.deepEqual(parseCommandLine('-KD localhost:1080'), { kind: 'cancel', type: 'D', spec: 'localhost:1080' });
    assert.deepEqual(parseCommandLine('-R'), { kind: 'invalid' });
    assert.deepEqual(parseCommandLine('ls'), { kind: 'invalid' });
  });
});
