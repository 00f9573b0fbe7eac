/**
 * The JSON Schemas in schemas/: every inbound message, setting and stored record is checked by one of
 * these before it is used.
 *
 * The validators are generated at build time (`npm run build` runs scripts/compile-schemas.mjs, ajv's
 * standalone code, into dist/lib/schema-validators.cjs), so a process neither loads ajv nor compiles a
 * schema: loading ajv and compiling what a service start checks cost about 0.2 s of CPU, a fifth of a
 * start. The generated file carries a hash of schemas/ and is used only while it matches: with a
 * schema edited and not built again (or no build, run from source), the schemas are compiled here at
 * first use, with the same options, as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { packagePath } from './package-root.js';

const SCHEMA_DIR = packagePath('schemas');
const GENERATED_FILE = packagePath('dist', 'lib', 'schema-validators.cjs');
const AJV_OPTIONS = { allErrors: false, strict: true } as const;
const requireHere = createRequire(import.meta.url);

type Schema = Record<string, unknown> & { $id: string; $defs?: Record<string, unknown> };

interface SchemaSet { schemas: Schema[]; hash: string }

let read: SchemaSet | undefined;

/** The schemas, and a hash of their files' names and contents. */
function schemaSet(): SchemaSet {
  if (!read) {
    const hash = createHash('sha256');
    const schemas = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json')).sort().map((file) => {
      const text = readFileSync(join(SCHEMA_DIR, file), 'utf8');
      hash.update(`${file}\0${text}\0`);
      return JSON.parse(text) as Schema;
    });
    read = { schemas, hash: hash.digest('hex') };
  }
  return read;
}

/** Every id a validator can be asked for: each schema, and each of its `$defs`. */
export function validatorIds(schemas: Schema[] = schemaSet().schemas): string[] {
  return schemas.flatMap((s) => [s.$id, ...Object.keys(s.$defs ?? {}).map((def) => `${s.$id}#/$defs/${def}`)]);
}

/** The generated module's validators by id, if it was generated from schemas with this hash. */
export function generatedValidators(hash: string): Map<string, ValidateFunction> | undefined {
  let generated: { hash: string; ids: Record<string, string> } & Record<string, unknown>;
  try {
    generated = requireHere(GENERATED_FILE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  if (generated.hash !== hash) return undefined;
  return new Map(Object.entries(generated.ids).map(([id, name]) => [id, generated[name] as ValidateFunction]));
}

function newAjv(options: object = {}): Ajv2020 {
  const { Ajv2020: AjvClass } = requireHere('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const ajv = new AjvClass({ ...AJV_OPTIONS, ...options });
  for (const schema of schemaSet().schemas) ajv.addSchema(schema);
  return ajv;
}

/** The generated validators: null until looked for, undefined when there are none for these schemas. */
let generated: Map<string, ValidateFunction> | undefined | null = null;
let ajv: Ajv2020 | undefined;
/** Each id's validator once asked for, from whichever origin. */
const chosen = new Map<string, ValidateFunction>();

/** Where the validators come from in this process: generated at build time, or compiled from schemas/. */
export function validatorOrigin(): 'generated' | 'compiled' {
  if (generated === null) generated = generatedValidators(schemaSet().hash);
  return generated ? 'generated' : 'compiled';
}

/** The validator for a schema id compiled from schemas/ now, whatever was generated. */
export function compileValidator(id: string): ValidateFunction | undefined {
  return (ajv ??= newAjv()).getSchema(id);
}

/** The validator for a schema id (its file name, or `file#/$defs/name`). */
export function validator<T>(id: string): ValidateFunction<T> {
  let fn = chosen.get(id);
  if (!fn) {
    fn = validatorOrigin() === 'generated' ? generated!.get(id) : compileValidator(id);
    if (!fn) throw new Error(`no schema ${id}`);
    chosen.set(id, fn);
  }
  return fn as ValidateFunction<T>;
}

/** The schema an id names, as written in schemas/. */
export function schemaOf(id: string): Record<string, unknown> | undefined {
  const [file, pointer = ''] = id.split('#');
  let at: unknown = schemaSet().schemas.find((s) => s.$id === file);
  for (const key of pointer.split('/').slice(1)) at = (at as Record<string, unknown> | undefined)?.[key];
  return at as Record<string, unknown> | undefined;
}

/**
 * The part of a schema that describes the value at `pointer` (`/ws/port`) of its instances, following
 * `properties` only: enough to say in words what a setting allows.
 */
export function subschema(id: string, pointer: string): Record<string, unknown> | undefined {
  let at = schemaOf(id);
  for (const key of pointer.split('/').slice(1)) {
    at = (at?.properties as Record<string, Record<string, unknown>> | undefined)?.[key];
  }
  return at;
}

/**
 * Writes dist/lib/schema-validators.cjs from schemas/ (scripts/compile-schemas.mjs, after the build),
 * unless it is already the one for these schemas. Returns whether it wrote.
 */
export function writeGeneratedValidators(): boolean {
  const { schemas, hash } = schemaSet();
  if (generatedValidators(hash)) return false;
  const standaloneCode = (requireHere('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js')).default;
  const ids = validatorIds(schemas);
  const names = Object.fromEntries(ids.map((id, i) => [id, `v${i}`]));
  const code = standaloneCode(newAjv({ code: { source: true } }), Object.fromEntries(ids.map((id) => [names[id]!, id])));
  writeFileSync(GENERATED_FILE, `${code}\nexports.hash = ${JSON.stringify(hash)};\nexports.ids = ${JSON.stringify(names)};\n`);
  return true;
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
