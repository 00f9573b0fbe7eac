/**
 * Compiles the JSON Schemas in schemas/ once, at start-up. Every inbound message is checked by one of
 * these before it can become an FSM event.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';

const SCHEMA_DIR = new URL('../schemas/', import.meta.url);

let ajv: Ajv2020 | undefined;

function instance(): Ajv2020 {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: false, strict: true });
    for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'))) {
      ajv.addSchema(JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8')));
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

/** One line naming what is wrong, for an error reply. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath || 'value';
  if (e.keyword === 'additionalProperties') return `${where}: unknown field ${String(e.params.additionalProperty)}`;
  if (e.keyword === 'required') return `${where}: missing field ${String(e.params.missingProperty)}`;
  return `${where} ${e.message ?? 'is invalid'}`;
}
