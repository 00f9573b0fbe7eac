/**
 * tap loads test files through ts-node, and ts-node's own transpiler (TypeScript's) costs a test
 * process seconds of CPU: each one loads a few hundred modules of lib/ and test/helpers. This hands
 * ts-node esbuild instead (the one tsx brings), which turns the same TypeScript (the project is
 * isolatedModules) into the same JavaScript in a fraction of that. tsconfig.json's "ts-node" names it;
 * tap runs ts-node transpile-only, which a custom transpiler needs (TAP_TYPECHECK=1 would not work).
 */
'use strict';
const { transformSync } = require('esbuild');

exports.create = function create({ nodeModuleEmitKind }) {
  const format = nodeModuleEmitKind === 'nodecjs' ? 'cjs' : 'esm';
  return {
    transpile(input, { fileName }) {
      const { code, map } = transformSync(input, {
        loader: fileName.endsWith('x') ? 'tsx' : 'ts', format, target: 'node20', sourcemap: 'external', sourcefile: fileName,
        // what tsc does for target ES2022 (tsconfig.json)
        tsconfigRaw: { compilerOptions: { useDefineForClassFields: true } },
      });
      return { outputText: code, sourceMapText: map };
    },
  };
};
