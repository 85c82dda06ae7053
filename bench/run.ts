// `npm run bench`: ferry against OpenSSH on reverse tunnels. Starts its own ferryd and sshd,
// a target service (bench/endpoint.ts) and the clients, then measures each pairing in
// alternating rounds and writes bench/results/latest.{json,md}. See bench/README.md.
//
// Exit status: 0 when every byte that went through a tunnel was the byte sent, 1 when not
// (or when the bench itself could not run), 2 on bad options. Slow numbers never fail it.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, codeRoot, snapshotBuild } from './build';
import { ferry, openssh, type ClientKind, type RunningTunnel } from './clients';
import { concurrentConnections, connectionRate, manyClients, median, serialLatency, startWorkingTunnel, startupTime, throughput } from './figures';
import { USAGE, parseOptions, type Options } from './options';
import { Proc, cpuSeconds, killAllNow, stopAll } from './procs';
import { summarizeProfile, type ProfileSummary } from './profile';
import { FIGURES, REFERENCE, markdownTable, profileMarkdown, profileText, summarize, tableRows, textTable, type FigureId, type PairingId, type PairingResult } from './report';
import { FerryNode, LOGIN, OpenSshd, SSH, SSHD, ensureLogin, type Credentials, type ServerUnderTest } from './servers';
import { CorrectnessError } from './traffic';
import { expectedDigest, makePattern } from './wire';

interface Pairing {
  id: PairingId;
  label: string;
  client?: ClientKind;
  server?: 'ferryd' | 'sshd';
}

const PAIRINGS: Pairing[] = [
  { id: 'a', label: '(a) ferry→ferryd', client: ferry, server: 'ferryd' },
  { id: 'b', label: '(b) ssh→ferryd', client: openssh, server: 'ferryd' },
  { id: 'c', label: '(c) ferry→sshd', client: ferry, server: 'sshd' },
  { id: 'd', label: '(d) ssh→sshd (ref)', client: openssh, server: 'sshd' },
  { id: 'raw', label: 'raw TCP (ceiling)' },
];

class Progress {
  readonly #t0 = Date.now();
  readonly #tty = process.stderr.isTTY;
  #last = '';

  line(text: string): void {
    const s = Math.round((Date.now() - this.#t0) / 1000);
    const stamp = `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
    const msg = `${stamp} ${text}`;
    if (this.#tty) process.stderr.write(`\r\x1b[K${msg.slice(0, (process.stderr.columns || 120) - 1)}`);
    else process.stderr.write(`${msg}\n`);
    this.#last = msg;
  }

  /** A line that stays (problems, skips). */
  note(text: string): void {
    if (this.#tty && this.#last) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${text}\n`);
    if (this.#tty && this.#last) process.stderr.write(this.#last.slice(0, (process.stderr.columns || 120) - 1));
  }

  done(): void {
    if (this.#tty) process.stderr.write('\r\x1b[K');
  }

  elapsed(): number {
    return (Date.now() - this.#t0) / 1000;
  }
}

interface Context {
  opts: Options;
  progress: Progress;
  pattern: Buffer;
  endpointPort: number;
  creds: Credentials;
  ferryd: FerryNode;
  sshd: OpenSshd;
  failures: string[];
  problems: string[];
}

function record(p: PairingResult, id: FigureId, value: number): void {
  if (!Number.isFinite(value)) return;
  (p.samples[id] ??= []).push(value);
}

/** Runs one figure; a wrong byte is a failure, anything else a problem to report. */
async function attempt(ctx: Context, where: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof CorrectnessError) {
      ctx.failures.push(`${where}: ${message}`);
      ctx.progress.note(`FAILED ${where}: ${message}`);
    } else {
      const short = message.split('\n').slice(0, 6).join('\n    ');
      ctx.problems.push(`${where}: ${short}`);
      ctx.progress.note(`problem: ${where}: ${short}`);
    }
  }
}

const WARM_UP_BYTES = 32 * 1024 * 1024;
/** How many of the warm-up connections are timed, as "just started". */
const COLD_CONNS = 1000;

/** Processes whose CPU the throughput figure reads: the server's and the client's. */
interface CpuSubjects {
  server: () => number[];
  client: () => number[];
}

async function tunnelFigures(ctx: Context, pairing: Pairing, result: PairingResult, round: string, port: number, server?: ServerUnderTest, cpu?: CpuSubjects): Promise<void> {
  const { opts, progress } = ctx;
  const tag = `${round} ${pairing.label}`;
  const mib = Math.round(opts.bytes / 1024 / 1024);
  progress.line(`${tag}: ${opts.concurrent} concurrent connections`);
  await attempt(ctx, `${tag} concurrent`, async () => {
    const c = await concurrentConnections(port, opts.concurrent, opts.openConcurrency, server ? () => server.memory() : undefined);
    record(result, 'concServed', c.served);
    result.requested.concServed = opts.concurrent;
    if (c.failed > 0) ctx.problems.push(`${tag}: ${c.failed} of ${opts.concurrent} concurrent connections not served: ${c.errors.join('; ')}`);
    if (c.before && c.after && c.served > 0) {
      record(result, 'concRss', (c.after.rssKiB - c.before.rssKiB) / c.served);
      record(result, 'concDirty', (c.after.privateKiB - c.before.privateKiB) / c.served);
      record(result, 'concTotalRss', c.after.rssKiB / 1024);
    }
  });
  // Warm first, as the transfers are: the server and client were started for this pairing, and
  // a long-lived one has its connection path compiled by the JIT already. The first
  // COLD_CONNS of the warm-up are a figure of their own, what the first users of a just
  // started node or client see; the rest are untimed. Raw TCP has nothing just started.
  if (opts.warmConns > 0) {
    const cold = Math.min(opts.warmConns, COLD_CONNS);
    progress.line(`${tag}: ${opts.warmConns} warm-up connections (the first ${cold} timed)`);
    await attempt(ctx, `${tag} warm-up connections`, async () => {
      const first = await connectionRate(port, ctx.pattern, cold, opts.connConcurrency);
      if (server) record(result, 'connRateCold', first.perSecond);
      const rest = opts.warmConns > cold ? await connectionRate(port, ctx.pattern, opts.warmConns - cold, opts.connConcurrency) : undefined;
      const failed = first.failed + (rest?.failed ?? 0);
      if (failed > 0) ctx.problems.push(`${tag}: ${failed} of ${opts.warmConns} warm-up connections failed: ${[...first.errors, ...(rest?.errors ?? [])].slice(0, 5).join('; ')}`);
    });
  }
  progress.line(`${tag}: ${opts.conns} new connections, ${opts.connConcurrency} at a time`);
  await attempt(ctx, `${tag} connection rate`, async () => {
    const r = await connectionRate(port, ctx.pattern, opts.conns, opts.connConcurrency);
    record(result, 'connRate', r.perSecond);
    record(result, 'ttfbP50', r.p50);
    record(result, 'ttfbP99', r.p99);
    if (r.failed > 0) ctx.problems.push(`${tag}: ${r.failed} of ${opts.conns} connections failed: ${r.errors.join('; ')}`);
  });
  progress.line(`${tag}: ${opts.serial} new connections, one at a time`);
  await attempt(ctx, `${tag} serial latency`, async () => {
    const r = await serialLatency(port, ctx.pattern, opts.serial);
    record(result, 'ttfbSerial', r.p50);
    if (r.errors.length > 0) ctx.problems.push(`${tag}: serial connections failed: ${r.errors.join('; ')}`);
  });
  // An untimed transfer each way first: servers are restarted per pairing, and a long-lived
  // server has its data path compiled by the JIT long before anyone measures it.
  progress.line(`${tag}: warm-up transfers`);
  await attempt(ctx, `${tag} warm-up`, async () => {
    const warm = Math.min(opts.bytes, WARM_UP_BYTES);
    await throughput(port, ctx.pattern, warm, 'up');
    await throughput(port, ctx.pattern, warm, 'down');
  });
  for (const dir of ['up', 'down'] as const) {
    progress.line(`${tag}: ${dir === 'up' ? 'upload' : 'download'} ${mib} MiB`);
    await attempt(ctx, `${tag} ${dir === 'up' ? 'upload' : 'download'}`, async () => {
      const serverPids = cpu?.server() ?? [];
      const clientPids = cpu?.client() ?? [];
      const before = { server: cpuSeconds(serverPids), client: cpuSeconds(clientPids) };
      record(result, dir, await throughput(port, ctx.pattern, opts.bytes, dir));
      if (cpu) {
        const gb = opts.bytes / 1e9;
        record(result, dir === 'up' ? 'upCpuServer' : 'downCpuServer', (cpuSeconds(serverPids) - before.server) / gb);
        record(result, dir === 'up' ? 'upCpuClient' : 'downCpuClient', (cpuSeconds(clientPids) - before.client) / gb);
      }
    });
  }
}

async function pairingRound(ctx: Context, pairing: Pairing, result: PairingResult, round: number): Promise<void> {
  const { opts, progress } = ctx;
  const tag = `round ${round + 1}/${opts.rounds}`;
  if (!pairing.client || !pairing.server) {
    await tunnelFigures(ctx, pairing, result, tag, ctx.endpointPort);
    return;
  }
  const client = pairing.client;
  const server: ServerUnderTest = pairing.server === 'ferryd' ? ctx.ferryd : ctx.sshd;
  const where = `${tag} ${pairing.label}`;

  // A fresh server process, so the memory figures start from the same place every time.
  progress.line(`${where}: starting ${server.name} and the tunnel`);
  await server.restart();
  let tunnel: RunningTunnel | undefined;
  await attempt(ctx, `${where} tunnel`, async () => {
    tunnel = await startWorkingTunnel(client, server.port, ctx.creds, ctx.endpointPort, ctx.pattern);
  });
  if (tunnel) {
    try {
      const clientPid = tunnel.proc.pid;
      await tunnelFigures(ctx, pairing, result, tag, tunnel.port, server, { server: () => server.pids(), client: () => [clientPid] });
    } finally {
      await tunnel.proc.stop('SIGTERM', 5000);
    }
  }

  progress.line(`${where}: ${opts.starts} client starts`);
  const starts: number[] = [];
  for (let i = 0; i < opts.starts; i++) {
    await attempt(ctx, `${where} start ${i + 1}`, async () => {
      starts.push(await startupTime(client, server.port, ctx.creds, ctx.endpointPort, ctx.pattern));
    });
  }
  if (starts.length > 0) record(result, 'startup', median(starts));

  if (round < opts.clientRounds) {
    progress.line(`${where}: ${opts.clients} clients each holding -R 0`);
    await server.restart();
    await attempt(ctx, `${where} clients`, async () => {
      const c = await manyClients(client, server, ctx.creds, ctx.endpointPort, ctx.pattern, opts.clients, opts.startConcurrency);
      record(result, 'clientsUp', c.up);
      if (c.v6Only > 0) ctx.problems.push(`${where}: ${c.v6Only} of ${opts.clients} forwards answered on [::1] only: 127.0.0.1 at the port ${server.name} allocated was taken by another socket (a listener, or any loopback connection's local port), so it bound ::1 alone and said nothing`);
      result.requested.clientsUp = opts.clients;
      if (c.failed > 0) ctx.problems.push(`${where}: ${c.failed} of ${opts.clients} clients did not get a working forward: ${c.errors.join('; ')}`);
      if (c.up > 0) {
        record(result, 'clientsRss', (c.after.rssKiB - c.before.rssKiB) / c.up);
        record(result, 'clientsDirty', (c.after.privateKiB - c.before.privateKiB) / c.up);
        record(result, 'clientsTotalRss', c.after.rssKiB / 1024);
      }
    });
  }
}

/** Cipher, MAC and key exchange OpenSSH's client settles on with each server. */
async function probeAlgorithms(server: ServerUnderTest, creds: Credentials): Promise<Record<string, string>> {
  const proc = new Proc(`ssh -v ${server.name}`, SSH, [
    '-v', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes', '-i', creds.key, '-o', `CertificateFile=${creds.cert}`, '-p', String(server.port), '-N', `${creds.login}@127.0.0.1`,
  ]);
  try {
    await proc.waitFor(/Authenticated to|Permission denied/, 15_000);
  } catch {
    // report whatever was printed
  } finally {
    await proc.stop('SIGTERM', 2000);
  }
  const out = proc.output();
  const pick = (re: RegExp) => re.exec(out)?.[1] ?? '?';
  return {
    software: pick(/remote software version (\S+)/),
    kex: pick(/kex: algorithm: (\S+)/),
    hostKey: pick(/kex: host key algorithm: (\S+)/),
    cipherToServer: pick(/kex: client->server cipher: (\S+)/),
    cipherToClient: pick(/kex: server->client cipher: (\S+)/),
    mac: pick(/kex: server->client cipher: \S+ MAC: (\S+)/),
  };
}

const PROFILE_WHAT = {
  up: 'upload',
  down: 'download',
  conns: 'new connections',
} as const;

interface ProfileTarget {
  /** What runs under --cpu-prof. */
  name: 'ferryd' | 'ferry client';
  label: string;
  client: ClientKind;
  server: () => ServerUnderTest;
}

/**
 * Runs the throughput and connection-rate figures once more with one node process under
 * `node --cpu-prof`, keeping only the samples taken while the figure ran: ferryd served by
 * OpenSSH's client, and the ferry client talking to OpenSSH's sshd, so each is measured
 * against the C implementation on the other end.
 */
async function profile(ctx: Context, dir: string, target: ProfileTarget): Promise<ProfileSummary[]> {
  const out: ProfileSummary[] = [];
  const resultsDir = ctx.opts.out ?? path.join(REPO, 'bench', 'results');
  const slug = target.name === 'ferryd' ? 'ferryd' : 'ferry-client';
  for (const what of ['up', 'down', 'conns'] as const) {
    const profDir = path.join(dir, `prof-${slug}-${what}`);
    fs.mkdirSync(profDir, { recursive: true });
    ctx.progress.line(`profile: ${target.name} under --cpu-prof, ${target.label} ${PROFILE_WHAT[what]}`);
    const profiled = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
    if (target.name === 'ferryd') await ctx.ferryd.restart(profiled);
    else await target.server().restart();
    const server = target.server();
    let figure = '';
    const window = { fromUs: 0, toUs: 0 };
    const tunnel = await startWorkingTunnel(target.client, server.port, ctx.creds, ctx.endpointPort, ctx.pattern, target.name === 'ferry client' ? profiled : undefined);
    try {
      // Warm up as the figures do, so that the profile shows the steady state, not the JIT.
      if (what === 'conns') await connectionRate(tunnel.port, ctx.pattern, Math.min(200, ctx.opts.conns), ctx.opts.connConcurrency);
      else await throughput(tunnel.port, ctx.pattern, Math.min(ctx.opts.bytes, WARM_UP_BYTES), what);
      window.fromUs = Number(process.hrtime.bigint() / 1000n);
      if (what === 'conns') {
        const r = await connectionRate(tunnel.port, ctx.pattern, ctx.opts.conns, ctx.opts.connConcurrency);
        figure = `${ctx.opts.conns} connections, ${ctx.opts.connConcurrency} at a time: ${r.perSecond.toFixed(0)} conn/s under the profiler`;
      } else {
        const mbs = await throughput(tunnel.port, ctx.pattern, ctx.opts.bytes, what);
        figure = `${Math.round(ctx.opts.bytes / 1048576)} MiB: ${mbs.toFixed(1)} MB/s under the profiler`;
      }
      window.toUs = Number(process.hrtime.bigint() / 1000n);
    } finally {
      await tunnel.proc.stop('SIGTERM', 10_000);
      if (target.name === 'ferryd') await ctx.ferryd.stop();
    }
    const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      ctx.problems.push(`profile of ${target.name} (${what}): no .cpuprofile was written (did it exit cleanly on SIGTERM?)`);
      continue;
    }
    out.push(summarizeProfile(path.join(profDir, file), `${target.name} during ${target.label} ${PROFILE_WHAT[what]} (${figure})`, codeRoot(), window));
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.copyFileSync(path.join(profDir, file), path.join(resultsDir, `${slug}-${what}.cpuprofile`));
  }
  if (target.name === 'ferryd') await ctx.ferryd.start();
  return out;
}

/** The commit the build was made from, and what it had uncommitted (read-only git). */
function commit(): string {
  const head = spawnSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) return '?';
  const paths = ['src', 'bin', 'patches', 'package.json', 'package-lock.json'];
  const dirty = spawnSync('git', ['-C', REPO, 'status', '--porcelain', '--', ...paths], { encoding: 'utf8' });
  const changed = dirty.stdout.split('\n').map((l) => l.slice(3).trim()).filter(Boolean);
  return `${head.stdout.trim()}${changed.length > 0 ? ` plus uncommitted changes to ${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', ...' : ''}` : ''}`;
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  // ssh -V prints to stderr.
  const version = spawnSync(SSH, ['-V'], { encoding: 'utf8' });
  return {
    cpu: cpus[0]?.model ?? '?',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtEnd: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    kernel: os.release(),
    node: process.version,
    openssh: `${version.stderr}${version.stdout}`.trim() || '?',
  };
}

function ferrydLogExcerpt(ferryd: FerryNode): string[] {
  const lines = ferryd.output().split('\n').map((l) => l.trim()).filter((l) => l.startsWith('ferryd:') || /error|warn/i.test(l));
  const counts = new Map<string, number>();
  for (const l of lines) {
    const k = l.replace(/\d+(\.\d+){3}:\d+/g, 'ADDR').replace(/\b\d+\b/g, 'N');
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([l, n]) => `${n}× ${l}`);
}

function writeResults(ctx: Context, results: PairingResult[], meta: Record<string, unknown>, profiles: ProfileSummary[], ferrydLog: string[]): { md: string; table: string } {
  const dir = ctx.opts.out ?? path.join(REPO, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const ref = results.find((r) => r.id === REFERENCE);
  const json = {
    meta,
    reference: REFERENCE,
    figures: FIGURES,
    pairings: results.map((r) => ({
      id: r.id,
      label: r.label,
      skipped: r.skipped,
      figures: Object.fromEntries(FIGURES.flatMap((f) => {
        const s = summarize(r, f.id, ref);
        return s ? [[f.id, { ...s, unit: f.unit, requested: r.requested[f.id] }]] : [];
      })),
    })),
    failures: ctx.failures,
    problems: ctx.problems,
    profiles,
    ferrydLog,
  };
  fs.writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  const rows = tableRows(results);
  const m = meta as { commit: string; machine: Record<string, string | number>; options: Options; algorithms: Record<string, Record<string, string>>; startedAt: string; seconds: number };
  const md = [
    `# Ferry bench: ${m.startedAt}`,
    '',
    `Code: ${m.commit}. Machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, Linux ${m.machine.kernel}, Node ${m.machine.node}, ${m.machine.openssh}. Load average ${m.machine.loadAverageAtStart} at the start, ${m.machine.loadAverageAtEnd} at the end.`,
    `Options: ${m.options.quick ? '--quick, ' : ''}${m.options.rounds} rounds (clients figure in ${m.options.clientRounds}), ${Math.round(m.options.bytes / 1048576)} MiB per direction, ${m.options.conns} new connections (${m.options.connConcurrency} at a time, after ${m.options.warmConns} warm-up ones, the first ${Math.min(m.options.warmConns, COLD_CONNS)} of which are the "just started" figure) and ${m.options.serial} one at a time, ${m.options.concurrent} concurrent connections, ${m.options.clients} clients, ${m.options.starts} starts per round. Took ${Math.round(m.seconds)} s.`,
    '',
    'Medians over rounds (count rows: the minimum); in brackets the ratio to (d) ssh→sshd, the OpenSSH reference.',
    'Higher is better for MB/s and conn/s; lower is better for ms, KiB and MiB.',
    '',
    markdownTable(rows),
    '',
    ...results.filter((r) => r.skipped).map((r) => `- ${r.label}: skipped: ${r.skipped}`),
    '',
    'Algorithms OpenSSH\'s client negotiated:',
    '',
    ...Object.entries(m.algorithms).map(([server, a]) => `- ${server} (${a.software ?? '?'}): kex ${a.kex ?? '?'}, host key ${a.hostKey ?? '?'}, cipher ${a.cipherToServer ?? '?'} / ${a.cipherToClient ?? '?'}, MAC ${a.mac ?? '?'}`),
    '',
    `Memory: ferryd = ${ctx.ferryd.memoryNote}; sshd = ${ctx.sshd.memoryNote}. Per-connection and per-client figures are (after − before) / count, read from /proc.`,
    '',
    ctx.failures.length > 0 ? `## FAILURES (bytes received differ from bytes sent)\n\n${ctx.failures.map((f) => `- ${f}`).join('\n')}\n` : 'Correctness: every transfer\'s SHA-256 matched.\n',
    ctx.problems.length > 0 ? `## Problems\n\n${ctx.problems.map((f) => `- ${f.replace(/\n/g, ' ')}`).join('\n')}\n` : 'No connection failures or timeouts.\n',
    ...(profiles.length > 0 ? ['## CPU profiles', '', 'Top functions by self time while the figure ran (`--profile`); total % includes callees.', '', ...profiles.map(profileMarkdown)] : []),
    ...(ferrydLog.length > 0 ? ['## ferryd log lines (deduplicated)', '', '```', ...ferrydLog, '```', ''] : []),
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'latest.md'), md);
  return { md, table: textTable(rows) };
}

async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    const parsed = parseOptions(argv);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    opts = parsed;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  for (const bin of [SSH, SSHD]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: apt-get install openssh-client openssh-server`);
  }
  ensureLogin();
  const progress = new Progress();
  const startedAt = new Date().toISOString();
  const code = commit();
  const loadAtStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  if ((os.loadavg()[0] ?? 0) > 0.5) progress.note(`note: load average ${loadAtStart} before the bench started: something else is using the CPU, figures will be noisy`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
  tmpDirs.add(tmp);
  fs.chmodSync(tmp, 0o755);
  try {
    snapshotBuild(path.join(tmp, 'code'));
    progress.line('starting the target service, ferryd and sshd');
    const seed = crypto.randomBytes(16).toString('hex');
    const pattern = makePattern(seed);
    const endpoint = new Proc('endpoint', process.execPath, [path.join(__dirname, 'endpoint.js'), seed]);
    const endpointPort = Number((await endpoint.waitFor(/endpoint listening (\d+)/, 10_000))[1]);
    const ferryd = new FerryNode(path.join(tmp, 'ferry'));
    await ferryd.start();
    const creds = ferryd.provision(Math.max(1000, opts.concurrent));
    const sshd = new OpenSshd(path.join(tmp, 'sshd'), ferryd.userCA());
    await sshd.start();
    const ctx: Context = { opts, progress, pattern, endpointPort, creds, ferryd, sshd, failures: [], problems: [] };
    const algorithms = { ferryd: await probeAlgorithms(ferryd, creds), sshd: await probeAlgorithms(sshd, creds) };
    progress.line(`hashing the ${Math.round(opts.bytes / 1048576)} MiB pattern once`);
    expectedDigest(pattern, opts.bytes);

    const pairings = PAIRINGS.filter((p) => opts.only.includes(p.id));
    const results: PairingResult[] = pairings.map((p) => {
      const skipped = p.client?.unavailable();
      if (skipped) progress.note(`${p.label}: skipped: ${skipped}`);
      return { id: p.id, label: p.label, ...(skipped ? { skipped } : {}), samples: {}, requested: {} };
    });
    const active = pairings.filter((_, i) => !results[i]?.skipped);
    for (let round = 0; round < opts.rounds; round++) {
      // Alternate: each round starts one pairing further along, so none always goes first.
      for (let k = 0; k < active.length; k++) {
        const pairing = active[(round + k) % active.length];
        const result = results.find((r) => r.id === pairing?.id);
        if (pairing && result) await pairingRound(ctx, pairing, result, round);
      }
    }
    const profiles: ProfileSummary[] = [];
    if (opts.profile) {
      profiles.push(...await profile(ctx, tmp, { name: 'ferryd', label: 'ssh→ferryd', client: openssh, server: () => ferryd }));
      if (ferry.unavailable()) progress.note(`profile of the ferry client: skipped: ${ferry.unavailable() ?? ''}`);
      else profiles.push(...await profile(ctx, tmp, { name: 'ferry client', label: 'ferry→sshd', client: ferry, server: () => sshd }));
    }
    await ferryd.stop();
    await sshd.stop();
    progress.done();
    const meta = { startedAt, seconds: progress.elapsed(), machine: { ...machine(), loadAverageAtStart: loadAtStart }, commit: code, options: opts, algorithms, login: LOGIN };
    const { table } = writeResults(ctx, results, meta, profiles, ferrydLogExcerpt(ferryd));
    const out = [
      '',
      `Medians of ${opts.rounds} rounds; (x×) = ratio to (d) ssh→sshd, the OpenSSH reference.`,
      table,
      ...results.filter((r) => r.skipped).map((r) => `${r.label}: skipped: ${r.skipped}`),
      `ciphers: ferryd ${algorithms.ferryd.cipherToClient ?? '?'}, sshd ${algorithms.sshd.cipherToClient ?? '?'} (OpenSSH client's choice)`,
      ...profiles.map((p) => profileText(p)),
      ctx.problems.length > 0 ? `${ctx.problems.length} problem(s):\n${ctx.problems.map((p) => `  - ${p.split('\n')[0] ?? ''}`).join('\n')}` : 'no connection failures or timeouts',
      ctx.failures.length > 0 ? `CORRECTNESS FAILURES:\n${ctx.failures.map((f) => `  - ${f}`).join('\n')}` : 'correctness: every transfer\'s SHA-256 matched',
      `written: ${path.relative(process.cwd(), path.join(opts.out ?? path.join(REPO, 'bench', 'results'), 'latest.md'))} and latest.json (${Math.round(progress.elapsed())} s)`,
      '',
    ];
    process.stdout.write(out.join('\n'));
    return ctx.failures.length > 0 ? 1 : 0;
  } finally {
    progress.done();
    await stopAll();
    removeTmpDirs();
  }
}

const tmpDirs = new Set<string>();
function removeTmpDirs(): void {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
}

let interrupted = 0;
process.on('SIGINT', () => {
  interrupted += 1;
  if (interrupted > 1) {
    killAllNow();
    removeTmpDirs();
    process.exit(130);
  }
  process.stderr.write('\nbench: interrupted, stopping ferryd, sshd and clients (Ctrl-C again to kill)\n');
  void stopAll().finally(() => { removeTmpDirs(); process.exit(130); });
});
process.on('SIGTERM', () => { void stopAll().finally(() => { removeTmpDirs(); process.exit(143); }); });

main(process.argv.slice(2))
  .then((code) => { process.exitCode = code; })
  .catch(async (err: unknown) => {
    process.stderr.write(`\nbench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    await stopAll();
    process.exitCode = 1;
  });

