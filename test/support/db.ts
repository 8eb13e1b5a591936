import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { afterAll, beforeAll, inject, type TestContext } from 'vitest';
import { makeModels, syncIndexes, type Models } from '../../src/index.js';
import type { Capability } from '../../src/mongoServer.js';
import { setByPackage } from '../../src/models/secrets.js';

export const server = inject('server');

/** The encryption keys of every test database (sink credentials are stored encrypted): two, so rotation can be tried. */
export const TEST_SECRET_KEYS = {
  current: 'test2',
  keys: { test1: Buffer.alloc(32, 1).toString('base64'), test2: Buffer.alloc(32, 2).toString('base64') },
};

/**
 * A fresh database for one test file, on the run's server, with the models registered and their indexes built.
 * On a server that lacks an index feature, syncIndexes leaves the indexes that need it out, and the tests that rely
 * on them skip themselves through `needs()`.
 */
export function useTestDatabase(label: string) {
  const ctx = {} as { conn: mongoose.Connection; models: Models };
  beforeAll(async () => {
    ctx.conn = await mongoose
      .createConnection(server.uri, { dbName: `${label}_${randomUUID().slice(0, 8)}`, autoIndex: false, autoCreate: false })
      .asPromise();
    ctx.models = makeModels(ctx.conn, { secretKeys: TEST_SECRET_KEYS });
    await syncIndexes(ctx.models);
  });
  afterAll(async () => {
    await ctx.conn?.dropDatabase();
    await ctx.conn?.close();
  });
  return ctx;
}

/** Skips the test, with the reason printed, when the server lacks `capability`; against real mongod it runs. */
export function needs(test: TestContext, capability: Capability, why: string) {
  if (!server.capabilities[capability]) {
    const note = `${server.description} lacks ${capability} (${why})`;
    console.log(`skipped: ${note}`);
    test.skip(note);
  }
}

/**
 * A user with a stand-in password hash, set the way `setPassword` sets one (callers cannot write the hash): fixtures
 * need many users, and a real hash costs ~0.3 s of CPU. `User.authenticate` accepts no password for it.
 */
export function userWithPassword(models: Models, fields: Record<string, unknown>) {
  const user = new models.User(fields);
  setByPackage(user, { passwordHash: 'fixture-hash', passwordSalt: 'fixture-salt' });
  return user;
}
