// Role documents, shaped like Teleport's:
//
//   kind: role
//   version: v1
//   metadata: { name: dev }
//   spec:
//     options:
//       permit_pty: true
//       ssh_port_forwarding:
//         local: { enabled: true }
//         remote:
//           enabled: true
//           permit_listen: ["localhost:8000-8999", "*:0"]
//           gateway_ports: false
//           max_forwards: 8
//           unix_sockets: true
//     allow: { logins: [alice] }
//     deny: { logins: [root] }

import { ValidationError } from '../errors';
import { compileSchema, parseYaml, validate } from '../config/schema';
import { parseListenRule, type ListenRule } from '../policy/listen';

export interface RoleDocument {
  kind: 'role';
  version?: 'v1';
  metadata: { name: string; description?: string };
  spec: {
    options: {
      permit_pty?: boolean;
      ssh_port_forwarding: {
        local: { enabled: boolean };
        remote: {
          enabled: boolean;
          permit_listen?: string[];
          gateway_ports?: boolean;
          max_forwards?: number;
          unix_sockets?: boolean;
        };
      };
    };
    allow: { logins: string[] };
    deny?: { logins?: string[] };
  };
}

export interface Role {
  name: string;
  doc: RoleDocument;
  /** Parsed permit_listen; undefined where the role does not say. */
  permitListen: ListenRule[] | undefined;
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const LOGIN = '^([A-Za-z_][A-Za-z0-9._-]{0,31}\\$?|\\{\\{internal\\.logins\\}\\})$';

const roleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'metadata', 'spec'],
  properties: {
    kind: { const: 'role' },
    version: { enum: ['v1'] },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: NAME, description: 'must be letters, digits, ".", "_" or "-" (at most 64)' },
        description: { type: 'string' },
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['options', 'allow'],
      properties: {
        options: {
          type: 'object',
          additionalProperties: false,
          required: ['ssh_port_forwarding'],
          properties: {
            permit_pty: { type: 'boolean' },
            ssh_port_forwarding: {
              type: 'object',
              additionalProperties: false,
              required: ['local', 'remote'],
              properties: {
                local: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['enabled'],
                  properties: { enabled: { type: 'boolean' } },
                },
                remote: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['enabled'],
                  properties: {
                    enabled: { type: 'boolean' },
                    permit_listen: { type: 'array', items: { type: 'string' } },
                    gateway_ports: { type: 'boolean' },
                    max_forwards: { type: 'integer', minimum: 0, maximum: 10000 },
                    unix_sockets: { type: 'boolean' },
                  },
                },
              },
            },
          },
        },
        allow: {
          type: 'object',
          additionalProperties: false,
          required: ['logins'],
          properties: { logins: { type: 'array', items: { type: 'string', pattern: LOGIN, description: 'must be a valid OS login name or {{internal.logins}}' } } },
        },
        deny: {
          type: 'object',
          additionalProperties: false,
          properties: { logins: { type: 'array', items: { type: 'string', pattern: LOGIN, description: 'must be a valid OS login name' } } },
        },
      },
    },
  },
};

const checkRole = compileSchema<RoleDocument>(roleSchema);

/** Parses and validates a role document; every error names the field and the source. */
export function parseRole(yaml: string, source = 'role'): Role {
  const doc = validate(checkRole, parseYaml(yaml, source), source);
  const listen = doc.spec.options.ssh_port_forwarding.remote.permit_listen;
  const permitListen = listen?.map((text, i) => {
    try {
      return parseListenRule(text);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ValidationError(`${source}: spec.options.ssh_port_forwarding.remote.permit_listen[${i}]: ${why}`);
    }
  });
  return { name: doc.metadata.name, doc, permitListen };
}
