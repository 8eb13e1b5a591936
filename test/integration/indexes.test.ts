import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { makeModels, syncIndexes, type ModelName } from '../../src/index.js';
import { server, useTestDatabase } from '../support/db.js';

const db = useTestDatabase('indexes');
const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/** The name the server gives each index a schema declares. */
const declared = (name: ModelName) =>
  db.models[name].schema.indexes().map(([fields]) => Object.entries(fields).map(([path, order]) => `${path}_${order}`).join('_'));

describe('syncIndexes', () => {
  it('builds every index the server can, and names per model each one it could not build with the server reason', async () => {
    const report = await syncIndexes(db.models);
    for (const name of Object.keys(db.models) as ModelName[]) {
      const built = (await db.models[name].collection.indexes()).map((i) => i.name);
      const notBuilt = report[name].notBuilt.map((n) => n.index);
      expect([...built.filter((n) => n !== '_id_'), ...notBuilt].sort(), name).toEqual(declared(name).sort());
      for (const { reason } of report[name].notBuilt) expect(reason).toMatch(/\w/);
    }
    // Contact's email index is the one partial index: built exactly where the probe found partial indexes enforced.
    expect(report.Contact.notBuilt.map((n) => n.index)).toEqual(server.capabilities.partialIndexes ? [] : ['email_1']);
  });

  it('drops indexes the schemas no longer declare, and reports them', async () => {
    await db.models.Client.collection.createIndex({ name: 1 });
    const report = await syncIndexes(db.models);
    expect(report.Client.dropped).toEqual(['name_1']);
    expect((await db.models.Client.collection.indexes()).map((i) => i.name)).not.toContain('name_1');
  });

  it('fails on a real error, naming the model and the index', async () => {
    const conn = db.conn.useDb(`${db.conn.name}_dup`);
    try {
      const models = makeModels(conn);
      await conn.db!.collection('workspaces').insertMany([{ _id: 'ws_a', code: 'same' }, { _id: 'ws_b', code: 'same' }] as never[]);
      await expect(syncIndexes(models)).rejects.toThrow(/Workspace index code_1 could not be built/);
    } finally {
      await conn.dropDatabase();
    }
  });

  it('data-models sync-indexes prints the same report per model', async () => {
    const dbName = `${db.conn.name}_cli`;
    try {
      const { stdout } = await run(process.execPath, [cli, 'sync-indexes', '--uri', server.uri, '--db', dbName]);
      for (const name of Object.keys(db.models)) expect(stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
      if (!server.capabilities.partialIndexes) expect(stdout).toMatch(/^ {2}Contact +not built email_1: \S/m);
      else expect(stdout).toMatch(/^ {2}Contact +all built$/m);
    } finally {
      await mongoose.createConnection(server.uri, { dbName }).asPromise().then(async (c) => {
        await c.dropDatabase();
        await c.close();
      });
    }
  });
});
