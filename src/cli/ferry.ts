// ferry: the user's client (like tsh). `ferry ssh` takes ssh(1)'s flags.

import os from 'node:os';
import { Command, Option } from 'commander';
import { describeError } from '../errors';
import { EXIT_FAILURE, buildInvocation, optionsFirst, sshGArguments, type RawSshFlags } from '../client/options';
import { readSshConfig } from '../client/sshconfig';
import type { SshSession } from '../client/ssh';
import { exitQuietlyWhenStdoutCloses } from './stdout';

const collect = (value: string, previous: string[]) => previous.concat([value]);

export async function main(argv: string[]): Promise<number> {
  exitQuietlyWhenStdoutCloses();
  // `ferry ssh`'s arguments, options first as ssh reads them, for the parser and for ssh -G (src/client/sshconfig.ts).
  const sshArgs = argv[2] === 'ssh' ? optionsFirst(argv.slice(3)) : [];
  if (argv[2] === 'ssh') argv = [...argv.slice(0, 3), ...sshArgs];
  let exitCode = 0;
  const program = new Command('ferry')
    .description('Ferry client: SSH with reverse tunnels that just work.')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`ferry: ${str.replace(/^error: /, '')}`) });
  program
    .command('ssh')
    .description('connect to a node (or any sshd) the way ssh(1) does')
    .usage('[options] [user@]host [command ...]')
    .argument('<destination>', '[user@]host')
    .argument('[command...]', 'remote command; everything after the host is passed untouched')
    .passThroughOptions()
    .helpOption('--help', 'display help for command')
    .option('-p <port>', 'port to connect to on the remote host')
    .option('-l <login>', 'login name on the remote host')
    .option('-i <keyfile>', 'private key, KEYFILE-cert.pub beside it offered as its certificate (repeatable)', collect, [])
    .option('-N', 'do not run a remote command (just forward ports)')
    .option('-t', 'a pseudo-terminal, even for a command; -tt: even when stdin is not a terminal', (_v: string, prev: number) => prev + 1, 0)
    .option('-T', 'disable the pseudo-terminal')
    .option('-q', 'quiet: no warnings or "Allocated port" lines')
    .option('-v', 'verbose (repeatable)', (_v: string, prev: number) => prev + 1, 0)
    .option('-e <char>', "escape character of a terminal session: ~ (the default), ^X, or 'none'")
    .option('-F <configfile>', "ssh_config file instead of ~/.ssh/config and /etc/ssh/ssh_config; 'none' reads none")
    .option('-o <option>', 'ssh option, e.g. ExitOnForwardFailure=yes (repeatable)', collect, [])
    .addOption(new Option('-R <spec>', 'remote forward: [bind_address:]port:host:hostport, ... (repeatable)').argParser(collect).default([]))
    .addOption(new Option('-L <spec>', 'local forward: [bind_address:]port:host:hostport, ... (repeatable)').argParser(collect).default([]))
    .addOption(new Option('-D <spec>', 'dynamic SOCKS forward: [bind_address:]port (repeatable)').argParser(collect).default([]))
    .action(async (destination: string, command: string[], flags: RawSshFlags) => {
      let session: SshSession;
      try {
        const me = os.userInfo().username;
        // The command line is checked before ssh_config is read, as ssh does.
        buildInvocation(destination, command, flags, me);
        const reading = flags.F === 'none' ? Promise.resolve(null) : readSshConfig({ args: sshGArguments(sshArgs), file: flags.F });
        // The client and ssh2 load (about 25 ms) while ssh -G runs (about 5).
        const { SshSession: Session } = await import('../client/ssh');
        const config = await reading;
        const inv = buildInvocation(destination, command, flags, me, config ?? undefined);
        if (config === null && flags.F !== 'none') inv.configNotes.push("ssh_config: none read, OpenSSH's ssh is not installed");
        session = new Session(inv, {
          stdin: process.stdin,
          stdout: process.stdout,
          stderr: process.stderr,
        });
      } catch (err) {
        process.stderr.write(`${describeError(err)}\n`);
        exitCode = EXIT_FAILURE;
        return;
      }
      try {
        exitCode = await session.run();
      } catch (err) {
        process.stderr.write(`ferry: ${describeError(err)}\n`);
        exitCode = EXIT_FAILURE;
      }
    });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'commander.helpDisplayed' || code === 'commander.help' || code === 'commander.version') return 0;
    if (code.startsWith('commander.')) return EXIT_FAILURE;
    process.stderr.write(`ferry: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
  return exitCode;
}
