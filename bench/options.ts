// Command-line options of `npm run bench -- [options]`.

import { parseArgs } from 'node:util';
import type { PairingId } from './report';

export interface Options {
  quick: boolean;
  rounds: number;
  /** Rounds that include the many-clients figure (it is the slowest). */
  clientRounds: number;
  bytes: number;
  conns: number;
  /** Untimed connections through a freshly started tunnel before the connection figures. */
  warmConns: number;
  connConcurrency: number;
  /** New connections made one at a time, for latency without queueing. */
  serial: number;
  concurrent: number;
  openConcurrency: number;
  clients: number;
  startConcurrency: number;
  starts: number;
  only: PairingId[];
  profile: boolean;
  out: string | undefined;
}

export const USAGE = `usage: npm run bench -- [options]

  --quick               a first look in under two minutes: 3 rounds, 64 MiB transfers,
                        200 connections, 20 clients
  --rounds N            rounds, pairings alternating within each (default 5; quick 3)
  --client-rounds N     rounds that also run the many-clients figure (default 3; quick 1)
  --mib N               bytes per transfer direction, in MiB (default 1024; quick 64)
  --conns N             new connections for the rate/latency figure (default 2000; quick 200)
  --warm-conns N        connections before it, to reach the JIT's steady state, as the
                        transfers have a warm-up; the first 1000 are timed as "just
                        started" (default 5000; quick 500; 0 for none)
  --serial N            new connections made one at a time (default 100; quick 30)
  --concurrent N        connections held open at once on one tunnel (default 1000; quick 200)
  --clients N           SSH clients each holding a -R 0 forward (default 200; quick 20)
  --starts N            client starts timed per round (default 10; quick 5)
  --only LIST           pairings to run, e.g. b,d,raw (default a,b,c,d,raw)
  --profile             also profile ferryd (node --cpu-prof) during the throughput figure
  --out DIR             where latest.json and latest.md go (default bench/results)
  -h, --help            this text
`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`--${name}: "${text}" is not a positive whole number`);
  return Number(text);
}

function wholeNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new Error(`--${name}: "${text}" is not a whole number`);
  return Number(text);
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      'client-rounds': { type: 'string' },
      mib: { type: 'string' },
      conns: { type: 'string' },
      'warm-conns': { type: 'string' },
      serial: { type: 'string' },
      concurrent: { type: 'string' },
      clients: { type: 'string' },
      starts: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const only = (values.only ?? 'a,b,c,d,raw').split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of only) {
    if (!['a', 'b', 'c', 'd', 'raw'].includes(id)) throw new Error(`--only: unknown pairing "${id}" (a, b, c, d or raw)`);
  }
  const rounds = positive('rounds', values.rounds, quick ? 3 : 5);
  return {
    quick,
    rounds,
    clientRounds: Math.min(rounds, positive('client-rounds', values['client-rounds'], quick ? 1 : 3)),
    bytes: positive('mib', values.mib, quick ? 64 : 1024) * 1024 * 1024,
    conns: positive('conns', values.conns, quick ? 200 : 2000),
    warmConns: wholeNumber('warm-conns', values['warm-conns'], quick ? 500 : 5000),
    connConcurrency: 16,
    serial: positive('serial', values.serial, quick ? 30 : 100),
    concurrent: positive('concurrent', values.concurrent, quick ? 200 : 1000),
    openConcurrency: 64,
    clients: positive('clients', values.clients, quick ? 20 : 200),
    startConcurrency: 8,
    starts: positive('starts', values.starts, quick ? 5 : 10),
    only: only as PairingId[],
    profile: values.profile ?? false,
    out: values.out,
  };
}
