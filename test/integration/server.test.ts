import mongoose from 'mongoose';
import { describe, expect, inject, it } from 'vitest';
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

  it('16 concurrent updates of one document are all kept where the probe found atomicUpdates', async (test) => {
    needs(test, 'atomicUpdates', 'a server that loses concurrent updates cannot show that none is lost');
    const counters = db.conn.db!.collection<{ _id: string; n: number }>('counters');
    await counters.insertOne({ _id: 'one', n: 0 });
    await Promise.all(Array.from({ length: 16 }, (_, i) => counters.updateOne({ _id: 'one' }, { $inc: { n: 1 }, $set: { [`f${i}`]: i } })));
    const stored = await counters.findOne({ _id: 'one' });
    expect(stored).toMatchObject({ n: 16, ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`f${i}`, i])) });
  });

  it('findOneAndUpdate on a model with hidden secrets returns the updated document without them', async (test) => {
    needs(test, 'findAndModifyProjection', 'mongoose sends findAndModify with a projection for select:false paths');
    const { client } = await db.models.Client.createWithSecret({ name: 'Before' });
    const updated = await db.models.Client.findOneAndUpdate({ _id: client._id }, { name: 'After' }, { returnDocument: 'after' }).lean();
    expect(updated).toMatchObject({ _id: client._id, name: 'After' });
    expect(updated).not.toHaveProperty('secretHash');
  });

  // A TTL monitor pass comes every 60 s (as in mongod): the expired document was written when the server started
  // (test/support/globalSetup.ts), so this waits only for what is left of that minute.
  it('a TTL index really deletes expired documents', { timeout: 150_000 }, async (test) => {
    needs(test, 'ttlIndexes', 'the TTL index must exist for its deletion to be seen');
    const name = inject('ttlDatabase');
    expect(name, 'the TTL database is seeded for every server with TTL indexes').toBeTypeOf('string');
    const expiring = db.conn.getClient().db(name).collection('ttl');
    try {
      expect((await expiring.indexes()).find((index) => index.expireAfterSeconds === 0)).toMatchObject({ key: { at: 1 } });
      while ((await expiring.countDocuments()) === 2) await new Promise((r) => setTimeout(r, 1000));
      expect(await expiring.find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ at: 'not a date, never expires' }]);
    } finally {
      await db.conn.getClient().db(name).dropDatabase();
    }
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
