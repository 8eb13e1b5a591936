import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The library: the main entry and the dependency-free contracts entry, each in ESM and CommonJS with typings.
    entry: { index: 'src/index.ts', contracts: 'src/contracts/index.ts' },
    format: ['esm', 'cjs'],
    // tsup's declaration step sets `baseUrl`, which TypeScript 6 reports as deprecated.
    dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
    clean: true,
    sourcemap: true,
    target: 'node20',
    external: ['mongoose'],
  },
  {
    // The command line (ESM only, not part of the library's API).
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    target: 'node20',
    sourcemap: true,
    external: ['mongoose', 'mongodb-memory-server-core'],
  },
]);
