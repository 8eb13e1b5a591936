// An app whose own code imports the ESM copy of the package while a dependency requires the CommonJS copy: both
// call makeModels on the app's one connection.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';

describe('the CommonJS and ESM copies of the package on one connection', () => {
  it('makeModels from both copies gives one set of models, whichever copy registered first, and still refuses a foreign model of the same name', async () => {
    const dist = join(import.meta.dirname, '../../dist');
    const cjs = createRequire(import.meta.url)(join(dist, 'index.cjs')) as typeof import('../../src/index.js');
    const esm = (await import(join(dist, 'index.js'))) as typeof import('../../src/index.js');
    expect(cjs.makeModels).not.toBe(esm.makeModels);

    const conn = mongoose.createConnection();
    const first = esm.makeModels(conn);
    const used = first.Workspace;
    const second = cjs.makeModels(conn);
    expect(second.Workspace).toBe(used);
    expect(second.Pipeline).toBe(first.Pipeline);
    expect(() => new second.Workspace({ name: 'Acme', code: 'ACME!' }).validateSync()).not.toThrow();
    expect(new second.Workspace({ name: 'Acme', code: 'ACME!' }).validateSync()?.errors.code).toBeDefined();

    const foreign = mongoose.createConnection();
    foreign.model('Workspace', new mongoose.Schema({ name: String }));
    expect(() => cjs.makeModels(foreign).Workspace).toThrow(mongoose.Error.OverwriteModelError);
  });
});
