// `ferry ssh`: connect, verify the host, authenticate with the certificate, set up -R/-L/-D,
// run the command or shell, and on the way out cancel every forward and exit with ssh's
// codes (the remote status; 255 for connection and forwarding errors).

import { execFileSync } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { Client, type ServerHostKeyAlgorithm, type Channel, type ClientChannel } from 'ssh2';
import { describeError, OpenFailure } from '../errors';
import { forwardResolver } from '../lookup';
import { Scope } from '../scope';
import { ackAnsweredCloses, dropConnection, offerKeys, onRemoteDebug, rejectChannel, serverSoftware } from '../protocol/ssh2-ext';
import { modesFromStty } from '../protocol/ttymodes';
import { CertChecker, SshReader, fingerprintSha256, isCertificateKeyType, parseCertificate, parsePublicKeyBlob } from '../auth/sshcert';
import { LOOPBACK, WILDCARD, bindAll } from '../node/bind';
import { whenWritten } from '../streams';
import { COMMAND_HELP, EscapeReader, PromptLine, escapeHelp, escapeName, parseCommandLine } from './escapes';
import {
  formatAllocatedPort,
  formatForwardListener,
  formatForwardTarget,
  parseDynamicForward,
  parseLocalForward,
  parseRemoteForward,
  type DynamicForward,
  type Forward,
  type ForwardTarget,
  type LocalForward,
  type RemoteForward,
  type RemoteForwardTarget,
} from './forwardspec';
import { agentSocketPath, describeIdentity, keyKind, loadIdentities, NoPassphrase, type Identity } from './identity';
import { appendKnownHost, hostLookupName, loadKnownHosts, patternsMatch, verifyHostKey } from './knownhosts';
import { EXIT_FAILURE, expandHome, type SshInvocation } from './options';
import { passphraseAsker } from './passphrase';
import { serveSocks } from './socks';

export { EXIT_FAILURE };
const HOST_KEY_ALGORITHMS_WITH_CERTS = [
  'ssh-ed25519-cert-v01@openssh.com',
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
] as ServerHostKeyAlgorithm[];
const CANCEL_GRACE_MS = 1000;

export interface Terminal {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export class SshSession {
  readonly #inv: SshInvocation;
  readonly #term: Terminal;
  /** The local terminal is raw, output processing off, as ssh puts it for a session. */
  #rawTerminal = false;
  /** The ~C prompt's line is being typed (so a message starts on a line of its own). */
  #promptOpen = false;
  /** ~. was typed: forwards failing now are the connection going, not worth a warning. */
  #disconnecting = false;
  readonly #scope = new Scope();
  readonly #client = new Client();
  readonly #remoteTargets = new Map<string, RemoteForwardTarget>();
  readonly #remoteUnixTargets = new Map<string, RemoteForwardTarget>();
  readonly #granted: RemoteForward[] = [];
  readonly #grantedPorts = new Map<RemoteForward, number>();
  readonly #inFlight = new Set<net.Socket | Channel>();
  /** -L and -D listeners, each with what closes it (for ~C -KL and -KD). */
  readonly #listening = new Map<LocalForward | DynamicForward, () => void>();
  #lastRemoteDebug = '';

  constructor(inv: SshInvocation, term: Terminal) {
    this.#inv = inv;
    this.#term = term;
  }

  /** A line's end: a raw terminal (no output processing) needs the \r. */
  get #eol(): string {
    return this.#rawTerminal ? '\r\n' : '\n';
  }

  /** Prints a line of ferry's own, below the ~C prompt's line if one is open. */
  #say(line: string): void {
    const below = this.#promptOpen ? this.#eol : '';
    this.#promptOpen = false;
    this.#term.stderr.write(`${below}${line}${this.#eol}`);
  }

  #warn(line: string): void {
    if (!this.#inv.quiet) this.#say(line);
  }

  #debug(line: string): void {
    if (this.#inv.verbosity > 0) this.#say(`debug1: ${line}`);
  }

  /** Runs the whole session; resolves with the process exit code. */
  async run(): Promise<number> {
    for (const note of this.#inv.configNotes) this.#debug(note);
    for (const warning of this.#inv.warnings) this.#warn(warning);
    try {
      const identities = await this.#identities();
      if (identities.length === 0) throw new Error('no identity: pass -i KEYFILE (with KEYFILE-cert.pub beside it), or add the key to ssh-agent');
      await this.#connect(identities);
    } catch (err) {
      this.#say(describeError(err));
      return EXIT_FAILURE;
    }
    this.#scope.defer(() => { this.#client.end(); });
    this.#client.on('tcp connection', (details, accept, reject) => this.#onForwardedTcp(details, accept, reject));
    this.#client.on('unix connection', (details, accept, reject) => this.#onForwardedUnix(details, accept, reject));

    const closed = new Promise<void>((resolve) => this.#client.once('close', () => resolve()));
    const stop = new Promise<'signal'>((resolve) => {
      const onSignal = () => resolve('signal');
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      this.#scope.defer(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    });

    try {
      const forwardsOk = await this.#setUpForwards();
      if (!forwardsOk) return EXIT_FAILURE;
      let status: number;
      if (this.#inv.noCommand) {
        // Stopped by a signal or by the server, ssh -N exits 255 either way (and says so only
        // for the server).
        const why = await Promise.race([stop, closed.then(() => 'closed' as const)]);
        status = EXIT_FAILURE;
        if (why === 'closed') this.#say(`Connection to ${this.#inv.host} closed by remote host.`);
      } else {
        const outcome = await Promise.race([this.#runCommand(), stop, closed.then(() => 'closed' as const)]);
        status = typeof outcome === 'number' ? outcome : EXIT_FAILURE;
      }
      await this.#cancelForwards();
      return status;
    } finally {
      await this.#scope.close();
    }
  }

  #identities(): Promise<Identity[]> {
    const inv = this.#inv;
    const debug = (line: string) => this.#debug(line);
    const sources = {
      files: inv.identityFiles,
      certFiles: inv.certFiles,
      agentSocket: agentSocketPath(inv.identityAgent),
      identitiesOnly: inv.identitiesOnly,
      batchMode: inv.batchMode,
      passwordPrompts: inv.passwordPrompts,
    };
    return loadIdentities(sources, { ask: passphraseAsker(debug), warn: (line) => this.#warn(line), debug });
  }

  #connect(identities: Identity[]): Promise<void> {
    const inv = this.#inv;
    return new Promise((resolve, reject) => {
      let hostKeyError: string | undefined;
      let offered: Identity | undefined;
      // As ssh's ConnectTimeout: the connection and the key exchange, not the host key
      // question or the logging in (a passphrase may take a while to type).
      const deadline = setTimeout(() => {
        onError(Object.assign(new Error('timed out'), { level: 'client-timeout' }));
        dropConnection(this.#client);
      }, inv.connectTimeout > 0 ? inv.connectTimeout * 1000 : 30_000);
      const onError = (err: Error & { level?: string }) => {
        // A key not signed with (an agent that would not, a passphrase not given): ssh2 goes on to the next.
        if (err.level === 'agent') {
          if (err instanceof NoPassphrase) return this.#debug(err.message);
          const id = offered ? `${keyKind(offered.key.type)} "${offered.label}"${offered.fromAgent ? ' from agent' : ''}` : 'a key';
          return this.#warn(`sign_and_send_pubkey: signing failed for ${id}: ${err.message}`);
        }
        clearTimeout(deadline);
        if (hostKeyError) return reject(new Error(hostKeyError));
        if (err.level === 'client-authentication') return reject(new Error(`${inv.login}@${inv.host}: Permission denied (publickey).`));
        if (err.level === 'client-timeout') return reject(new Error(`ssh: connect to host ${inv.host} port ${inv.port}: Connection timed out`));
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ECONNREFUSED') return reject(new Error(`ssh: connect to host ${inv.host} port ${inv.port}: Connection refused`));
        if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return reject(new Error(`ssh: Could not resolve hostname ${inv.host}: Name or service not known`));
        reject(new Error(`ssh: connect to host ${inv.host} port ${inv.port}: ${err.message}`));
      };
      // A server that closes before we are in (LoginGraceTime passed while a passphrase or the
      // host key question waited): ssh says so and exits 255. ssh2 emits only 'close' then.
      const onClose = () => {
        clearTimeout(deadline);
        reject(new Error(hostKeyError ?? `Connection closed by ${inv.host} port ${inv.port}`));
      };
      this.#client.on('error', onError);
      this.#client.once('close', onClose);
      this.#client.once('ready', () => {
        this.#client.off('error', onError);
        this.#client.off('close', onClose);
        clearTimeout(deadline);
        // Forwarded connections share this socket; see the node's connection.ts on Nagle.
        this.#client.setNoDelay(true);
        // OpenSSH's sshd leaves Nagle on without a tty: when it answers our CHANNEL_CLOSE with
        // its own and the ACK for that waits on our delayed-ACK timer, sshd holds its next
        // packet (the next forwarded connection) for 40 ms. 5-10 % of the bench's connections
        // through sshd stalled so; ssh stalls 1-2 % there, by timing alone.
        ackAnsweredCloses(this.#client, sendsWithNagle(serverSoftware(this.#client)));
        this.#client.on('error', (err) => this.#debug(`connection error: ${err.message}`));
        this.#debug(`Authenticated to ${inv.host} ([${inv.host}]:${inv.port}) using "publickey".`);
        resolve();
      });
      onRemoteDebug(this.#client, (message) => {
        this.#lastRemoteDebug = message;
        this.#debug(`Remote: ${message}`);
      });
      this.#debug(`Connecting to ${inv.host} port ${inv.port}.`);
      this.#client.connect({
        host: inv.host,
        port: inv.port,
        username: inv.login,
        authHandler: offerKeys(inv.login, identities, (offer) => {
          offered = offer as Identity;
          this.#debug(`Offering public key: ${describeIdentity(offered)}`);
        }),
        // ssh2 sends OpenSSH extensions (streamlocal) only to servers named OpenSSH unless told.
        strictVendor: false,
        // Ask for the host certificate only when a CA for this host is known, as OpenSSH does.
        ...(this.#hostCAKnown() ? { algorithms: { serverHostKey: HOST_KEY_ALGORITHMS_WITH_CERTS } } : {}),
        readyTimeout: 0, // the deadline above instead

        keepaliveInterval: inv.serverAliveInterval * 1000,
        hostVerifier: (hostKey: Buffer, verify: (ok: boolean) => void) => {
          clearTimeout(deadline);
          this.#verifyHostKey(hostKey).then(
            () => verify(true),
            (err: unknown) => {
              hostKeyError = describeError(err);
              verify(false);
            },
          );
        },
      });
    });
  }

  /** A host certificate is trusted through an @cert-authority line for this host, as in OpenSSH. */
  #verifyHostCertificate(blob: Buffer): void {
    const inv = this.#inv;
    const name = hostLookupName(inv.host, inv.port);
    const cert = parseCertificate(blob);
    const lines = loadKnownHosts(this.#knownHostsFiles());
    const authorities = lines.filter((l) => l.marker === '@cert-authority' && patternsMatch(l.patterns, name));
    if (lines.some((l) => l.marker === '@revoked' && (l.keyBlob.equals(cert.signatureKey.blob) || l.keyBlob.equals(cert.key.blob)))) {
      throw new Error(`The host certificate for ${name} or its CA is marked as revoked.\nHost key verification failed.`);
    }
    try {
      new CertChecker({ now: () => new Date(), isTrustedAuthority: (ca) => authorities.some((l) => l.keyBlob.equals(ca)) })
        .check(cert, { principal: inv.host, certType: 'host' });
    } catch (err) {
      throw new Error(`Host certificate for ${name} not accepted: ${describeError(err)}\nHost key verification failed.`);
    }
    this.#debug(`Host '${name}' presented a certificate (key id "${cert.keyId}") signed by a trusted CA.`);
  }

  async #verifyHostKey(blob: Buffer): Promise<void> {
    const inv = this.#inv;
    const type = new SshReader(blob).readText('host key type');
    if (isCertificateKeyType(type)) return this.#verifyHostCertificate(blob);
    const key = parsePublicKeyBlob(blob);
    const name = hostLookupName(inv.host, inv.port);
    const fingerprint = fingerprintSha256(blob);
    const verdict = verifyHostKey(loadKnownHosts(this.#knownHostsFiles()), name, key.type, blob);
    switch (verdict.kind) {
      case 'match':
        this.#debug(`Host '${name}' is known and matches the ${key.type} host key (${verdict.line.file}:${verdict.line.line}).`);
        return;
      case 'revoked':
        throw new Error(`@@@ WARNING: REVOKED HOST KEY DETECTED! @@@\nThe ${key.type} host key for ${name} (${fingerprint}) is marked as revoked in ${verdict.line.file}:${verdict.line.line}.\nHost key verification failed.`);
      case 'changed': {
        const where = verdict.lines.map((l) => `${l.file}:${l.line}`).join(', ');
        throw new Error(
          `@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n` +
            `@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n` +
            `@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n` +
            `IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n` +
            `The ${key.type} key sent by ${name} is ${fingerprint}.\n` +
            `Offending key in ${where}\nHost key verification failed.`,
        );
      }
      case 'unknown': {
        const file = inv.userKnownHostsFiles.map(expandHome)[0];
        // As ssh: with no file of the user's to record it in (UserKnownHostsFile none), no new key is taken.
        if (file === undefined) throw new Error(`No ${key.type} host key is known for ${name}, and UserKnownHostsFile is none: none can be added.\nHost key verification failed.`);
        const mode = inv.strictHostKeyChecking;
        if (mode === 'yes') throw new Error(`No ${key.type} host key is known for ${name} and you have requested strict checking.\nHost key verification failed.`);
        if (mode === 'ask') {
          if (inv.batchMode) throw new Error(`No ${key.type} host key is known for ${name} and BatchMode is on: there is no asking.\nHost key verification failed.`);
          if (!this.#term.stdin.isTTY) throw new Error(`The authenticity of host '${name}' can't be established (${key.type} key ${fingerprint}), and there is no terminal to ask.\nHost key verification failed.`);
          const ok = await this.#ask(`The authenticity of host '${name}' can't be established.\n${key.type} key fingerprint is ${fingerprint}.\nAre you sure you want to continue connecting (yes/no)? `);
          if (!ok) throw new Error('Host key verification failed.');
        }
        if (file !== '/dev/null') {
          try {
            appendKnownHost(file, name, key.type, blob, inv.hashKnownHosts);
            this.#warn(`Warning: Permanently added '${name}' (${key.type}) to the list of known hosts.`);
          } catch (err) {
            this.#debug(`could not add the host key to ${file}: ${describeError(err)}`);
          }
        }
      }
    }
  }

  /** The user's known_hosts files, then the system's (read only), as ssh reads them. */
  #knownHostsFiles(): string[] {
    return [...this.#inv.userKnownHostsFiles, ...this.#inv.globalKnownHostsFiles].map(expandHome);
  }

  #hostCAKnown(): boolean {
    const name = hostLookupName(this.#inv.host, this.#inv.port);
    return loadKnownHosts(this.#knownHostsFiles()).some((l) => l.marker === '@cert-authority' && patternsMatch(l.patterns, name));
  }

  #ask(question: string): Promise<boolean> {
    const rl = readline.createInterface({ input: this.#term.stdin, output: this.#term.stderr });
    return new Promise((resolve) => rl.question(question, (answer) => { rl.close(); resolve(answer.trim().toLowerCase() === 'yes'); }));
  }

  // Remote forwards ------------------------------------------------------------

  async #setUpForwards(): Promise<boolean> {
    for (const fwd of this.#inv.remote) {
      const ok = await this.#requestRemote(fwd);
      if (!ok && this.#inv.exitOnForwardFailure) return false;
    }
    for (const fwd of [...this.#inv.local, ...this.#inv.dynamic]) {
      const ok = await this.#listenLocal(fwd);
      if (!ok && this.#inv.exitOnForwardFailure) return false;
    }
    return true;
  }

  /** `fatal`: failing ends the session (ExitOnForwardFailure at start-up), so it is an error. */
  #requestRemote(fwd: RemoteForward, fatal = this.#inv.exitOnForwardFailure): Promise<boolean> {
    return new Promise((resolve) => {
      this.#lastRemoteDebug = '';
      const fail = (what: string) => {
        const reason = this.#lastRemoteDebug ? `: ${this.#lastRemoteDebug}` : '';
        const line = `${fatal ? 'Error' : 'Warning'}: remote port forwarding failed for ${what}${reason}`;
        if (fatal) this.#say(line);
        else if (!this.#disconnecting) this.#warn(line);
        resolve(false);
      };
      if (fwd.kind === 'remote-unix') {
        this.#client.openssh_forwardInStreamLocal(fwd.socketPath, (err) => {
          if (err) return fail(`listen path ${fwd.socketPath}`);
          this.#remoteUnixTargets.set(fwd.socketPath, fwd.target);
          this.#granted.push(fwd);
          this.#debug(`remote forward success for: listen ${fwd.socketPath}, connect ${formatForwardTarget(fwd.target)}`);
          resolve(true);
        });
        return;
      }
      this.#client.forwardIn(fwd.bindAddress, fwd.port, (err, realPort) => {
        if (err) return fail(`listen port ${fwd.port}`);
        const bound = fwd.port === 0 ? realPort : fwd.port;
        this.#remoteTargets.set(`${fwd.bindAddress}\u0000${bound}`, fwd.target);
        this.#granted.push(fwd);
        this.#grantedPorts.set(fwd, bound);
        if (fwd.port === 0) this.#warn(formatAllocatedPort(bound, fwd.target));
        this.#debug(`remote forward success for: listen ${fwd.bindAddress}:${bound}, connect ${formatForwardTarget(fwd.target)}`);
        resolve(true);
      });
    });
  }

  #onForwardedTcp(
    details: { destIP: string; destPort: number; srcIP: string; srcPort: number },
    accept: () => Channel,
    reject: () => void,
  ): void {
    const target = this.#remoteTargets.get(`${details.destIP}\u0000${details.destPort}`);
    if (!target) return rejectChannel(reject, OpenFailure.ADMINISTRATIVELY_PROHIBITED, 'no such forward');
    this.#deliver(target, accept, reject);
  }

  #onForwardedUnix(details: { socketPath: string }, accept: () => Channel, reject: () => void): void {
    const target = this.#remoteUnixTargets.get(details.socketPath);
    if (!target) return rejectChannel(reject, OpenFailure.ADMINISTRATIVELY_PROHIBITED, 'no such forward');
    this.#deliver(target, accept, reject);
  }

  /** Dials the local target first; only a connection that succeeded gets its channel accepted. */
  #deliver(target: RemoteForwardTarget, accept: () => Channel, reject: () => void): void {
    if (target.kind === 'socks') {
      const channel = accept();
      this.#track(channel);
      void serveSocks(channel, (host, port) => dial({ kind: 'tcp', host, port }), { onError: (err) => this.#warn(`socks: ${err.message}`) });
      return;
    }
    dial(target).then(
      (socket) => {
        const channel = accept();
        this.#track(socket);
        pipeBoth(socket, channel);
      },
      (err: unknown) => {
        const text = describeError(err);
        this.#warn(`connect_to ${formatForwardTarget(target)}: failed: ${text}`);
        rejectChannel(reject, OpenFailure.CONNECT_FAILED, text);
      },
    );
  }

  #track(stream: net.Socket | Channel): void {
    this.#inFlight.add(stream);
    stream.once('close', () => this.#inFlight.delete(stream));
  }

  /** Cancels every granted remote forward, then gives in-flight connections a moment to finish. */
  async #cancelForwards(): Promise<void> {
    const cancels = this.#granted.map(
      (fwd) =>
        new Promise<void>((resolve) => {
          const done = () => resolve();
          try {
            if (fwd.kind === 'remote-unix') this.#client.openssh_unforwardInStreamLocal(fwd.socketPath, done);
            else this.#client.unforwardIn(fwd.bindAddress, this.#grantedPorts.get(fwd) ?? fwd.port, done);
          } catch {
            done(); // the connection is already gone
          }
        }),
    );
    const deadline = new Promise<void>((r) => setTimeout(r, CANCEL_GRACE_MS).unref());
    await Promise.race([Promise.all(cancels), deadline]);
    const drained = new Promise<void>((resolve) => {
      const check = () => (this.#inFlight.size === 0 ? resolve() : setTimeout(check, 20).unref());
      check();
    });
    await Promise.race([drained, new Promise<void>((r) => setTimeout(r, CANCEL_GRACE_MS).unref())]);
  }

  // Local and dynamic forwards ---------------------------------------------------

  async #listenLocal(fwd: LocalForward | DynamicForward, fatal = this.#inv.exitOnForwardFailure): Promise<boolean> {
    const onSocket = (socket: net.Socket) => (fwd.kind === 'local-tcp' || fwd.kind === 'local-unix' ? this.#openLocal(socket, fwd.target) : this.#serveDynamic(socket));
    try {
      let servers: net.Server[];
      if (fwd.kind === 'local-unix' || fwd.kind === 'dynamic-unix') {
        // As the TCP listeners (bindAll): half-open, and nothing read before the channel opens.
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onSocket);
        await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(fwd.socketPath, () => resolve()); });
        servers = [server];
      } else {
        const hosts = fwd.listen.kind === 'loopback' ? LOOPBACK : fwd.listen.kind === 'all-interfaces' ? WILDCARD : [fwd.listen.address];
        servers = (await bindAll({ hosts, firstOnly: fwd.listen.kind === 'all-interfaces' }, fwd.port, onSocket)).servers;
      }
      const close = () => { for (const server of servers) server.close(); };
      const unregister = this.#scope.defer(close);
      this.#listening.set(fwd, () => {
        unregister();
        close();
      });
      return true;
    } catch (err) {
      this.#say(`${fatal ? 'Error' : 'Warning'}: could not set up local forwarding for ${fwd.spec}: ${describeError(err)}`);
      return false;
    }
  }

  #openLocal(socket: net.Socket, target: ForwardTarget): void {
    this.#track(socket);
    if (socket.remoteAddress) socket.setNoDelay(true);
    const onChannel = (err: Error | undefined, channel: ClientChannel) => {
      if (err) {
        this.#warn(`channel: open failed: ${formatForwardTarget(target)}: ${err.message}`);
        socket.destroy();
        return;
      }
      pipeBoth(socket, channel);
    };
    if (target.kind === 'unix') this.#client.openssh_forwardOutStreamLocal(target.path, onChannel);
    else this.#client.forwardOut(socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, target.host, target.port, onChannel);
  }

  #serveDynamic(socket: net.Socket): void {
    this.#track(socket);
    socket.on('error', () => {});
    void serveSocks(
      socket,
      (host, port) =>
        new Promise((resolve, reject) => {
          this.#client.forwardOut(socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, host, port, (err, channel) => (err ? reject(err) : resolve(channel)));
        }),
      { onError: (err) => this.#warn(`socks: ${err.message}`) },
    );
    socket.resume();
  }

  // The command or shell ---------------------------------------------------------------

  #runCommand(): Promise<number> {
    const inv = this.#inv;
    const command = inv.command.join(' ');
    const wantPty = inv.pty === 'force' || (inv.pty === 'yes' && Boolean(this.#term.stdin.isTTY)) || (inv.pty === 'auto' && command === '' && Boolean(this.#term.stdin.isTTY));
    if (inv.pty === 'yes' && !wantPty) this.#warn('Pseudo-terminal will not be allocated because stdin is not a terminal.');
    // The terminal's modes go with the request, read before it turns raw, as ssh sends them.
    const modes = wantPty && this.#term.stdin.isTTY ? terminalModes(this.#term.stdin) : undefined;
    const ptyOpts = { term: process.env.TERM ?? 'xterm', cols: this.#term.stdout.columns || 80, rows: this.#term.stdout.rows || 24, ...(modes && { modes }) };
    return new Promise((resolve) => {
      const onStream = (err: Error | undefined, stream: ClientChannel) => {
        if (err) {
          this.#say(`ferry: ${err.message}`);
          return resolve(EXIT_FAILURE);
        }
        const stdin = this.#term.stdin;
        if (wantPty && stdin.isTTY) {
          this.#enterRawMode();
          this.#scope.defer(() => this.#leaveRawMode());
          const onResize = () => stream.setWindow(this.#term.stdout.rows || 24, this.#term.stdout.columns || 80, 0, 0);
          process.stdout.on('resize', onResize);
          this.#scope.defer(() => { process.stdout.off('resize', onResize); });
        }
        const escapeChar = wantPty ? this.#inv.escapeChar : null;
        if (escapeChar !== null) this.#typeInto(stream, new EscapeReader(escapeChar));
        else {
          stdin.pipe(stream);
          this.#scope.defer(() => { stdin.unpipe(stream); stdin.pause(); });
        }
        stream.pipe(this.#term.stdout, { end: false });
        stream.stderr.pipe(this.#term.stderr, { end: false });
        let code: number | undefined;
        stream.on('exit', (exitCode: number | null, signal?: string) => {
          code = signal ? EXIT_FAILURE : (exitCode ?? EXIT_FAILURE);
        });
        stream.once('close', () => {
          // ssh's last word on a terminal session (LogLevel INFO, so not with -q).
          if (wantPty) this.#warn(`Connection to ${this.#inv.host} closed.`);
          resolve(code ?? EXIT_FAILURE);
        });
      };
      if (command === '') this.#client.shell(wantPty ? ptyOpts : false, onStream);
      else this.#client.exec(command, wantPty ? { pty: ptyOpts } : {}, onStream);
    });
  }

  // The terminal, as ssh handles it -----------------------------------------------

  /**
   * Node's raw mode and the rest of ssh's: Node keeps output processing on (the remote's \r\n
   * became \r\r\n) and input mapping (a local inlcr changed typed bytes). A stty without
   * -iuclc (BSD's) refuses the lot, so -opost alone is tried next.
   */
  #enterRawMode(): void {
    const stdin = this.#term.stdin;
    stdin.setRawMode(true);
    const full = ['-opost', 'ignpar', '-inlcr', '-igncr', '-iuclc', '-ixany', '-ixoff', '-echoe', '-echok', '-echonl'];
    this.#rawTerminal = (stty(stdin, full) ?? stty(stdin, ['-opost'])) !== undefined;
  }

  /** Back to the terminal as it was (Node saved it on the way into raw mode). */
  #leaveRawMode(): void {
    this.#term.stdin.setRawMode(false);
    this.#rawTerminal = false;
  }

  /**
   * Passes what the user types to the session, acting on escapes (~. ~C ~# ~? ~~) on the way.
   * The ~C prompt reads its line from the same raw input, so the session's input never ends.
   */
  #typeInto(stream: ClientChannel, escapes: EscapeReader): void {
    const stdin = this.#term.stdin;
    let prompt: PromptLine | undefined;
    const stop = () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    };
    const typed = async (chunk: Buffer) => {
      let input = chunk;
      while (input.length > 0) {
        if (prompt) {
          const r = prompt.feed(input);
          this.#term.stderr.write(r.echo.replace(/\r\n$/, this.#eol));
          input = r.rest;
          if (r.line !== undefined) {
            prompt = undefined;
            this.#promptOpen = false;
            // Handled while the session goes on, as ssh does: a forward's answer comes later.
            if (r.line !== null) void this.#commandLine(r.line);
          }
          continue;
        }
        const { send, action, rest } = escapes.read(input);
        if (send.length > 0 && !stream.write(send)) await new Promise((resolve) => stream.once('drain', resolve));
        input = rest;
        if (action === 'command' && !this.#inv.escapeCommandline) this.#say(`${this.#eol}commandline disabled`);
        else if (action === 'command') {
          this.#term.stderr.write(`${this.#eol}ssh> `);
          prompt = new PromptLine();
          this.#promptOpen = true;
        } else if (action === 'disconnect') {
          // At once, as ssh: a hung connection would never answer a polite close.
          this.#say(`${escapeName(escapes.char)}.`);
          stop();
          this.#disconnecting = true;
          dropConnection(this.#client);
          return;
        } else if (action) this.#escape(action, escapes.char);
      }
    };
    const onData = (chunk: Buffer) => {
      stdin.pause();
      typed(chunk).then(
        () => { if (!this.#scope.closed && stdin.listeners('data').includes(onData)) stdin.resume(); },
        (err: unknown) => this.#debug(`input: ${describeError(err)}`),
      );
    };
    const onEnd = () => { stream.end(); };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume(); // paused by the host key question, if there was one
    this.#scope.defer(stop);
  }

  #escape(action: 'help' | 'list', char: number): void {
    const e = escapeName(char);
    if (action === 'help') {
      this.#say(`${e}?`);
      for (const line of escapeHelp(char)) this.#say(line);
    } else {
      this.#say(`${e}#`);
      for (const line of this.#forwardList()) this.#say(line);
    }
  }

  /** One ~C command; what goes wrong is said, never thrown (the connection may be going). */
  async #commandLine(line: string): Promise<void> {
    const cmd = parseCommandLine(line);
    try {
      switch (cmd.kind) {
        case 'none':
          return;
        case 'help':
          for (const text of COMMAND_HELP) this.#say(text);
          return;
        case 'invalid':
          this.#warn('Invalid command.');
          return;
        case 'forward': {
          let fwd: Forward;
          try {
            fwd = cmd.type === 'R' ? parseRemoteForward(cmd.spec) : cmd.type === 'L' ? parseLocalForward(cmd.spec) : parseDynamicForward(cmd.spec);
          } catch (err) {
            this.#warn(`Bad forwarding specification: ${describeError(err)}`);
            return;
          }
          // As ssh: a remote forward is reported as asked for (its answer comes later), a local
          // one once it listens. Failing here never ends the session, whatever ExitOnForwardFailure.
          if (fwd.kind === 'remote-tcp' || fwd.kind === 'remote-unix') {
            this.#warn('Forwarding port.');
            await this.#requestRemote(fwd, false);
          } else if (await this.#listenLocal(fwd, false)) this.#warn('Forwarding port.');
          return;
        }
        case 'cancel':
          this.#warn((await this.#cancelForward(cmd.type, cmd.spec)) ? 'Canceled forwarding.' : 'Unknown port forwarding.');
      }
    } catch (err) {
      if (!this.#disconnecting) this.#warn(`Port forwarding failed: ${describeError(err)}`);
    }
  }

  /** Where a granted forward listens, with the port the server gave a -R 0. */
  #listener(fwd: Forward): string {
    if (fwd.kind !== 'remote-tcp') return formatForwardListener(fwd);
    return formatForwardListener({ ...fwd, port: this.#grantedPorts.get(fwd) ?? fwd.port });
  }

  /**
   * The forward ~C -KR, -KL or -KD names: a listener as ~# shows it (`*:8080`, a socket path),
   * or a port alone for the one on localhost, the default, as ssh reads `-KR 8080`.
   */
  #named<F extends Forward>(forwards: Iterable<F>, spec: string): F | undefined {
    const listener = /^\d+$/.test(spec) ? `localhost:${spec}` : spec;
    return [...forwards].find((fwd) => this.#listener(fwd) === listener);
  }

  async #cancelForward(type: 'R' | 'L' | 'D', spec: string): Promise<boolean> {
    if (type === 'R') {
      const fwd = this.#named(this.#granted, spec);
      if (!fwd) return false;
      const ok = await new Promise<boolean>((resolve) => {
        if (fwd.kind === 'remote-unix') this.#client.openssh_unforwardInStreamLocal(fwd.socketPath, (err) => resolve(!err));
        else this.#client.unforwardIn(fwd.bindAddress, this.#grantedPorts.get(fwd) ?? fwd.port, (err) => resolve(!err));
      });
      const at = this.#granted.indexOf(fwd);
      if (ok && at >= 0) {
        this.#granted.splice(at, 1);
        if (fwd.kind === 'remote-unix') this.#remoteUnixTargets.delete(fwd.socketPath);
        else this.#remoteTargets.delete(`${fwd.bindAddress}\u0000${this.#grantedPorts.get(fwd) ?? fwd.port}`);
        this.#grantedPorts.delete(fwd);
      }
      return ok;
    }
    const kinds = type === 'L' ? ['local-tcp', 'local-unix'] : ['dynamic-tcp', 'dynamic-unix'];
    const fwd = this.#named([...this.#listening.keys()].filter((f) => kinds.includes(f.kind)), spec);
    if (!fwd) return false;
    this.#listening.get(fwd)?.();
    this.#listening.delete(fwd);
    return true;
  }

  /** ~#: the forwards of this session and how many connections they carry now. */
  #forwardList(): string[] {
    const lines = ['The following forwards are open:'];
    for (const fwd of this.#granted) lines.push(`  -R ${this.#listener(fwd)} -> ${formatForwardTarget(fwd.target)}`);
    for (const fwd of this.#listening.keys()) {
      lines.push(fwd.kind === 'local-tcp' || fwd.kind === 'local-unix' ? `  -L ${this.#listener(fwd)} -> ${formatForwardTarget(fwd.target)}` : `  -D ${this.#listener(fwd)} (SOCKS)`);
    }
    if (lines.length === 1) lines.push('  (none)');
    lines.push(`Forwarded connections open: ${this.#inFlight.size}`);
    return lines;
  }
}

/** Runs stty on the terminal `stdin` is (Node has no termios of its own); undefined if it fails. */
function stty(stdin: NodeJS.ReadStream, args: string[]): string | undefined {
  try {
    return execFileSync('stty', args, { stdio: [stdin, 'pipe', 'ignore'], encoding: 'utf8', timeout: 2000 });
  } catch {
    return undefined;
  }
}

/** The modes of the terminal on `stdin`, as ssh reads them with tcgetattr; none if stty fails. */
function terminalModes(stdin: NodeJS.ReadStream): Record<string, number> | undefined {
  const shown = stty(stdin, ['-a']);
  return shown === undefined ? undefined : modesFromStty(shown);
}

/** Whether a server with this software version sends without TCP_NODELAY on a connection without a tty. */
export function sendsWithNagle(software: string | undefined): boolean {
  return /^OpenSSH_/.test(software ?? '');
}

function dial(target: ForwardTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // Half-open like ssh: the target's EOF becomes the channel's EOF, and the channel is closed
    // only once the server's EOF has come back too. Closing first left the server's CLOSE as the
    // last packet, unacknowledged for a delayed ACK's 40 ms, and sshd (no TCP_NODELAY without
    // a tty) held the next forwarded connection's CHANNEL_OPEN behind it.
    const socket = target.kind === 'unix'
      ? net.connect({ path: target.path, allowHalfOpen: true })
      : forwardResolver.connect(target.host, target.port, { allowHalfOpen: true });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      if (target.kind === 'tcp') socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function pipeBoth(socket: net.Socket, channel: Channel): void {
  socket.on('error', () => channel.destroy());
  channel.on('error', () => socket.destroy());
  channel.once('close', () => { if (!socket.writableEnded) socket.end(); });
  // Closed cleanly, the socket may leave data in the channel waiting for the server's window.
  socket.once('close', (hadError) => {
    if (hadError) channel.destroy();
    else whenWritten(channel, () => channel.destroy());
  });
  socket.pipe(channel);
  channel.pipe(socket);
}
