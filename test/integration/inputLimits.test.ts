import fc from 'fast-check';
import mongoose, { type Model } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { describeError, DuplicateKeyError, INPUT_LIMITS } from '../../src/index.js';
import { DEPTH_LIMIT, FILTER_LIST_LIMIT } from '../../src/contracts/limits.js';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('inputlimits');
/** A model typed loosely: these tests write what the types would refuse. */
type Loose = Model<Record<string, unknown>>;

const BIG = 'x'.repeat(5 * 1024 * 1024);
const session = () => ({ workspaceId: 'ws_1', principalId: 'cl_1', principalType: 'client' as const, expiresAt: new Date(Date.now() + 3_600_000) });
const http = () => ({ name: 'Hook', type: 'HTTP' as const, config: { url: 'https://hooks.example.com', method: 'POST' as const, headers: { Authorization: 'Bearer t' } } });

/** The write is refused naming `path`, and the raw collection is as it was (no document changed, none added). */
async function refusedUnchanged(model: Loose, write: () => Promise<unknown>, path: string, message?: RegExp) {
  const before = JSON.stringify(await model.collection.find({}).sort({ _id: 1 }).toArray());
  await expectInvalid(write, path, message);
  expect(JSON.stringify(await model.collection.find({}).sort({ _id: 1 }).toArray())).toBe(before);
}

describe('Input limits on every update operator', () => {
  it('$push, $addToSet, $max, $min and $setOnInsert into a Mixed field are bounded by its size', async () => {
    const Session = db.models.Session as unknown as Loose;
    const { _id } = await db.models.Session.create(session());
    for (const update of [
      { $push: { 'context.list': BIG } },
      { $addToSet: { 'context.list': { $each: [BIG] } } },
      { $max: { context: { z: BIG } } },
      { $min: { 'context.z': BIG } },
      { $set: { 'context.a.b': BIG } },
    ]) {
      await refusedUnchanged(Session, () => Session.updateOne({ _id }, update).exec(), 'context', /too large/);
    }
    await refusedUnchanged(Session, () => Session.updateOne({ _id: 'f5b8f2f0-0000-4000-8000-000000000001' }, { $setOnInsert: { ...session(), context: { z: BIG } } }, { upsert: true }).exec(), 'context', /too large/);
  });

  it("an upsert's filter equality fields are bounded like the values it writes", async () => {
    const Session = db.models.Session as unknown as Loose;
    const Contact = db.models.Contact as unknown as Loose;
    await refusedUnchanged(Session, () => Session.updateOne({ ...session(), context: { z: BIG } }, { $set: { status: 'active' } }, { upsert: true }).exec(), 'context', /too large/);
    const tags = Array.from({ length: INPUT_LIMITS.Contact.tags.items + 1 }, (_, i) => `t${i}`);
    await refusedUnchanged(Contact, () => Contact.updateOne({ tags }, { $set: { source: 'import' } }, { upsert: true }).exec(), 'tags', /at most \d+ items/);
  });

  it("one update adds at most a map's limit of entries, each value within its own limit", async () => {
    const Connection = db.models.Connection as unknown as Loose;
    const { _id } = await db.models.Connection.create(http());
    const many = Object.fromEntries(Array.from({ length: INPUT_LIMITS.Connection['config.headers'].keys + 1 }, (_, i) => [`config.headers.h${i}`, 'v']));
    await refusedUnchanged(Connection, () => Connection.updateOne({ _id }, { $set: many }).exec(), 'config.headers', /at most \d+ entries/);
    const long = 'v'.repeat(INPUT_LIMITS.Connection['config.headers.$*'].chars + 1);
    await refusedUnchanged(Connection, () => Connection.updateOne({ _id }, { $set: { 'config.headers.X-Long': long } }).exec(), 'config.headers.X-Long', /too large/);
    await expectInvalid(db.models.Connection.create({ ...http(), config: { ...http().config, headers: { 'X-Long': long } } }), 'config.headers.X-Long', /too large/);
  });

  it('a list position at or past its limit is refused, with no list padded with nulls', async () => {
    const Contact = db.models.Contact as unknown as Loose;
    const { _id } = await db.models.Contact.create({ tags: ['a'] });
    const limit = INPUT_LIMITS.Contact.tags.items;
    for (const at of [limit, 5_000, 200_000]) {
      await refusedUnchanged(Contact, () => Contact.updateOne({ _id }, { $set: { [`tags.${at}`]: 't' } }).exec(), 'tags', /at most \d+ items/);
    }
    await db.models.Contact.updateOne({ _id }, { $set: { 'tags.0': 'b' } });
    expect((await Contact.collection.findOne({ _id: _id as never }))!.tags).toEqual(['b']);
  });

  it('free-form strings that had no bound are refused over their limit (role, connectorType, transform type, notification type and correlationId)', async () => {
    const Pipeline = db.models.Pipeline as unknown as Loose;
    const Notification = db.models.Notification as unknown as Loose;
    const long = 'r'.repeat(INPUT_LIMITS.Pipeline['sourceClients.role'].chars + 1);
    await refusedUnchanged(Pipeline, () => Pipeline.create({ workspaceId: 'ws_1', name: 'P', streams: [{ topic: 'a', type: 'source' }], sourceClients: [{ clientId: 'cl_1', streamName: 'a', role: long }] }), 'sourceClients.0.role', /too large/);
    const { _id } = await db.models.Pipeline.create({ workspaceId: 'ws_1', name: 'Q' });
    await refusedUnchanged(Pipeline, () => Pipeline.updateOne({ _id }, { $set: { 'transforms.0.type': long } }).exec(), 'transforms.type', /too large/);
    const notification = { channel: 'email', type: 'welcome', correlationId: 'req_1', target: { email: 'a@example.com' } };
    await refusedUnchanged(Notification, () => Notification.create({ ...notification, correlationId: BIG }), 'correlationId', /too large/);
    await refusedUnchanged(Notification, () => Notification.create({ ...notification, type: BIG }), 'type', /too large/);
  });

  it('bulkWrite operations are bounded like single writes', async () => {
    const Contact = db.models.Contact as unknown as Loose;
    const { _id } = await db.models.Contact.create({});
    await refusedUnchanged(Contact, () => Contact.bulkWrite([{ updateOne: { filter: { _id }, update: { $set: { 'attributes.k': BIG } } } }]), 'attributes', /too large/);
    await refusedUnchanged(Contact, () => Contact.bulkWrite([{ updateOne: { filter: { _id }, update: { $set: { 'tags.500': 't' } } } }]), 'tags', /at most \d+ items/);
  });
});

describe('Map keys', () => {
  it('__proto__, constructor and prototype are refused as keys of every map, on every update path', async () => {
    const Connection = db.models.Connection as unknown as Loose;
    const Pipeline = db.models.Pipeline as unknown as Loose;
    const connection = await db.models.Connection.create(http());
    const pipeline = await db.models.Pipeline.create({ workspaceId: 'ws_1', name: 'Keys', streams: [{ topic: 'a', type: 'source' }] });
    // Each document's own filter: its id, and its workspace where it has one (the tenant guard).
    const cases: Array<[Loose, Record<string, unknown>, string]> = [
      [Connection, { _id: connection._id }, 'config.headers'],
      [Pipeline, { _id: pipeline._id, workspaceId: pipeline.workspaceId }, 'nodePositions'],
    ];
    for (const [model, filter, map] of cases) {
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        const value = map === 'nodePositions' ? { x: 1, y: 1 } : 'v';
        const set = { [`${map}.${key}`]: value };
        for (const write of [
          () => model.updateOne(filter, { $set: set }).exec(),
          () => model.updateMany(filter, { $set: set }).exec(),
          () => model.findOneAndUpdate(filter, { $set: set }).exec(),
          () => model.bulkWrite([{ updateOne: { filter, update: { $set: set } } }]),
        ]) {
          await refusedUnchanged(model, write, `${map}.${key}`);
        }
      }
    }
    // The documents stay whole: no reserved key stored, and save() still works (headers are a secret: not selectable).
    const stored = await Connection.collection.findOne({ _id: connection._id as never });
    expect(Object.keys(stored!.config.headers)).toEqual(['Authorization']);
    const reloaded = await db.models.Connection.findById(connection._id);
    reloaded!.name = 'Renamed';
    await expect(reloaded!.save()).resolves.toBeDefined();
  });
});

describe('Error messages', () => {
  // Every string path of every model with a rule that can refuse a string; fast-check picks values that break it.
  const stringPaths: Array<[keyof typeof INPUT_LIMITS, string]> = [
    ['Workspace', 'code'], ['Workspace', 'status'], ['Workspace', 'allowedOrigins.0'], ['Pipeline', 'workspaceId'], ['Pipeline', 'code'],
    ['Connection', 'config.bucket'], ['Connection', 'config.region'], ['Connection', 'config.url'], ['Connection', 'config.method'], ['Connection', 'type'],
    ['User', 'username'], ['User', 'status'], ['Session', '_id'], ['Session', 'principalId'], ['Session', 'principalType'],
    ['Notification', 'target.email'], ['Notification', 'target.slackChannel'], ['Notification', 'channel'], ['Contact', 'email'], ['Contact', 'phone'], ['Contact', 'role'],
  ];

  it('fast-check: no message, and no describeError text, repeats the caller\'s value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...stringPaths), fc.string({ minLength: 12, maxLength: 300 }).map((s) => `Zq!${s}`), async ([model, path], value) => {
        const Model = db.models[model] as unknown as Loose;
        const input: Record<string, unknown> = {};
        const keys = path.split('.');
        keys.reduce<Record<string, unknown>>((at, key, i) => {
          if (i === keys.length - 1) at[key] = value;
          else at[key] = /^\d+$/.test(keys[i + 1]!) ? [] : {};
          return at[key] as Record<string, unknown>;
        }, input);
        const error = await new Model(input).validate().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(mongoose.Error.ValidationError);
        expect((error as Error).message).not.toContain(value);
        expect(JSON.stringify(describeError(error))).not.toContain(value.slice(0, 12));
      }),
      { numRuns: 300 },
    );
  });

  it('a duplicate key through bulkWrite is a DuplicateKeyError, 409 naming the fields', async () => {
    const taken = await db.models.Workspace.create({ name: 'Taken' });
    const error = await db.models.Workspace.bulkWrite([{ insertOne: { document: { name: 'Other', code: taken.code } } }]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateKeyError);
    expect(describeError(error)).toMatchObject({ status: 409, code: 'duplicate', fields: { code: 'code is already taken' } });
  });

  it('an immutable field $set through bulkWrite is a 400 naming its path', async () => {
    const pipeline = await db.models.Pipeline.create({ workspaceId: 'ws_1', name: 'Fixed' });
    const error = await db.models.Pipeline.bulkWrite([{ updateOne: { filter: { _id: pipeline._id, workspaceId: 'ws_1' }, update: { $set: { workspaceId: 'ws_2' } } } }]).then(() => undefined, (e: unknown) => e);
    expect(describeError(error)).toMatchObject({ status: 400, fields: { workspaceId: expect.stringMatching(/immutable/) } });
  });

  it('documents, updates and filters nested too deep, and huge $in lists, are a 400 naming the limit, never a server error', async () => {
    const deep = (n: number): unknown => JSON.parse('{"a":'.repeat(n) + '1' + '}'.repeat(n));
    const Notification = db.models.Notification as unknown as Loose;
    const notification = { channel: 'email', type: 't', correlationId: 'c', target: { email: 'a@example.com' } };
    for (const n of [DEPTH_LIMIT + 1, 1_000, 10_000]) {
      await refusedUnchanged(Notification, () => Notification.create({ ...notification, payload: deep(n) }), 'payload', /levels deep/);
    }
    let filter: Record<string, unknown> = { name: 'x' };
    for (let i = 0; i < 20_000; i++) filter = { $and: [filter] };
    const answers = await Promise.all([
      db.models.Workspace.find(filter).lean().then(() => undefined, (e: unknown) => e),
      db.models.Workspace.find({ name: { $in: Array.from({ length: FILTER_LIST_LIMIT + 1 }, (_, i) => `n${i}`) } }).lean().then(() => undefined, (e: unknown) => e),
      db.models.Session.updateOne({ _id: 'f5b8f2f0-0000-4000-8000-000000000002', workspaceId: 'ws_1' }, { $set: { context: deep(10_000) } }).exec().then(() => undefined, (e: unknown) => e),
    ]);
    for (const answer of answers.slice(0, 2)) expect(describeError(answer)).toMatchObject({ status: 400, fields: { filter: expect.stringMatching(/too large/) } });
    expect(describeError(answers[2])).toMatchObject({ status: 400, fields: { update: expect.stringMatching(/levels deep/) } });
  });
});
