import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { probe, startMongoServer } from '../../src/mongoServer.js';
import { needs, server, useTestDatabase } from '../support/db.js';

const db = useTestDatabase('server');

describe('the test server and its probe', () => {
  it('every capability the server lacks comes with the reason the probe found', () => {
    for (const [capability, has] of Object.entries(server.capabilities)) {
      if (has) expect(server.missing).not.toHaveProperty(capability);
      else expect(server.missing[capability as keyof typeof server.missing]).toMatch(/\w/);
    }
  });

  it('the probe leaves no scratch database behind', async () => {
    await probe(server.uri);
    const { databases } = await db.conn.db!.admin().listDatabases({ nameOnly: true });
    expect(databases.map((d) => d.name).filter((name) => name.startsWith(`capabilities_${process.pid}_`))).toEqual([]);
  });

  // Slow (a TTL monitor pass comes every 60 s, as in mongod): opt in with DATA_MODELS_SLOW_TESTS=1 (.ci/run does).
  it('a TTL index really deletes expired documents', { timeout: 150_000 }, async (test) => {
    needs(test, 'ttlIndexes', 'the TTL index must exist for its deletion to be seen');
    if (!process.env.DATA_MODELS_SLOW_TESTS) test.skip('slow (up to two minutes): set DATA_MODELS_SLOW_TESTS=1 to run it (CI does)');
    const expiring = db.conn.db!.collection('ttl');
    await expiring.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
    await expiring.insertMany([{ at: new Date(Date.now() - 1000) }, { at: 'not a date, never expires' }]);
    while ((await expiring.countDocuments()) === 2) await new Promise((r) => setTimeout(r, 2000));
    expect(await expiring.find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ at: 'not a date, never expires' }]);
  });

  it('restart() brings a persistent embedded server back on the same port with the same data', { timeout: 60_000 }, async (test) => {
    if (process.env.MONGODB_URI) test.skip('MONGODB_URI is a server this run does not own: it cannot be restarted');
    const own = await startMongoServer({ kind: server.kind, persistent: true, log: () => {} });
    try {
      // SecantusDB 0.7.0b3: a client that streams its server monitoring (the driver's default) never sees the
      // restarted server again; polling does (see NOTES.md).
      const conn = await mongoose.createConnection(own.uri, { dbName: 'restart', serverMonitoringMode: 'poll' }).asPromise();
      await conn.db!.collection('kept').insertOne({ _id: 'before' } as never);
      await own.restart!();
      await conn.db!.collection('kept').insertOne({ _id: 'after' } as never);
      expect(await conn.db!.collection('kept').find().toArray()).toEqual([{ _id: 'before' }, { _id: 'after' }]);
      await conn.close();
    } finally {
      await own.stop();
    }
  });
});
