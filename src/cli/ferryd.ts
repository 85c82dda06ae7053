// ferryd: runs the services the config enables (like `teleport start`).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { startAuthHttp } from '../auth/http';
import { AuthService } from '../auth/service';
import { SqliteStorage } from '../auth/sqlite';
import { databasePath, loadConfig, type FerryConfig } from '../config/config';
import { describeError } from '../errors';
import { NodeService } from '../node/server';
import { missingNodeFlags } from './node-flags';

interface StartOptions {
  config?: string;
  dataDir?: string;
  quiet?: boolean;
}

function hostPort(h: { host: string; port: number }): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}

async function start(opts: StartOptions): Promise<void> {
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    process.stderr.write(`ferryd: note: node was started without ${missing.join(' ')}, which bin/ferryd passes; `
      + 'without it forwarding costs up to 1.7x the CPU (garbage collection). Run bin/ferryd itself, or give node the flag.\n');
  }
  const config = loadConfig(opts.config, opts.dataDir === undefined ? {} : { dataDir: opts.dataDir });
  const storage = new SqliteStorage(databasePath(config));
  const auth = new AuthService(storage, config.auth.clusterName);
  await auth.ensureCAs();
  const presets = config.auth.enabled ? await auth.ensurePresetRoles() : [];
  const closers: (() => Promise<void>)[] = [];
  const lines: string[] = [`ferry cluster "${config.auth.clusterName}" is running (data in ${config.dataDir}).`];
  if (config.auth.enabled) {
    const http = await startAuthHttp(auth, config.auth.listen);
    closers.push(() => new Promise((r) => http.close(() => r())));
    const addr = http.address();
    const port = addr && typeof addr === 'object' ? addr.port : config.auth.listen.port;
    lines.push(`  auth service  ${hostPort({ host: config.auth.listen.host, port })}`);
  }
  let sshAddr = '';
  if (config.ssh.enabled) {
    const node = await NodeService.start({ auth, nodeName: config.nodeName, listen: config.ssh.listen, dataDir: config.dataDir });
    closers.push(() => node.stop());
    const a = node.address();
    sshAddr = hostPort({ host: config.ssh.listen.host, port: a.port });
    lines.push(`  ssh node      ${sshAddr} (node name ${config.nodeName}, host key ${node.hostKeyFingerprint})`);
  }
  if (presets.length > 0) lines.push(`  created preset role: ${presets.join(', ')}`);
  if (!opts.quiet) {
    process.stdout.write(`${lines.join('\n')}\n${nextSteps(config, opts, sshAddr)}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`ferryd: ${signal}: shutting down\n`);
    void Promise.all(closers.map((c) => c().catch(() => {})))
      .then(() => storage.close())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** The login the next steps suggest: this user, or when root the first ordinary account. */
function suggestedLogin(): string {
  const me = os.userInfo().username;
  if (process.getuid?.() !== 0) return me;
  try {
    const ordinary = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'))
      .find((f) => Number(f[2]) >= 1000 && Number(f[2]) < 60000 && !/(nologin|false)$/.test(f[6] ?? ''));
    if (ordinary?.[0]) return ordinary[0];
  } catch {
    // no passwd file to read: fall through to a placeholder
  }
  return 'LOGIN';
}

/** How to run one of our executables from the current directory: bin/NAME in the checkout. */
function binPath(name: string): string {
  const abs = path.join(__dirname, '..', '..', '..', 'bin', name);
  const rel = path.relative(process.cwd(), abs);
  return rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel;
}

function nextSteps(config: FerryConfig, opts: StartOptions, sshAddr: string): string {
  if (!sshAddr) return '';
  const rel = path.relative(process.cwd(), config.dataDir);
  const dataDir = rel === '' ? '.' : rel.startsWith('..') ? config.dataDir : rel;
  const ctl = `${binPath('ferryctl')} ${opts.config ? `--config ${opts.config}` : `--data-dir ${dataDir}`}`;
  const [host, port] = [sshAddr.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''), sshAddr.replace(/^.*:/, '')];
  const target = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const me = suggestedLogin();
  const rootNote = process.getuid?.() === 0
    ? `  (ferryd runs as root; the preset role "access" refuses root logins, so this uses ${me}: pick any non-root account)\n`
    : '';
  return `
Next steps, in another terminal:
${rootNote}  ${ctl} users add ${me} --logins ${me} --roles access
  ssh-keygen -t ed25519 -N '' -f ~/.ssh/ferry_${me}
  ${ctl} auth sign --user ${me} --pubkey ~/.ssh/ferry_${me}.pub --out ~/.ssh/ferry_${me}-cert.pub
  ${ctl} auth export --type host | sed 's/^@cert-authority \\*/@cert-authority [${target}]:${port}/' >> ~/.ssh/known_hosts
  ${binPath('ferry')} ssh -i ~/.ssh/ferry_${me} -p ${port} -N -R 9080:localhost:8080 ${me}@${target}
or with OpenSSH:
  ssh -i ~/.ssh/ferry_${me} -p ${port} -N -R 9080:localhost:8080 ${me}@${target}
Then watch it:  ${ctl} tunnels ls   and   ${ctl} audit ls
`;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('ferryd')
    .description('Run ferry services: the auth service and the SSH node.')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`ferryd: ${str.replace(/^error: /, '')}`) });
  program
    .command('start')
    .description('start the services the config enables; with no config, an all-in-one cluster under ./data')
    .option('-c, --config <file>', 'config file (YAML, shaped like teleport.yaml)')
    .option('-d, --data-dir <dir>', 'data directory (overrides ferry.data_dir)')
    .option('-q, --quiet', 'do not print the next steps')
    .action(async (o: StartOptions) => start(o));
  program
    .command('configure')
    .description('print a sample config file')
    .action(() => {
      process.stdout.write(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'examples', 'ferry.yaml'), 'utf8'));
    });
  try {
    await program.parseAsync(argv);
    return -1; // keep running
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('commander.')) return code === 'commander.helpDisplayed' || code === 'commander.help' ? 0 : 2;
    process.stderr.write(`ferryd: error: ${describeError(err)}\n`);
    return 1;
  }
}
