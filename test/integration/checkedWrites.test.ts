import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ConflictError, describeError, nodeId, UnsafeQueryError } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('checkedwrites');

async function expectConflict(write: Promise<unknown>) {
  const error: unknown = await write.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ConflictError);
}

async function newClient(name: string) {
  return (await db.models.Client.createWithSecret({ name, allowedTopics: ['orders', 'payments'] })).client;
}

describe('Query writes of versioned models', () => {
  it('a Client topic revoked by updateOne $pull is not undone by a stale save(): ConflictError, the revocation kept', async () => {
    const { Client } = db.models;
    const made = await newClient('Revoked');
    const stale = await Client.findById(made._id);
    await Client.updateOne({ _id: made._id }, { $pull: { allowedTopics: 'payments' } });
    stale!.set('allowedTopics', [...stale!.allowedTopics, 'invoices']);
    await expectConflict(stale!.save());
    expect((await Client.collection.findOne({ _id: made._id as never }))!.allowedTopics).toEqual(['orders']);
  });

  it('a Workspace renamed by updateOne is not undone by a stale save(): ConflictError, the new name kept', async () => {
    const { Workspace } = db.models;
    const made = await Workspace.create({ name: 'Acme' });
    const stale = await Workspace.findById(made._id);
    await Workspace.updateOne({ _id: made._id }, { $set: { name: 'Renamed by B' } });
    stale!.name = 'Renamed by A';
    await expectConflict(stale!.save());
    expect((await Workspace.collection.findOne({ _id: made._id as never }))!.name).toBe('Renamed by B');
  });

  it('every update operator, through updateOne, updateMany, findOneAndUpdate and bulkWrite, makes a stale save() a ConflictError', async () => {
    const { Workspace } = db.models;
    const origin = 'https://b.example.com';
    const updates: Array<Record<string, unknown>> = [
      { $set: { status: 'inactive' } },
      { status: 'inactive' },
      { $unset: { allowedOrigins: 1 } },
      { $push: { allowedOrigins: origin } },
      { $addToSet: { allowedOrigins: origin } },
      { $pull: { allowedOrigins: 'https://a.example.com' } },
      { $pop: { allowedOrigins: 1 } },
      { $inc: { __v: 0 } },
    ];
    const writes = ['updateOne', 'updateMany', 'findOneAndUpdate', 'bulkWriteOne', 'bulkWriteMany'] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...updates), fc.constantFrom(...writes), async (update, write) => {
        const made = await Workspace.create({ name: 'Operators', allowedOrigins: ['https://a.example.com'] });
        const stale = await Workspace.findById(made._id);
        const filter = { _id: made._id };
        if (write === 'bulkWriteOne') await Workspace.bulkWrite([{ updateOne: { filter, update } }]);
        else if (write === 'bulkWriteMany') await Workspace.bulkWrite([{ updateMany: { filter, update } }]);
        else if (write === 'updateOne') await Workspace.updateOne(filter, update);
        else if (write === 'updateMany') await Workspace.updateMany(filter, update);
        else await Workspace.findOneAndUpdate(filter, update);
        stale!.name = 'Stale';
        await expectConflict(stale!.save());
        expect((await Workspace.collection.findOne({ _id: made._id as never }))!.name).toBe('Operators');
      }),
      { numRuns: 20 },
    );
  });

  it('an upsert bumps the version whether it matches or inserts: a stale save() is a ConflictError', async () => {
    const { Workspace } = db.models;
    const made = await Workspace.create({ name: 'Upserted' });
    const stale = await Workspace.findById(made._id);
    await Workspace.updateOne({ _id: made._id }, { $set: { name: 'Upserted by B' } }, { upsert: true });
    stale!.name = 'Stale';
    await expectConflict(stale!.save());
    expect((await Workspace.collection.findOne({ _id: made._id as never }))!.name).toBe('Upserted by B');
    await Workspace.updateOne({ name: 'Inserted' }, { $set: { status: 'active' } }, { upsert: true });
    expect((await Workspace.collection.findOne({ name: 'Inserted' }))!.__v).toBe(1);
  });

  it('a replacement (replaceOne, findOneAndReplace, bulkWrite replaceOne) gets the next version: a stale save() is a ConflictError', async () => {
    const { Workspace } = db.models;
    for (const write of ['replaceOne', 'findOneAndReplace', 'bulkWrite'] as const) {
      const made = await Workspace.create({ name: `Replaced ${write}` });
      const stale = await Workspace.findById(made._id);
      const replacement = { name: 'Replaced by B', code: made.code, status: made.status, allowedOrigins: [], createdAt: made.createdAt, updatedAt: made.updatedAt };
      if (write === 'bulkWrite') await Workspace.bulkWrite([{ replaceOne: { filter: { _id: made._id }, replacement } }]);
      else if (write === 'replaceOne') await Workspace.replaceOne({ _id: made._id }, replacement);
      else await Workspace.findOneAndReplace({ _id: made._id }, replacement);
      expect((await Workspace.collection.findOne({ _id: made._id as never }))!.__v).toBe((made.__v ?? 0) + 1);
      stale!.name = 'Stale';
      await expectConflict(stale!.save());
      expect((await Workspace.collection.findOne({ _id: made._id as never }))!.name).toBe('Replaced by B');
    }
  });

  it('a replacement keeps the stored createdAt, whether it leaves it out or gives another', async () => {
    const { Workspace } = db.models;
    for (const write of ['replaceOne', 'findOneAndReplace', 'bulkWrite'] as const) {
      for (const createdAt of [undefined, new Date(0)]) {
        const made = await Workspace.create({ name: `Kept ${write}` });
        // The replacement is written in a later millisecond than the create.
        await new Promise((resolve) => setTimeout(resolve, 5));
        const replacement = { name: 'Replaced', code: made.code, status: made.status, allowedOrigins: [], ...(createdAt ? { createdAt } : {}) };
        // mongoose's types ask a bulk replacement for the timestamps; at run time createdAt is the stored one anyway.
        if (write === 'bulkWrite') await Workspace.bulkWrite([{ replaceOne: { filter: { _id: made._id }, replacement: replacement as never } }]);
        else if (write === 'replaceOne') await Workspace.replaceOne({ _id: made._id }, replacement);
        else await Workspace.findOneAndReplace({ _id: made._id }, replacement);
        const stored = await Workspace.collection.findOne({ _id: made._id as never });
        expect(stored).toMatchObject({ name: 'Replaced', createdAt: made.createdAt });
        expect(stored!.updatedAt.getTime()).toBeGreaterThan(made.createdAt.getTime());
      }
    }
  });

  it('a save() of a document read after the update still succeeds', async () => {
    const { Workspace } = db.models;
    const made = await Workspace.create({ name: 'Fresh' });
    await Workspace.updateOne({ _id: made._id }, { $set: { name: 'Fresh B' } });
    const fresh = await Workspace.findById(made._id);
    fresh!.name = 'Fresh A';
    await fresh!.save();
    expect((await Workspace.collection.findOne({ _id: made._id as never }))!.name).toBe('Fresh A');
  });
});

describe('Pipeline upserts', () => {
  it('the pipeline an upsert would create passes the graph rules, whether its graph comes from $setOnInsert or the filter, through updateOne and bulkWrite', async () => {
    const { Pipeline } = db.models;
    const dup = [{ topic: 'a', type: 'source' as const }, { topic: 'a', type: 'source' as const }];
    const writes: Array<[string, () => Promise<unknown>]> = [
      ['streams.1.topic', () => Pipeline.updateOne({ workspaceId: 'ws_1', name: 'Up 1' }, { $setOnInsert: { streams: dup } }, { upsert: true }).exec()],
      ['streams.1.topic', () => Pipeline.updateOne({ workspaceId: 'ws_1', name: 'Up 2', streams: dup } as never, { $set: { status: 'active' } }, { upsert: true }).exec()],
      ['nodePositions.bogus', () => Pipeline.updateOne({ workspaceId: 'ws_1', name: 'Up 3', 'nodePositions.bogus': { x: 1, y: 1 } } as never, { $set: { status: 'active' } }, { upsert: true }).exec()],
      // bulkWrite refuses any write of a graph field outright.
      ['streams', () => Pipeline.bulkWrite([{ updateOne: { filter: { workspaceId: 'ws_1', name: 'Up 4' }, update: { $setOnInsert: { streams: dup } }, upsert: true } }])],
      ['streams.1.topic', () => Pipeline.bulkWrite([{ updateOne: { filter: { workspaceId: 'ws_1', name: 'Up 5', streams: dup } as never, update: { $set: { status: 'active' } }, upsert: true } }])],
    ];
    for (const [path, write] of writes) await expectInvalid(write, path);
    expect(await Pipeline.collection.countDocuments({})).toBe(0);
    // A valid graph is created by the upsert, and a later upsert that matches it leaves it as it is.
    const streams = [{ topic: 'a', type: 'source' as const }, { topic: 'b', type: 'sink' as const }];
    const others = [{ topic: 'c', type: 'source' as const }];
    for (const given of [streams, others]) await Pipeline.updateOne({ workspaceId: 'ws_1', name: 'Up ok' }, { $setOnInsert: { streams: given } }, { upsert: true });
    expect((await Pipeline.collection.findOne({ name: 'Up ok' }))!.streams.map((s: { topic: string }) => s.topic)).toEqual(['a', 'b']);
  });
});

describe('Graph updateMany', () => {
  it('is all or nothing: when a pipeline changed since the check can no longer take the update, the ones already written are put back', async () => {
    const { Pipeline } = db.models;
    const streams = [{ topic: 'a', type: 'source' as const }, { topic: 'b', type: 'sink' as const }];
    const first = await Pipeline.create({ workspaceId: 'ws_half', name: 'Half 1', streams });
    const second = await Pipeline.create({ workspaceId: 'ws_half', name: 'Half 2', streams, nodePositions: { [nodeId('stream', 'b')]: { x: 1, y: 1 } } });
    const before = await Pipeline.collection.find({ workspaceId: 'ws_half' }).sort({ _id: 1 }).toArray();
    // The check reads the second pipeline as it was before another writer laid out stream b (one version behind):
    // removing b passes the check, the write finds a newer version, and the re-check refuses it.
    const find = Pipeline.find.bind(Pipeline);
    const reads = vi.spyOn(Pipeline, 'find').mockImplementation(((...args: Parameters<typeof find>) =>
      find(...args).transform((docs) =>
        (docs as Array<{ _id: string; __v?: number }>).map((doc) => (doc._id === second._id ? { ...doc, __v: (doc.__v ?? 0) - 1, nodePositions: {} } : doc)),
      )) as typeof find);
    try {
      await expectInvalid(() => Pipeline.updateMany({ workspaceId: 'ws_half' }, { $set: { streams: streams.slice(0, 1) } }).exec(), `nodePositions.${nodeId('stream', 'b')}`);
    } finally {
      reads.mockRestore();
    }
    const after = await Pipeline.collection.find({ workspaceId: 'ws_half' }).sort({ _id: 1 }).toArray();
    expect(after.map((p) => p.streams)).toEqual(before.map((p) => p.streams));
    expect(after.find((p) => p._id === (first._id as never))!.streams).toHaveLength(2);
  });
});

describe('Writes that would skip every rule', () => {
  it('update pipelines (arrays) are refused with an UnsafeQueryError (400), with or without updatePipeline, and nothing is written', async () => {
    const { Workspace, Session } = db.models;
    const made = await Workspace.create({ name: 'Pipeline update' });
    const stages = [{ $set: { workspaceId: 'ws_other', name: 'Moved' } }];
    const refused = async (write: () => Promise<unknown>) => {
      const error = await write().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeQueryError);
      expect(describeError(error)).toMatchObject({ status: 400, fields: { update: expect.stringMatching(/update pipelines/) } });
    };
    for (const options of [{ updatePipeline: true }, {}]) {
      await refused(() => Workspace.updateOne({ _id: made._id }, stages, options).exec());
      await refused(() => Workspace.findOneAndUpdate({ _id: made._id }, stages, options).exec());
      await refused(() => Session.updateMany({ workspaceId: 'ws_1' }, [{ $set: { principalId: 'someone' } }], options).exec());
    }
    await refused(() => Workspace.bulkWrite([{ updateOne: { filter: { _id: made._id }, update: stages } }]));
    expect((await Workspace.collection.findOne({ _id: made._id as never }))!.name).toBe('Pipeline update');
  });

  it('insertMany with lean, save()/create() with validateBeforeSave: false or validateModifiedOnly, bulkWrite/bulkSave with skipValidation are refused, and nothing is written', async () => {
    const { Pipeline, Client } = db.models;
    const bad = { workspaceId: 'ws_1', name: 'Unvalidated', streams: [{ topic: 'a', type: 'source' as const }, { topic: 'a', type: 'source' as const }] };
    await expectInvalid(() => Pipeline.insertMany([bad], { lean: true }), 'lean');
    await expectInvalid(() => Pipeline.create([bad], { validateBeforeSave: false }), 'validateBeforeSave');
    await expectInvalid(() => new Pipeline(bad).save({ validateBeforeSave: false }), 'validateBeforeSave');
    await expectInvalid(() => new Pipeline({ ...bad, streams: [] }).save({ validateModifiedOnly: true }), 'validateModifiedOnly');
    await expectInvalid(() => Client.create([{ name: 'No secret' }], { validateBeforeSave: false }), 'validateBeforeSave');
    await expectInvalid(() => Pipeline.bulkWrite([{ insertOne: { document: bad } }], { skipValidation: true }), 'skipValidation');
    await expectInvalid(() => Pipeline.bulkSave([new Pipeline(bad)], { validateBeforeSave: false }), 'validateBeforeSave');
    // Values mongoose reads the same way (1, 0), and a bulkWrite operation's own option.
    await expectInvalid(() => Pipeline.insertMany([bad], { lean: 1 } as never), 'lean');
    await expectInvalid(() => new Pipeline(bad).save({ validateBeforeSave: 0 } as never), 'validateBeforeSave');
    await expectInvalid(() => Pipeline.bulkWrite([{ insertOne: { document: bad } }], { skipValidation: 1 } as never), 'skipValidation');
    await expectInvalid(() => Pipeline.bulkWrite([{ insertOne: { document: bad, skipValidation: true } }] as never), 'skipValidation');
    expect(await Pipeline.collection.countDocuments({ name: 'Unvalidated' })).toBe(0);
    expect(await Client.collection.countDocuments({ name: 'No secret' })).toBe(0);
  });

  it('insertMany of a loaded or hydrated document is refused (it would write all of it unchecked), and nothing is written', async () => {
    const { Workspace, Connection, User } = db.models;
    const hydrated = [
      Workspace.hydrate({ _id: 'ws_hydrated', name: 'Hydrated', code: 'hydr', status: 'active', allowedOrigins: [], isAdmin: true }),
      Connection.hydrate({ _id: 'cn_hydrated', name: 'Hydrated', type: 'S3', status: 'active', config: { bucket: 'my-bucket', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'plain-secret' } }),
      User.hydrate({ _id: 'usr_hydrated', workspaceId: 'ws_1', username: 'hydrated', roles: ['admin'], status: 'active', passwordHash: 'chosen', passwordSalt: 'chosen' }),
    ];
    for (const doc of hydrated) {
      await expectInvalid(() => (doc.constructor as unknown as { insertMany(docs: unknown[]): Promise<unknown> }).insertMany([doc]), '_id', /new documents/);
    }
    expect(await Workspace.collection.countDocuments({ _id: 'ws_hydrated' as never })).toBe(0);
    expect(await Connection.collection.countDocuments({ _id: 'cn_hydrated' as never })).toBe(0);
    expect(await User.collection.countDocuments({ _id: 'usr_hydrated' as never })).toBe(0);
  });
});
