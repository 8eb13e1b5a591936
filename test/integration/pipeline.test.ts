import { describe, expect, it } from 'vitest';
import { forWorkspace, nodeId } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectDuplicate, expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('pipeline');
const ws1 = () => forWorkspace(db.models, 'ws_1');
const A = nodeId('stream', 'orders.in');
const B = nodeId('client', 'cl_shop');
const C = nodeId('transform', 'orders.clean');

const graph = () => ({
  streams: [
    { topic: 'orders.in', type: 'source' as const, description: 'raw orders' },
    { topic: 'orders.clean', type: 'sink' as const },
    { topic: 'orders.dlq', type: 'dlq' as const },
  ],
  sourceClients: [{ clientId: 'cl_shop', role: 'producer', connectorType: 'http', streamName: 'orders.in' }],
  sinkConnections: [{ connectionId: 'cn_hook', connectorType: 'http', streamName: 'orders.clean' }],
  transforms: [
    { type: 'jsonata', sourceStream: 'orders.in', targetStream: 'orders.clean', failureQueue: 'orders.dlq', expression: '$' },
  ],
});

describe('Pipeline', () => {
  it('stores streams, source clients, sink connections and transforms as given', async () => {
    const { Pipeline } = db.models;
    const created = await Pipeline.create({ workspaceId: 'ws_1', name: 'Orders', code: 'ordr', ...graph() });
    const stored = await ws1().Pipeline.findById(created._id).lean();
    expect(stored).toMatchObject({ workspaceId: 'ws_1', name: 'Orders', code: 'ordr', status: 'inactive', ...graph() });
    expect(stored!.transforms[0]!.isPaused).toBe(false);
    expect(created._id).toMatch(/^pl_[0-9a-f]{32}$/);
  });

  it('nodePositions is a map of {x, y} that round-trips through the server', async () => {
    const { Pipeline } = db.models;
    const created = await Pipeline.create({
      workspaceId: 'ws_1',
      name: 'Layout',
      ...graph(),
      nodePositions: { [A]: { x: 10, y: -4.5 }, [B]: { x: 0, y: 0 } },
    });
    const stored = await ws1().Pipeline.findById(created._id);
    expect(stored!.nodePositions.get(A)).toMatchObject({ x: 10, y: -4.5 });
    expect(Object.fromEntries([...stored!.nodePositions].map(([k, v]) => [k, { x: v.x, y: v.y }]))).toEqual({
      [A]: { x: 10, y: -4.5 },
      [B]: { x: 0, y: 0 },
    });
    stored!.set(`nodePositions.${C}`, { x: 1, y: 2 });
    await stored!.save();
    expect((await ws1().Pipeline.findById(created._id).lean())!.nodePositions).toEqual({ [A]: { x: 10, y: -4.5 }, [B]: { x: 0, y: 0 }, [C]: { x: 1, y: 2 } });
  });

  it('a node position needs finite x and y', async () => {
    await expectInvalid(db.models.Pipeline.create({ workspaceId: 'ws_1', name: 'Bad layout', ...graph(), nodePositions: { [A]: { x: 1 } } }), `nodePositions.${A}.y`);
    await expectInvalid(
      db.models.Pipeline.create({ workspaceId: 'ws_1', name: 'Bad layout', ...graph(), nodePositions: { [A]: { x: Infinity, y: 0 } } }),
      `nodePositions.${A}.x`,
    );
    expect(await ws1().Pipeline.countDocuments({ name: 'Bad layout' })).toBe(0);
  });

  it('a node position has x and y only: another field is refused on its path, on create, save and a drag', async () => {
    const { Pipeline } = db.models;
    const layout = (position: object) => ({ workspaceId: 'ws_1', name: 'Odd layout', ...graph(), nodePositions: { [A]: position } });
    await expectInvalid(Pipeline.create(layout({ x: 1, y: 2, z: 3 })), `nodePositions.${A}.z`, /not a field here/);
    await expectInvalid(Pipeline.create(layout(JSON.parse('{ "x": 1, "y": 2, "__proto__": { "x": 1 } }') as object)), `nodePositions.${A}.__proto__`);
    const stored = await Pipeline.create(layout({ x: 1, y: 2 }));
    stored.set(`nodePositions.${B}`, { x: 1, y: 2, label: 'shop' });
    await expectInvalid(stored.save(), `nodePositions.${B}.label`);
    await expectInvalid(Pipeline.updateOne({ _id: stored._id, workspaceId: 'ws_1' }, { $set: { [`nodePositions.${A}`]: { x: 5, y: 6, z: 7 } } }).exec(), `nodePositions.${A}.z`);
    const raw = await Pipeline.collection.find({ name: 'Odd layout' }).toArray();
    expect(raw.map((p) => p.nodePositions)).toEqual([{ [A]: { x: 1, y: 2 } }]);
  });

  it("a node position's coordinates are cast like numbers, and the caller's object is copied, not kept", async () => {
    const { Pipeline } = db.models;
    const position = { x: '12', y: 3.5 };
    // As an untyped request body gives it.
    const created = await Pipeline.create({ workspaceId: 'ws_1', name: 'Cast layout', ...graph(), nodePositions: { [A]: position } as never });
    position.y = 99;
    expect(created.nodePositions.get(A)).toEqual({ x: 12, y: 3.5 });
    expect((await Pipeline.collection.findOne({ name: 'Cast layout' }))!.nodePositions).toEqual({ [A]: { x: 12, y: 3.5 } });
    await expectInvalid(Pipeline.create({ workspaceId: 'ws_1', name: 'Cast layout', ...graph(), nodePositions: { [A]: { x: 'left', y: 0 } } as never }), `nodePositions.${A}.x`);
    expect(await Pipeline.countDocuments({ workspaceId: 'ws_1', name: 'Cast layout' })).toBe(1);
  });

  it("a sub-document's field rules give mongoose's own path, message and kind, each once, beside the graph's problems", async () => {
    const { Pipeline } = db.models;
    const error = await expectInvalid(
      Pipeline.create({ workspaceId: 'ws_1', name: 'Rules', ...graph(), streams: [{ type: 'source' }, { topic: 'a b', type: 'queue' }] } as never),
      'streams.0.topic',
    );
    const entries = Object.entries(error.errors).map(([path, e]) => [path, e.message, e.kind]);
    expect(entries).toEqual(
      expect.arrayContaining([
        ['streams.0.topic', 'Path `topic` is required.', 'required'],
        // The message names the path, not the value (issue 10, M5).
        ['streams.1.topic', 'topic is not a stream topic (1-249 of A-Z a-z 0-9 . _ -)', 'user defined'],
        ['streams.1.type', '`queue` is not a valid enum value for path `type`.', 'enum'],
        ['transforms.0.sourceStream', '"orders.in" is not a stream of this pipeline', 'unknown-stream'],
      ]),
    );
    expect(error.message.split('Path `topic` is required.')).toHaveLength(2);
    expect(await Pipeline.countDocuments({ workspaceId: 'ws_1', name: 'Rules' })).toBe(0);
  });

  it('a second transform with the same targetStream is refused and nothing is written', async () => {
    const g = graph();
    const error = await expectInvalid(
      db.models.Pipeline.create({
        workspaceId: 'ws_1',
        name: 'Twice',
        ...g,
        transforms: [g.transforms[0]!, { type: 'filter', sourceStream: 'orders.in', targetStream: 'orders.clean' }],
      }),
      'transforms.1.targetStream',
    );
    expect(error.errors['transforms.1.targetStream']!.kind).toBe('duplicate-target');
    expect(await ws1().Pipeline.countDocuments({ name: 'Twice' })).toBe(0);
  });

  it('stream type is one of source|sink|dlq|replay', async () => {
    await expectInvalid(
      db.models.Pipeline.create({ workspaceId: 'ws_1', name: 'Bad type', streams: [{ topic: 't', type: 'queue' as 'source' }] }),
      'streams.0.type',
    );
    expect(await ws1().Pipeline.countDocuments({ name: 'Bad type' })).toBe(0);
  });

  it('workspaceId, name and every sub-document reference are required', async () => {
    const { Pipeline } = db.models;
    await expectInvalid(Pipeline.create({ name: 'No ws' }), 'workspaceId', /required/);
    await expectInvalid(Pipeline.create({ workspaceId: 'ws_1', name: 'No client', sourceClients: [{ streamName: 'x' }] }), 'sourceClients.0.clientId');
    await expectInvalid(Pipeline.create({ workspaceId: 'ws_1', name: 'No conn', sinkConnections: [{ streamName: 'x' }] }), 'sinkConnections.0.connectionId');
    await expectInvalid(Pipeline.create({ workspaceId: 'ws_1', name: 'No target', transforms: [{ type: 'x', sourceStream: 'a' }] }), 'transforms.0.targetStream');
    expect(await ws1().Pipeline.countDocuments({ name: /^No / })).toBe(0);
  });

  it('code is 4 lowercase letters, unique within a workspace, and the same code may live in another workspace', async () => {
    const { Pipeline } = db.models;
    await expectInvalid(Pipeline.create({ workspaceId: 'ws_1', name: 'Bad code', code: 'Ab12' }), 'code');
    await Pipeline.create({ workspaceId: 'ws_1', name: 'Billing', code: 'bill' });
    await expectDuplicate(Pipeline.create({ workspaceId: 'ws_1', name: 'Billing again', code: 'bill' }), ['workspaceId', 'code']);
    const other = await Pipeline.create({ workspaceId: 'ws_2', name: 'Billing', code: 'bill' });
    expect(other.code).toBe('bill');
    expect(await ws1().Pipeline.countDocuments({ name: /^Bad code|Billing again$/ })).toBe(0);
  });

  it('a pipeline without code gets one derived from its name, free within its workspace', async () => {
    const { Pipeline } = db.models;
    const a = await Pipeline.create({ workspaceId: 'ws_3', name: 'Events' });
    const b = await Pipeline.create({ workspaceId: 'ws_3', name: 'Events v2' });
    expect(a.code).toBe('even');
    expect(b.code).toMatch(/^[a-z]{4}$/);
    expect(b.code).not.toBe('even');
  });

  it('workspaceId is indexed and links to the workspace', async () => {
    const { Pipeline, Workspace } = db.models;
    await Workspace.create({ _id: 'ws_pop', name: 'Populated', code: 'popu' });
    const p = await Pipeline.create({ workspaceId: 'ws_pop', name: 'Linked' });
    const populated = await forWorkspace(db.models, 'ws_pop').Pipeline.findById(p._id).populate<{ workspaceId: { name: string } }>('workspaceId');
    expect(populated!.workspaceId.name).toBe('Populated');
    const keys = (await Pipeline.collection.indexes()).map((i) => i.key);
    expect(keys).toContainEqual({ workspaceId: 1 });
    expect(keys).toContainEqual({ workspaceId: 1, code: 1 });
  });
});
