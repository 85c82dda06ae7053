import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as pty from 'node-pty';
import { modesFromStty, sttyArgs } from './ttymodes';

/** What `stty -a` prints on a pty after `setup`, run through /bin/sh. */
function sttyAll(setup: string): Promise<string> {
  return new Promise((resolve) => {
    const term = pty.spawn('/bin/sh', ['-c', `${setup}; stty -a`], { cols: 80, rows: 24 });
    let out = '';
    term.onData((d) => { out += d; });
    term.onExit(() => resolve(out.replace(/\r/g, '')));
  });
}

describe('terminal modes', () => {
  const toStty: [string, Record<string, number>, string[][]][] = [
    ['control characters as ^X', { VINTR: 3, VERASE: 8, VQUIT: 0x1c }, [['intr', '^C'], ['erase', '^H'], ['quit', '^\\']]],
    ['other characters as numbers, 255 as undef', { VERASE: 127, VEOL: 255, VKILL: 0x41 }, [['erase', '127'], ['eol', 'undef'], ['kill', '65']]],
    ['flags on and off', { IXON: 0, ICRNL: 1, IUTF8: 1, ECHO: 0, OPOST: 5 }, [['-ixon'], ['icrnl'], ['iutf8'], ['-echo'], ['opost']]],
    ['speeds that are baud rates', { TTY_OP_ISPEED: 38400, TTY_OP_OSPEED: 12345 }, [['ispeed', '38400']]],
    ['no slot on Linux, kept by the pty, or unknown to GNU stty', { VDSUSP: 25, VSTATUS: 20, VFLUSH: 15, CS8: 1, PARENB: 0, PENDIN: 0 }, []],
  ];
  for (const [what, modes, args] of toStty) {
    it(`gives stty ${what}`, () => assert.deepEqual(sttyArgs(modes), args));
  }
  it('gives stty nothing for no modes', () => assert.deepEqual(sttyArgs(undefined), []));

  it('reads GNU stty -a', () => {
    const gnu = [
      'speed 38400 baud; rows 24; columns 80; line = 0;',
      'intr = ^C; quit = ^\\; erase = ^H; kill = ^U; eof = ^D; eol = <undef>; eol2 = M-^?; swtch = <undef>; start = ^Q; stop = ^S;',
      'susp = ^Z; rprnt = ^R; werase = ^W; lnext = ^V; discard = ^O; min = 1; time = 0;',
      '-parenb -parodd -cmspar cs8 hupcl -cstopb cread -clocal -crtscts',
      '-ignbrk brkint -ignpar -parmrk -inpck -istrip -inlcr -igncr icrnl -ixon -ixoff -iuclc ixany imaxbel iutf8',
    ].join('\n');
    const m = modesFromStty(gnu);
    assert.deepEqual([m.VINTR, m.VQUIT, m.VERASE, m.VEOL, m.VEOL2, m.VREPRINT], [3, 0x1c, 8, 255, 255, 18]);
    assert.deepEqual([m.IXON, m.ICRNL, m.IUTF8, m.IXANY, m.IGNPAR], [0, 1, 1, 1, 0]);
    assert.deepEqual([m.TTY_OP_ISPEED, m.TTY_OP_OSPEED], [38400, 38400]);
    assert.equal(m.PARENB, undefined);
  });

  it('reads BSD stty -a (macOS), with its own names and split speeds', () => {
    const bsd = [
      'ispeed 9600 baud; ospeed 38400 baud; 24 rows; 80 columns;',
      'lflags: icanon isig iexten echo echoe -echok echoke -echonl echoctl',
      '\t-echoprt -altwerase -noflsh -tostop -flusho pendin -nokerninfo',
      'iflags: -istrip icrnl -inlcr -igncr ixon -ixoff ixany imaxbel -iutf8',
      'cchars: discard = ^O; dsusp = ^Y; eof = ^D; eol = <undef>;',
      '\teol2 = <undef>; erase = ^?; intr = ^C; kill = ^U; lnext = ^V;',
      '\tmin = 1; quit = ^\\; reprint = ^R; start = ^Q; status = ^T;',
    ].join('\n');
    const m = modesFromStty(bsd);
    assert.deepEqual([m.VERASE, m.VREPRINT, m.VDISCARD, m.VEOL], [127, 18, 15, 255]);
    assert.equal(modesFromStty('flush = ^O;').VDISCARD, 15, "BusyBox's name for discard");
    assert.deepEqual([m.ECHOK, m.IUTF8, m.IXON, m.ICANON], [0, 0, 1, 1]);
    assert.deepEqual([m.TTY_OP_ISPEED, m.TTY_OP_OSPEED], [9600, 38400]);
    assert.equal(m.VDSUSP, undefined);
    assert.equal(m.VSTATUS, undefined);
  });

  it('carries a real terminal\'s settings to another one: read, sent, applied', async () => {
    // eol and eol2 undef: node-pty sets them to 0xff, which the wire cannot tell from "none"
    // (255), so they would come back as none, as they do through ssh and sshd.
    const setup = 'stty -ixon erase ^H werase undef -iutf8 ixoff intr ^X eol undef eol2 undef';
    const before = await sttyAll(setup);
    const after = await sttyAll(`stty ${sttyArgs(modesFromStty(before)).flat().map((a) => `'${a}'`).join(' ')}`);
    assert.equal(after, before);
    assert.notEqual(after, await sttyAll('true'), 'the setup changed something');
  });
});
