// ferryd's YAML configuration, shaped like teleport.yaml:
//
//   version: v1
//   ferry:
//     data_dir: ./data          # SQLite database, CA keys, host key
//     node_name: web-1          # defaults to the host name
//   auth_service:
//     enabled: true
//     listen_addr: 127.0.0.1:3025
//     cluster_name: ferry
//   ssh_service:
//     enabled: true
//     listen_addr: 127.0.0.1:3022

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from '../errors';
import { compileSchema, parseYaml, validate } from './schema';

export interface HostPort {
  host: string;
  port: number;
}

export interface FerryConfig {
  dataDir: string;
  nodeName: string;
  auth: { enabled: boolean; listen: HostPort; clusterName: string };
  ssh: { enabled: boolean; listen: HostPort };
}

interface ConfigDocument {
  version?: 'v1';
  ferry?: { data_dir?: string; node_name?: string };
  auth_service?: { enabled?: boolean; listen_addr?: string; cluster_name?: string };
  ssh_service?: { enabled?: boolean; listen_addr?: string };
}

const LISTEN_ADDR = {
  type: 'string',
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$',
  description: 'must be HOST:PORT, e.g. 127.0.0.1:3022 or [::]:3022',
};

const check = compileSchema<ConfigDocument>({
  type: 'object',
  additionalProperties: false,
  properties: {
    version: { enum: ['v1'] },
    ferry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        data_dir: { type: 'string', minLength: 1 },
        node_name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'must be letters, digits, ".", "_" or "-"' },
      },
    },
    auth_service: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        listen_addr: LISTEN_ADDR,
        cluster_name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'must be letters, digits, ".", "_" or "-"' },
      },
    },
    ssh_service: {
      type: 'object',
      additionalProperties: false,
      properties: { enabled: { type: 'boolean' }, listen_addr: LISTEN_ADDR },
    },
  },
});

export const DEFAULT_AUTH_ADDR = '127.0.0.1:3025';
export const DEFAULT_SSH_ADDR = '127.0.0.1:3022';

export function parseHostPort(text: string, field: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ValidationError(`${field}: "${text}" must be HOST:PORT with a port up to 65535`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Builds the config from YAML text; overrides (from flags) win over the file. */
export function parseConfig(text: string, source: string, overrides: { dataDir?: string } = {}): FerryConfig {
  const doc = validate(check, parseYaml(text, source) ?? {}, source);
  return fromDocument(doc, source, overrides);
}

export function loadConfig(file: string | undefined, overrides: { dataDir?: string } = {}): FerryConfig {
  if (file === undefined) return fromDocument({}, 'defaults', overrides);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseConfig(text, file, overrides);
}

function fromDocument(doc: ConfigDocument, source: string, overrides: { dataDir?: string }): FerryConfig {
  const at = (field: string) => `${source}: ${field}`;
  const auth = doc.auth_service ?? {};
  const ssh = doc.ssh_service ?? {};
  const config: FerryConfig = {
    dataDir: path.resolve(overrides.dataDir ?? doc.ferry?.data_dir ?? './data'),
    nodeName: doc.ferry?.node_name ?? (os.hostname().split('.')[0] || 'node'),
    auth: {
      enabled: auth.enabled ?? true,
      listen: parseHostPort(auth.listen_addr ?? DEFAULT_AUTH_ADDR, at('auth_service.listen_addr')),
      clusterName: auth.cluster_name ?? 'ferry',
    },
    ssh: {
      enabled: ssh.enabled ?? true,
      listen: parseHostPort(ssh.listen_addr ?? DEFAULT_SSH_ADDR, at('ssh_service.listen_addr')),
    },
  };
  if (!config.auth.enabled && !config.ssh.enabled) {
    throw new ValidationError(`${source}: auth_service.enabled and ssh_service.enabled are both false: nothing to run`);
  }
  return config;
}

export function databasePath(config: FerryConfig): string {
  return path.join(config.dataDir, 'ferry.db');
}
