// YAML documents checked against a JSON schema, with errors that name the field a person
// must fix ("ssh_service.listen_addr: must be host:port") rather than a schema path.

import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import YAML from 'yaml';
import { ValidationError } from '../errors';

// verbose: errors carry their schema, whose description says what a pattern means.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });

export function compileSchema<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

/** Parses one YAML document; syntax errors carry the line and column. */
export function parseYaml(text: string, source: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
    throw new ValidationError(`${where}: invalid YAML: ${first.message.split('\n')[0] ?? first.code}`);
  }
  return doc.toJS() as unknown;
}

/** Throws a ValidationError listing every problem, each naming its field. */
export function validate<T>(check: ValidateFunction<T>, value: unknown, source: string): T {
  if (check(value)) return value;
  const problems = (check.errors ?? []).map(describeSchemaError);
  const unique = [...new Set(problems)];
  throw new ValidationError(`${source}: ${unique.join('; ')}`);
}

export function fieldPath(instancePath: string): string {
  if (instancePath === '') return '(top level)';
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

function describeSchemaError(err: ErrorObject): string {
  const field = fieldPath(err.instancePath);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return `${joinField(field, String(params.additionalProperty))}: unknown field`;
    case 'required':
      return `${joinField(field, String(params.missingProperty))}: required field is missing`;
    case 'enum':
      return `${field}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${field}: must be ${JSON.stringify(params.allowedValue)}`;
    case 'pattern':
      return `${field}: ${patternHint(err)}`;
    default:
      return `${field}: ${err.message ?? 'is invalid'}`;
  }
}

function joinField(parent: string, child: string): string {
  return parent === '(top level)' ? child : `${parent}.${child}`;
}

function patternHint(err: ErrorObject): string {
  const schema = err.parentSchema as { description?: string } | undefined;
  return schema?.description ?? `must match ${String((err.params as { pattern?: string }).pattern)}`;
}
