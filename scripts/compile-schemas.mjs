/**
 * Generates the JSON Schema validators into dist/lib/schema-validators.cjs after the build (see
 * lib/schemas.ts): nothing to do when the file is already the one for schemas/ as they are.
 */
import { writeGeneratedValidators } from '../dist/lib/schemas.js';

if (writeGeneratedValidators()) process.stderr.write('generated dist/lib/schema-validators.cjs from schemas/\n');
