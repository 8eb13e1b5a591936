// The contracts entry must load in a browser bundle: nothing but its own files, no mongoose, no Node built-in.
// Needs `npm run build` first (the test command does it).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const dist = join(import.meta.dirname, '..', '..', 'dist');
const SPECIFIER = /\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\brequire\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** Every file the entry loads, following relative imports; and every bare specifier it names. */
function closure(entry: string) {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const specifier = m[1] ?? m[2] ?? m[3] ?? m[4]!;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else external.add(specifier);
    }
  };
  visit(join(dist, entry));
  return { files: [...files], external: [...external] };
}

describe('the contracts bundle', () => {
  for (const entry of ['contracts.js', 'contracts.cjs']) {
    it(`${entry} imports nothing outside itself (no mongoose, no Node built-in)`, () => {
      const { files, external } = closure(entry);
      expect(external).toEqual([]);
      const source = files.map((f) => readFileSync(f, 'utf8')).join('\n');
      // No Node global either (comments aside: esbuild's own mention "ESM import in node:").
      const code = source.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      expect(code).not.toMatch(/mongoose|node:|\bprocess\.|\bBuffer\b|\brequire\(/);
      const bytes = Buffer.byteLength(source);
      const gzipped = gzipSync(source).length;
      console.log(`${entry}: ${files.length} file(s), ${bytes} bytes, ${gzipped} bytes gzipped`);
      expect(gzipped).toBeLessThan(8 * 1024);
    });
  }

  it('the main entry re-exports the very rules the contracts entry has', async () => {
    const contracts = await import(join(dist, 'contracts.js'));
    const main = await import(join(dist, 'index.js'));
    expect(main.validatePipelineGraph).toBe(contracts.validatePipelineGraph);
    expect(main.STREAM_TYPES).toBe(contracts.STREAM_TYPES);
  });
});
