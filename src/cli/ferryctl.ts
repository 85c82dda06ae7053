// ferryctl: the admin tool (like tctl). It works on the auth state in the data dir that the
// config names, the way tctl runs on the auth server's host.

import fs from 'node:fs';
import { Command, Option } from 'commander';
import { AuthService } from '../auth/service';
import { SqliteStorage } from '../auth/sqlite';
import type { AuditQuery, StoredAuditEvent } from '../auth/types';
import { databasePath, loadConfig } from '../config/config';
import { FerryError, NotFoundError, ValidationError, describeError } from '../errors';
import { csv, formatBytes, parseDuration, parseTime, table } from './format';
import { exitQuietlyWhenStdoutCloses } from './stdout';

interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

async function withAuth<T>(cmd: Command, fn: (auth: AuthService) => Promise<T>): Promise<T> {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const config = loadConfig(opts.config, opts.dataDir === undefined ? {} : { dataDir: opts.dataDir });
  const db = databasePath(config);
  if (!fs.existsSync(db)) {
    throw new FerryError('no_cluster', `no cluster state at ${db}: start one with "ferryd start${opts.config ? ` --config ${opts.config}` : ''}" first, or point --config/--data-dir at it`);
  }
  const storage = new SqliteStorage(db);
  try {
    return await fn(new AuthService(storage, config.auth.clusterName));
  } finally {
    await storage.close();
  }
}

const out = (text: string): void => { process.stdout.write(text); };
const formatOption = () => new Option('--format <format>', 'output format').choices(['table', 'json']).default('table');
const json = (value: unknown): void => { out(`${JSON.stringify(value, null, 2)}\n`); };

export function buildFerryctl(): Command {
  const program = new Command('ferryctl')
    .description('Administer a ferry cluster: users, roles, certificates, audit log and live tunnels.')
    .option('-c, --config <file>', 'ferryd config file (YAML); its data_dir holds the cluster state')
    .option('-d, --data-dir <dir>', 'data directory, overriding the config (default ./data)')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(`ferryctl: ${str.replace(/^error: /, '')}`) });

  const users = program.command('users').description('manage users');
  users
    .command('add <name>')
    .description('add a user with the OS logins it may use and its roles')
    .requiredOption('--logins <list>', 'comma-separated OS logins, e.g. alice,www-data')
    .option('--roles <list>', 'comma-separated role names', 'access')
    .action(async (name: string, o: { logins: string; roles: string }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const user = await auth.addUser(name, csv(o.logins), csv(o.roles));
        out(`User "${user.name}" added with logins ${user.logins.join(', ')} and roles ${user.roles.join(', ')}.\n`);
        out(`Sign a certificate for them with: ferryctl auth sign --user ${user.name} --pubkey KEY.pub --ttl 8h --out KEY-cert.pub\n`);
      }),
    );
  users
    .command('ls')
    .description('list users')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const list = await auth.storage.listUsers();
        if (o.format === 'json') return json(list);
        out(table(['User', 'Logins', 'Roles', 'Created'], list.map((u) => [u.name, u.logins.join(','), u.roles.join(','), u.createdAt.toISOString()])));
      }),
    );
  users
    .command('rm <name>')
    .description('remove a user; certificates already issued to them stop working at the node')
    .action(async (name: string, _o: unknown, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        await auth.removeUser(name);
        out(`User "${name}" removed.\n`);
      }),
    );

  const roles = program.command('roles').description('manage roles');
  roles
    .command('create')
    .description('create a role from a YAML file')
    .requiredOption('-f, --file <file>', 'role YAML file ("-" for stdin)')
    .option('--force', 'replace the role if it exists')
    .action(async (o: { file: string; force?: boolean }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const yaml = readInput(o.file);
        const role = await auth.createRole(yaml, o.file === '-' ? 'stdin' : o.file, Boolean(o.force));
        out(`Role "${role.name}" ${o.force ? 'saved' : 'created'}.\n`);
      }),
    );
  roles
    .command('ls')
    .description('list roles')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const list = await auth.loadRoles((await auth.storage.listRoles()).map((r) => r.name));
        if (o.format === 'json') return json(list.map((r) => r.doc));
        out(table(
          ['Role', 'Logins', 'Local', 'Remote', 'Permit listen', 'Max'],
          list.map((r) => {
            const f = r.doc.spec.options.ssh_port_forwarding;
            return [r.name, r.doc.spec.allow.logins.join(','), onOff(f.local.enabled), onOff(f.remote.enabled), (f.remote.permit_listen ?? ['(any)']).join(','), String(f.remote.max_forwards ?? '-')];
          }),
        ));
      }),
    );
  roles
    .command('get <name>')
    .description('print a role as YAML')
    .action(async (name: string, _o: unknown, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const record = await auth.storage.getRole(name);
        if (!record) throw new NotFoundError(`role "${name}" does not exist`);
        out(record.yaml.endsWith('\n') ? record.yaml : `${record.yaml}\n`);
      }),
    );
  roles
    .command('rm <name>')
    .description('remove a role')
    .action(async (name: string, _o: unknown, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        await auth.removeRole(name);
        out(`Role "${name}" removed.\n`);
      }),
    );

  const authCmd = program.command('auth').description('certificates and certificate authorities');
  authCmd
    .command('sign')
    .description('sign an OpenSSH user certificate for a user\'s public key')
    .requiredOption('--user <name>', 'the ferry user')
    .requiredOption('--pubkey <file>', 'the user\'s public key, e.g. ~/.ssh/id_ed25519.pub')
    .option('--ttl <duration>', 'how long the certificate is valid', '8h')
    .requiredOption('--out <file>', 'where to write the certificate (ssh looks for KEY-cert.pub)')
    .action(async (o: { user: string; pubkey: string; ttl: string; out: string }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const ttl = parseDuration(o.ttl, '--ttl');
        const key = readInput(o.pubkey);
        const signed = await auth.signUserCert(o.user, key, ttl);
        fs.writeFileSync(o.out, `${signed.certificateLine}\n`, { mode: 0o644 });
        out(`Certificate for "${o.user}" written to ${o.out}\n  principals: ${signed.principals.join(', ')}\n  valid until: ${signed.validBefore.toISOString()}\n  extensions: ${signed.extensions.join(', ')}\n`);
      }),
    );
  authCmd
    .command('export')
    .description('print a CA public key: user (for sshd TrustedUserCAKeys) or host (an @cert-authority known_hosts line)')
    .addOption(new Option('--type <type>', 'which CA').choices(['user', 'host']).makeOptionMandatory())
    .action(async (o: { type: 'user' | 'host' }, cmd: Command) => withAuth(cmd, async (auth) => out(await auth.exportCA(o.type))));

  const audit = program.command('audit').description('the audit log');
  audit
    .command('ls')
    .description('list audit events, oldest first')
    .option('--type <type>', 'event type or prefix, e.g. tunnel or tunnel.listen')
    .option('--since <when>', 'events after this: a duration ago (1h) or an ISO time')
    .option('--until <when>', 'events before this: a duration ago or an ISO time')
    .option('--user <name>', 'only this ferry user')
    .option('--failed', 'only refusals and failures')
    .option('--limit <n>', 'at most this many events')
    .addOption(formatOption())
    .action(async (o: { type?: string; since?: string; until?: string; user?: string; failed?: boolean; limit?: string; format: string }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const query: AuditQuery = {};
        if (o.type) query.type = o.type;
        if (o.since) query.since = parseTime(o.since, '--since');
        if (o.until) query.until = parseTime(o.until, '--until');
        if (o.user) query.user = o.user;
        if (o.failed) query.success = false;
        if (o.limit !== undefined) {
          if (!/^\d+$/.test(o.limit)) throw new ValidationError(`--limit: "${o.limit}" is not a whole number`);
          query.limit = Number(o.limit);
        }
        const events = await auth.storage.queryAudit(query);
        if (o.format === 'json') return json(events);
        out(table(['Time', 'Type', 'OK', 'User', 'Login', 'Node', 'Remote', 'Details'], events.map(auditRow)));
      }),
    );

  program
    .command('tunnels')
    .description('live remote forwards')
    .command('ls')
    .description('list live remote forwards on every node')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) =>
      withAuth(cmd, async (auth) => {
        const list = await auth.storage.listTunnels();
        if (o.format === 'json') return json(list);
        out(table(
          ['User', 'Login', 'Node', 'Client', 'Bind address', 'Port', 'Conns', 'Active', 'Bytes in', 'Bytes out', 'Since'],
          list.map((t) => [
            t.user, t.login, t.node, t.remoteAddr, t.kind === 'unix' ? t.bindAddress : quoteBind(t.bindAddress),
            t.kind === 'unix' ? '-' : String(t.port), String(t.connections), String(t.activeConnections),
            formatBytes(t.bytesIn), formatBytes(t.bytesOut), t.startedAt.toISOString(),
          ]),
        ));
      }),
    );
  return program;
}

function onOff(v: boolean): string {
  return v ? 'yes' : 'no';
}

function quoteBind(bind: string): string {
  return bind === '' ? '""' : bind;
}

function auditRow(e: StoredAuditEvent): string[] {
  const details = [e.code, e.message, e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '']
    .filter(Boolean)
    .join(' | ');
  return [e.time.toISOString(), e.type, e.success ? 'yes' : 'NO', e.user ?? '', e.login ?? '', e.node ?? '', e.remoteAddr ?? '', details];
}

function readInput(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new ValidationError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  exitQuietlyWhenStdoutCloses();
  try {
    await buildFerryctl().exitOverride().parseAsync(argv);
    return 0;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('commander.')) {
      return code === 'commander.helpDisplayed' || code === 'commander.help' || code === 'commander.version' ? 0 : 2;
    }
    process.stderr.write(`ferryctl: error: ${describeError(err)}\n`);
    return 1;
  }
}
