import fc from 'fast-check';
import mongoose from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import { ConflictError, GRAPH_UPDATE_ATTEMPTS, isLayoutKey, makeModels, nodeId, validatePipelineGraph } from '../../src/index.js';
import { server, useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';
import { isConflict, needsAtomicUpdates, reliabilityTable } from './table.js';

const db = useTestDatabase('lostupdates');
const table = reliabilityTable('lost updates');

const topics = Array.from({ length: 16 }, (_, i) => `t${i}`);
const graph = () => ({
  streams: [{ topic: 'in', type: 'source' as const }, { topic: 'x', type: 'sink' as const }, ...topics.map((topic) => ({ topic, type: 'sink' as const }))],
  transforms: [] as Array<{ type: string; sourceStream: string; targetStream: string }>,
});
const newPipeline = (name: string) => db.models.Pipeline.create({ workspaceId: 'ws_1', name, ...graph() });
const raw = (id: string) => db.models.Pipeline.collection.findOne({ _id: id as never });

describe('Stale saves', () => {
  it('save() of a stale Workspace, Pipeline, Client, Connection or User fails with a ConflictError (VersionError as cause), whatever field changed', async () => {
    const { Workspace, Pipeline, Client, Connection, User } = db.models;
    const user = new User({ workspaceId: 'ws_1', username: 'stale' });
    await user.setPassword('a-long-password');
    const made = [
      await Workspace.create({ name: 'Stale' }),
      await newPipeline('Stale'),
      (await Client.createWithSecret({ name: 'Client' })).client,
      await Connection.create({ name: 'Conn', type: 'HTTP', config: { url: 'https://a.example.com', method: 'POST' } }),
      await user.save(),
    ];
    for (const doc of made) {
      const model = doc.constructor as mongoose.Model<{ name?: string; status: string }>;
      // Its own filter: its id, and its workspace where it has one (the tenant guard).
      const own = doc.get('workspaceId') ? { _id: doc._id, workspaceId: doc.get('workspaceId') } : { _id: doc._id };
      const [first, second] = [await model.findOne(own), await model.findOne(own)];
      const status = first!.status === 'active' ? 'inactive' : 'active';
      first!.set('status', status);
      await first!.save();
      // The stale copy changes another field: mongoose alone versions arrays only, and would have saved it.
      second!.set(model.modelName === 'User' ? 'roles' : 'name', model.modelName === 'User' ? ['admin'] : 'Overwritten');
      const error = await second!.save().then(() => undefined, (e: unknown) => e);
      expect(error, model.modelName).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).cause).toBeInstanceOf(mongoose.Error.VersionError);
      expect((error as ConflictError).message).toContain(model.modelName);
      const stored = await model.collection.findOne({ _id: doc._id as never });
      expect(stored).toMatchObject({ status });
      expect(stored!.name).not.toBe('Overwritten');
      expect(stored!.roles ?? []).not.toContain('admin');
    }
  });

  it('16 concurrent stale saves of one pipeline give 1 success and 15 ConflictErrors, and the stored pipeline is the winner', async (ctx) => {
    needsAtomicUpdates(ctx);
    const p = await newPipeline('Sixteen saves');
    const copies = await Promise.all(topics.map(() => db.models.Pipeline.findOne({ _id: p._id, workspaceId: p.workspaceId }).orFail()));
    copies.forEach((copy, i) => (copy.name = `writer ${i}`));
    const settled = await Promise.all(copies.map((copy) => copy.save().then((saved) => ({ status: 'fulfilled' as const, value: saved.name }), (reason: unknown) => ({ status: 'rejected' as const, reason }))));
    const winners = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const stored = await raw(p._id);
    const row = table.count('16 stale saves of one pipeline', settled, isConflict, winners.length === 1 && stored!.name === winners[0] ? 0 : 1);
    expect(row).toMatchObject({ succeeded: 1, expectedErrors: 15, unexpectedErrors: 0, lostOrHalfWritten: 0 });
  });
});

describe('Layout drags', () => {
  it('16 concurrent drags of 16 different nodes are all kept', async (ctx) => {
    needsAtomicUpdates(ctx);
    const p = await newPipeline('Sixteen drags');
    const settled = await Promise.allSettled(
      topics.map((topic, i) => db.models.Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, { $set: { [`nodePositions.${nodeId('stream', topic)}`]: { x: i, y: -i } } }).exec()),
    );
    const kept = Object.keys((await raw(p._id))!.nodePositions ?? {}).length;
    const row = table.count('16 drags of 16 nodes', settled, () => false, topics.length - kept);
    expect(row).toMatchObject({ succeeded: 16, unexpectedErrors: 0, lostOrHalfWritten: 0 });
  });

  it('drags of one node: the last write wins', async () => {
    const p = await newPipeline('One node');
    const key = `nodePositions.${nodeId('stream', 'in')}`;
    await db.models.Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, { $set: { [key]: { x: 1, y: 1 } } });
    await db.models.Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, { $set: { [key]: { x: 2, y: 3 } } });
    expect((await raw(p._id))!.nodePositions).toEqual({ [nodeId('stream', 'in')]: { x: 2, y: 3 } });
  });

  it("a drag is one round trip to the server, with the node's existence as a condition of its filter", async () => {
    const p = await newPipeline('One trip');
    const conn = await mongoose.createConnection(server.uri, { dbName: db.conn.name, monitorCommands: true, autoIndex: false, autoCreate: false }).asPromise();
    const sent: Array<{ name: string; command: Record<string, unknown> }> = [];
    conn.getClient().on('commandStarted', (e) => e.commandName !== 'endSessions' && sent.push({ name: e.commandName, command: e.command }));
    try {
      await makeModels(conn).Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, { $set: { [`nodePositions.${nodeId('stream', 'x')}`]: { x: 4, y: 5 } } });
    } finally {
      await conn.close();
    }
    expect(sent.map((s) => s.name)).toEqual(['update']);
    expect(JSON.stringify(sent[0]!.command.updates)).toContain('"streams.topic":"x"');
  });

  it('a drag of a node the pipeline does not have is refused naming the path, and nothing is written', async () => {
    const p = await newPipeline('Ghost');
    const path = `nodePositions.${nodeId('stream', 'ghost')}`;
    await expectInvalid(() => db.models.Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, { $set: { [path]: { x: 1, y: 1 } } }).exec(), path, /not a node/);
    await expectInvalid(() => db.models.Pipeline.findOneAndUpdate({ _id: p._id, workspaceId: p.workspaceId }, { $set: { [path]: { x: 1, y: 1 } } }).exec(), path, /not a node/);
    expect((await raw(p._id))!.nodePositions).toEqual({});
  });

  it('__proto__, constructor, prototype and keys that are not node ids are refused as layout keys on every update path, and later saves still work', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Reserved keys');
    const badKeys = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'stream:', 'nope:in', 'stream'), fc.string().filter((k) => !k.includes('.') && !k.startsWith('$') && !isLayoutKey(k)));
    await fc.assert(
      fc.asyncProperty(badKeys, async (key) => {
        const path = `nodePositions.${key}`;
        const update = { $set: { [path]: { x: 1, y: 1 } } };
        await expectInvalid(() => Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, update).exec(), path);
        await expectInvalid(() => Pipeline.findOneAndUpdate({ _id: p._id, workspaceId: p.workspaceId }, update).exec(), path);
        await expectInvalid(() => Pipeline.updateMany({ _id: p._id, workspaceId: p.workspaceId }, update).exec(), path);
        // A whole map from a request body: refused naming the key, or (`__proto__`, `prototype`) dropped by mongoose's
        // own copy of the update before any hook sees it; never stored.
        const whole = { $set: { nodePositions: JSON.parse(JSON.stringify({ [key]: { x: 1, y: 1 } })) } };
        const error = await Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, whole).exec().then(() => undefined, (e: unknown) => e);
        if (error) await expectInvalid(Promise.reject(error), path);
        expect(Object.keys((await raw(p._id))!.nodePositions ?? {})).toEqual([]);
      }),
      { numRuns: 25 },
    );
    expect((await raw(p._id))!.nodePositions).toEqual({});
    const again = await Pipeline.findOne({ _id: p._id, workspaceId: p.workspaceId }).orFail();
    again.name = 'Still saves';
    await again.save();
  });
});

describe('Graph updates through updateOne', () => {
  it('concurrent graph updates never store a state that no writer wrote (each write is checked against the version it replaces)', async (ctx) => {
    needsAtomicUpdates(ctx);
    const p = await newPipeline('Racing graph');
    const base = graph();
    // Each update is sound against the stored pipeline alone; together they would leave a transform writing into
    // a stream that no longer exists.
    const dropX = { $set: { streams: base.streams.filter((s) => s.topic !== 'x') } };
    const writeX = { $set: { transforms: [{ type: 'map', sourceStream: 'in', targetStream: 'x' }] } };
    const settled = await Promise.allSettled(topics.map((_, i) => db.models.Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, i % 2 ? dropX : writeX).exec()));
    const stored = await db.models.Pipeline.findOne({ _id: p._id, workspaceId: p.workspaceId }).lean();
    const sound = validatePipelineGraph(stored!).length === 0;
    const isExpected = (e: unknown) => isConflict(e) || e instanceof mongoose.Error.ValidationError;
    const row = table.count('16 racing graph updates', settled, isExpected, sound ? 0 : 1);
    expect(row).toMatchObject({ unexpectedErrors: 0, lostOrHalfWritten: 0 });
    expect(row.succeeded).toBeGreaterThan(0);
  });

  it('a checked graph update that loses every race fails with a ConflictError after a bounded number of attempts, and writes nothing', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Always stale');
    // Every read the guard makes comes back one version behind, as if another writer had just won each time.
    const findOne = Pipeline.findOne.bind(Pipeline);
    const reads = vi.spyOn(Pipeline, 'findOne').mockImplementation(((...args: Parameters<typeof findOne>) =>
      findOne(...args).transform((doc) => (doc ? { ...doc, __v: ((doc as { __v?: number }).__v ?? 0) - 1 } : doc))) as typeof findOne);
    try {
      const error = await Pipeline.updateOne({ _id: p._id, workspaceId: p.workspaceId }, { $set: { streams: graph().streams.slice(0, 3) } }).exec().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).message).toContain(p._id);
      expect(reads).toHaveBeenCalledTimes(GRAPH_UPDATE_ATTEMPTS);
    } finally {
      reads.mockRestore();
    }
    expect((await raw(p._id))!.streams).toHaveLength(graph().streams.length);
  });
});
