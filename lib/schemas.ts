/**
 * Compiles the JSON Schemas in schemas/ once, at start-up. Every inbound message is checked by one of
 * these before it can become an FSM event.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import { packagePath } from './package-root.js';

const SCHEMA_DIR = packagePath('schemas');

let ajv: Ajv2020 | undefined;

function instance(): Ajv2020 {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: false, strict: true });
    for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'))) {
      ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')));
    }
  }
  return ajv;
}

const compiled = new Map<string, ValidateFunction>();

/** The validator for a schema id (its file name), compiled on first use and kept. */
export function validator<T>(id: string): ValidateFunction<T> {
  let fn = compiled.get(id);
  if (!fn) {
    fn = instance().getSchema(id);
    if (!fn) throw new Error(`no schema ${id}`);
    compiled.set(id, fn);
  }
  return fn as ValidateFunction<T>;
}

/**
 * The part of a schema that describes the value at `pointer` (`/ws/port`) of its instances, following
 * `properties` only: enough to say in words what a setting allows.
 */
export function subschema(id: string, pointer: string): Record<string, unknown> | undefined {
  let at = validator(id).schema as Record<string, unknown> | undefined;
  for (const key of pointer.split('/').slice(1)) {
    at = (at?.properties as Record<string, Record<string, unknown>> | undefined)?.[key];
  }
  return at;
}

/** One line naming what is wrong, for an error reply. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath || 'value';
  if (e.keyword === 'additionalProperties') return `${where}: unknown field ${String(e.params.additionalProperty)}`;
  if (e.keyword === 'required') return `${where}: missing field ${String(e.params.missingProperty)}`;
  return `${where} ${e.message ?? 'is invalid'}`;
}
