/**
 * The validators generated at build time (dist/lib/schema-validators.cjs) are the ones the service
 * runs, they judge every value as the schemas compiled now do, and a file generated from other
 * schemas is never used.
 */
import t from 'tap';
import fc from 'fast-check';
import { compileValidator, generatedValidators, schemaOf, validator, validatorIds, validatorOrigin } from '../../lib/schemas.js';

t.test('the build generated the validators, so the service and this suite run them', async (t) => {
  t.equal(validatorOrigin(), 'generated');
  t.ok(validatorIds().includes('client-requests.schema.json#/$defs/updateNew'), "every schema's $defs has a validator of its own");
});

t.test('a file generated from other schemas is not used: the schemas are compiled instead', async (t) => {
  t.equal(generatedValidators('0'.repeat(64)), undefined);
});

t.test('generated and compiled now, every validator says the same of the same values', async (t) => {
  for (const id of validatorIds()) {
    const generated = validator(id);
    const compiled = compileValidator(id)!;
    t.not(generated, compiled, `${id}: two validators, not one`);
    // values shaped by the schema (its own property names, any JSON in them) and any JSON at all
    const names = Object.keys((schemaOf(id)?.properties as object | undefined) ?? {});
    const shaped = names.length > 0 ? fc.dictionary(fc.constantFrom(...names), fc.jsonValue({ maxDepth: 2 })) : fc.jsonValue();
    const disagreements: string[] = [];
    fc.assert(fc.property(fc.oneof(shaped, fc.jsonValue({ maxDepth: 3 })), (value) => {
      const [a, b] = [generated(value), compiled(value)];
      const [ea, eb] = [generated.errors?.[0], compiled.errors?.[0]];
      if (a !== b || ea?.keyword !== eb?.keyword || ea?.instancePath !== eb?.instancePath) disagreements.push(JSON.stringify(value));
    }), { numRuns: 200 });
    t.same(disagreements, [], `${id}: the same verdict and the same first error`);
  }
});
