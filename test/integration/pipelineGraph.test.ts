import { describe, expect, it } from 'vitest';
import { forWorkspace, nodeId } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('pipelinegraph');
const ws1 = () => forWorkspace(db.models, 'ws_1');

const graph = () => ({
  streams: [
    { topic: 'in', type: 'source' as const },
    { topic: 'out', type: 'sink' as const },
    { topic: 'failed', type: 'dlq' as const },
  ],
  sourceClients: [{ clientId: 'cl_a', streamName: 'in' }],
  sinkConnections: [{ connectionId: 'cn_a', streamName: 'out' }],
  transforms: [{ type: 'map', sourceStream: 'in', targetStream: 'out', failureQueue: 'failed' }],
  nodePositions: { [nodeId('stream', 'in')]: { x: 0, y: 0 } },
});

async function newPipeline(name: string) {
  return db.models.Pipeline.create({ workspaceId: 'ws_1', name, ...graph() });
}

describe('Pipeline graph on the real server', () => {
  it('a bad graph fails create() with every problem on its own path, and nothing is written', async () => {
    const error = await expectInvalid(
      db.models.Pipeline.create({
        workspaceId: 'ws_1',
        name: 'Broken',
        ...graph(),
        transforms: [{ type: 'map', sourceStream: 'in', targetStream: 'in', failureQueue: 'out' }],
        sourceClients: [{ clientId: 'cl_a', streamName: 'nowhere' }],
      }),
      'transforms.0.targetStream',
    );
    expect(error.errors['transforms.0.targetStream']!.kind).toBe('transform-writes-source');
    expect(error.errors['transforms.0.failureQueue']!.kind).toBe('failure-queue-not-dlq');
    expect(error.errors['transforms.0.sourceStream']!.kind).toBe('transform-reads-own-target');
    expect(error.errors['sourceClients.0.streamName']!.kind).toBe('unknown-stream');
    expect(await ws1().Pipeline.countDocuments({ name: 'Broken' })).toBe(0);
  });

  it('a bad graph fails save() of an existing pipeline, and the stored one is unchanged', async () => {
    const p = await newPipeline('Save path');
    p.transforms[0]!.failureQueue = 'out';
    await expectInvalid(p.save(), 'transforms.0.failureQueue');
    expect((await ws1().Pipeline.findById(p._id).lean())!.transforms[0]!.failureQueue).toBe('failed');
  });

  it('insertMany refuses a bad graph and writes nothing', async () => {
    const bad = { workspaceId: 'ws_1', name: 'Many bad', ...graph(), streams: graph().streams.slice(0, 2) };
    await expect(db.models.Pipeline.insertMany([bad])).rejects.toThrow(/failed/);
    expect(await ws1().Pipeline.countDocuments({ name: 'Many bad' })).toBe(0);
  });

  it('updateOne / findOneAndUpdate / updateMany with $set of whole graph fields are checked against the stored graph', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Update path');
    const badStreams = { $set: { streams: [{ topic: 'in', type: 'source' }, { topic: 'out', type: 'sink' }] } };
    await expectInvalid(() => Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, badStreams).exec(), 'transforms.0.failureQueue');
    await expectInvalid(() => Pipeline.findOneAndUpdate({ _id: p._id, workspaceId: 'ws_1' }, badStreams).exec(), 'transforms.0.failureQueue');
    await expectInvalid(() => Pipeline.updateMany({ workspaceId: 'ws_1', name: 'Update path' }, badStreams).exec(), 'transforms.0.failureQueue');
    expect((await ws1().Pipeline.findById(p._id).lean())!.streams).toHaveLength(3);

    const goodStreams = [...graph().streams, { topic: 'extra', type: 'replay' as const }];
    const updated = await Pipeline.findOneAndUpdate({ _id: p._id, workspaceId: 'ws_1' }, { $set: { streams: goodStreams } }, { returnDocument: 'after' }).lean();
    expect(updated!.streams.map((s) => s.topic)).toEqual(['in', 'out', 'failed', 'extra']);
  });

  it('layout entries can be set and unset one by one through updates, and are checked', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Layout path');
    const out = nodeId('stream', 'out');
    await Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $set: { [`nodePositions.${out}`]: { x: 5, y: 6 } } });
    expect((await ws1().Pipeline.findById(p._id).lean())!.nodePositions[out]).toEqual({ x: 5, y: 6 });
    await expectInvalid(
      () => Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $set: { [`nodePositions.${nodeId('stream', 'ghost')}`]: { x: 1, y: 1 } } }).exec(),
      `nodePositions.${nodeId('stream', 'ghost')}`,
    );
    await Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $unset: { [`nodePositions.${out}`]: 1 } });
    expect((await ws1().Pipeline.findById(p._id).lean())!.nodePositions).not.toHaveProperty(out);
  });

  it('a drag of several nodes, two of one kind, writes all of them only when every node exists, also beside a caller condition on the same field', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Layout many');
    const [input, out, ghost] = [nodeId('stream', 'in'), nodeId('stream', 'out'), nodeId('stream', 'ghost')];
    const client = nodeId('client', 'cl_a');
    await Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $set: { [`nodePositions.${input}`]: { x: 1, y: 1 }, [`nodePositions.${out}`]: { x: 2, y: 2 }, [`nodePositions.${client}`]: { x: 3, y: 3 } } });
    await expectInvalid(
      () => Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $set: { [`nodePositions.${out}`]: { x: 9, y: 9 }, [`nodePositions.${ghost}`]: { x: 9, y: 9 } } }).exec(),
      `nodePositions.${ghost}`,
    );
    await Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1', 'streams.topic': 'in' }, { $set: { [`nodePositions.${out}`]: { x: 4, y: 4 } } });
    const missed = await Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1', 'streams.topic': 'nowhere' }, { $set: { [`nodePositions.${out}`]: { x: 5, y: 5 } } });
    expect(missed.matchedCount).toBe(0);
    const raw = await Pipeline.collection.findOne({ name: 'Layout many' });
    expect(raw!.nodePositions).toEqual({ [input]: { x: 1, y: 1 }, [out]: { x: 4, y: 4 }, [client]: { x: 3, y: 3 } });
  });

  it('replaceOne and findOneAndReplace are checked as given', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Replace path');
    const bad = { workspaceId: 'ws_1', name: 'Replace path', ...graph(), streams: [] };
    await expectInvalid(() => Pipeline.replaceOne({ _id: p._id, workspaceId: 'ws_1' }, bad).exec(), 'transforms.0.sourceStream');
    await expectInvalid(() => Pipeline.findOneAndReplace({ _id: p._id, workspaceId: 'ws_1' }, bad).exec(), 'transforms.0.sourceStream');
    expect((await ws1().Pipeline.findById(p._id).lean())!.streams).toHaveLength(3);
  });

  it('array operators and positional paths on graph fields are refused with a clear error, bulkWrite updates too', async () => {
    const { Pipeline } = db.models;
    const p = await newPipeline('Operators');
    await expectInvalid(() => Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $push: { streams: { topic: 'x', type: 'sink' } } }).exec(), 'streams', /\$push/);
    await expectInvalid(() => Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $set: { 'transforms.0.targetStream': 'in' } }).exec(), 'transforms.0.targetStream', /save\(\)/);
    await expectInvalid(() => Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $unset: { streams: 1 } }).exec(), 'streams');
    await expectInvalid(
      () => Pipeline.bulkWrite([{ updateOne: { filter: { _id: p._id, workspaceId: 'ws_1' }, update: { $set: { streams: [] } } } }]),
      'streams',
      /bulkWrite/,
    );
    expect((await ws1().Pipeline.findById(p._id).lean())!.streams).toHaveLength(3);
    // Updates that leave the graph alone are untouched by the guard.
    await Pipeline.updateOne({ _id: p._id, workspaceId: 'ws_1' }, { $set: { name: 'Operators renamed' } });
    expect((await ws1().Pipeline.findById(p._id).lean())!.name).toBe('Operators renamed');
  });

  it('checkLinks reports missing and inactive clients and connections, and nothing for sound links', async () => {
    const { Pipeline, Client, Connection } = db.models;
    await Client.createWithSecret({ _id: 'cl_a', name: 'A' });
    await Connection.create({ _id: 'cn_a', name: 'A', type: 'HTTP', config: { url: 'https://a.example.com', method: 'POST' } });
    const p = await newPipeline('Links');
    expect(await Pipeline.checkLinks(p)).toEqual([]);
    await Client.updateOne({ _id: 'cl_a' }, { status: 'inactive' });
    await Connection.deleteOne({ _id: 'cn_a' });
    const problems = await Pipeline.checkLinks(p);
    expect(problems.map(({ path, code }) => ({ path, code }))).toEqual([
      { path: 'sourceClients.0.clientId', code: 'inactive-client' },
      { path: 'sinkConnections.0.connectionId', code: 'unknown-connection' },
    ]);
  });
});
