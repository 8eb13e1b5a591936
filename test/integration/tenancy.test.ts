// Tenant isolation: every bypass listed in issue 8, tried against the server, and the raw collections read back
// through the driver.
import fc from 'fast-check';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { forWorkspace, TenantScopeError, UnsafeQueryError } from '../../src/index.js';
import { needs, useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('tenancy');
const inAnHour = () => new Date(Date.now() + 3_600_000);

/** The stored documents of one collection, read through the driver. */
const raw = (collection: string, filter: Record<string, unknown> = {}) => db.conn.db!.collection(collection).find(filter).toArray();

async function newUser(_id: string, workspaceId: string, username: string, roles = ['viewer']) {
  const user = new db.models.User({ _id, workspaceId, username, roles });
  await user.setPassword('tenant-password');
  return user.save();
}

beforeAll(async () => {
  const { Pipeline } = db.models;
  await Pipeline.create({ _id: 'pl_a1', workspaceId: 'ws_a', name: 'A one', code: 'aone' });
  await Pipeline.create({ _id: 'pl_b1', workspaceId: 'ws_b', name: 'B one', code: 'bone' });
  await newUser('usr_a', 'ws_a', 'alice', ['admin']);
  await newUser('usr_b', 'ws_b', 'bob');
  await db.models.Session.create({ workspaceId: 'ws_b', principalType: 'user', principalId: 'usr_b', expiresAt: inAnHour() });
});

/** The error a call fails with (it must fail). */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

async function expectScopeError(call: () => unknown, model: string, operation: string) {
  const error = await failure(call);
  expect(error).toBeInstanceOf(TenantScopeError);
  expect((error as TenantScopeError).message).toContain(`${model}.${operation}`);
}

describe('Tenant guard', () => {
  it('find({}), findById and updateMany({}) fail with a TenantScopeError naming the model and operation, and change nothing', async () => {
    const { Pipeline, User } = db.models;
    await expectScopeError(() => Pipeline.find({}), 'Pipeline', 'find');
    await expectScopeError(() => User.findById('usr_b'), 'User', 'findOne');
    await expectScopeError(() => Pipeline.updateMany({}, { $set: { status: 'active' } }), 'Pipeline', 'updateMany');
    expect((await raw('pipelines')).map((p) => p.status)).toEqual(['inactive', 'inactive']);
  });

  it('every read, count, distinct, update, replace, delete, findOneAnd*, bulkWrite and aggregate must pin one workspace', async () => {
    for (const model of [db.models.Pipeline, db.models.User, db.models.Session] as unknown as mongoose.Model<unknown>[]) {
      const name = model.modelName;
      const calls: Array<[string, () => unknown]> = [
        ['find', () => model.find({ _id: 'x' })],
        ['find', () => model.find({}).cursor().next()],
        ['aggregate', () => model.aggregate([{ $match: {} }]).cursor().next()],
        ['findOne', () => model.findOne({ _id: 'x' })],
        ['countDocuments', () => model.countDocuments({})],
        ['estimatedDocumentCount', () => model.estimatedDocumentCount()],
        ['distinct', () => model.distinct('_id')],
        ['updateOne', () => model.updateOne({ _id: 'x' }, { $set: { status: 'inactive' } })],
        ['replaceOne', () => model.replaceOne({ _id: 'x' }, {})],
        ['deleteOne', () => model.deleteOne({ _id: 'x' })],
        ['deleteMany', () => model.deleteMany({})],
        ['findOneAndUpdate', () => model.findOneAndUpdate({ _id: 'x' }, { $set: { status: 'inactive' } })],
        ['findOneAndDelete', () => model.findOneAndDelete({ _id: 'x' })],
        ['findOneAndReplace', () => model.findOneAndReplace({ _id: 'x' }, {})],
        ['bulkWrite deleteMany', () => model.bulkWrite([{ deleteMany: { filter: {} } }])],
        ['aggregate', () => model.aggregate([{ $match: {} }])],
        ['watch', () => model.watch()],
      ];
      for (const [operation, call] of calls) await expectScopeError(call, name, operation);
    }
    expect(await raw('pipelines')).toHaveLength(2);
    expect(await raw('users')).toHaveLength(2);
    expect(await raw('sessions')).toHaveLength(1);
  });

  it('an array or an operator given for workspaceId does not widen a query to other workspaces', async () => {
    const { Pipeline } = db.models;
    await expectScopeError(() => Pipeline.find({ workspaceId: ['ws_a', 'ws_b'] as unknown as string }), 'Pipeline', 'find');
    await expectScopeError(() => Pipeline.find({ workspaceId: { $ne: 'ws_x' } as unknown as string }), 'Pipeline', 'find');
    await expectScopeError(() => Pipeline.find({ workspaceId: mongoose.trusted({ $in: ['ws_a', 'ws_b'] }) }), 'Pipeline', 'find');
    await expectScopeError(() => Pipeline.find({ $or: [{ workspaceId: 'ws_a' }, { workspaceId: 'ws_b' }] }), 'Pipeline', 'find');
    expect(await Pipeline.find({ workspaceId: { $eq: 'ws_a' } }).lean()).toHaveLength(1);
  });

  it('allWorkspaces: true is the one explicit way out, in query, bulkWrite and aggregate options', async () => {
    const { Pipeline } = db.models;
    expect(await Pipeline.countDocuments({}).setOptions({ allWorkspaces: true })).toBe(2);
    expect(await Pipeline.aggregate([{ $match: {} }, { $count: 'n' }], { allWorkspaces: true })).toEqual([{ n: 2 }]);
    const result = await Pipeline.bulkWrite([{ updateMany: { filter: {}, update: { $set: { name: 'Renamed' } } } }], { allWorkspaces: true });
    expect(result.modifiedCount).toBe(2);
    await Pipeline.bulkWrite([{ updateOne: { filter: { _id: 'pl_a1' }, update: { $set: { name: 'A one' } } } }, { updateOne: { filter: { _id: 'pl_b1' }, update: { $set: { name: 'B one' } } } }], { allWorkspaces: true });
    expect((await raw('pipelines')).map((p) => p.name)).toEqual(['A one', 'B one']);
    // A checked graph update reads the pipelines it checks across workspaces too.
    const graphs = await Pipeline.updateMany({}, { $set: { streams: [{ topic: 'events', type: 'source' }] } }).setOptions({ allWorkspaces: true });
    expect(graphs.modifiedCount).toBe(2);
    await Pipeline.updateMany({}, { $set: { streams: [] } }).setOptions({ allWorkspaces: true });
  });

  it('the middleware option cannot switch the rules off: queries, aggregate, bulkWrite and save refuse it', async () => {
    const { Pipeline, Session } = db.models;
    const skip = { middleware: false } as const;
    await expect(Pipeline.find({}, null, skip)).rejects.toThrow(/middleware option is refused/);
    await expect(Pipeline.find({}).setOptions({ middleware: { pre: false } })).rejects.toThrow(UnsafeQueryError);
    await expect(Pipeline.updateMany({}, { $set: { workspaceId: 'ws_b' } }, skip)).rejects.toThrow(UnsafeQueryError);
    await expect(Pipeline.aggregate([{ $group: { _id: '$workspaceId' } }], skip)).rejects.toThrow(UnsafeQueryError);
    await expect(Pipeline.bulkWrite([{ deleteMany: { filter: {} } }], skip)).rejects.toThrow(UnsafeQueryError);
    const foreign = new Session({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_b', expiresAt: inAnHour() });
    await expect(foreign.save(skip)).rejects.toThrow(/middleware option is refused|principalId must be a user/);
    expect((await raw('pipelines')).map((p) => p.workspaceId)).toEqual(['ws_a', 'ws_b']);
    expect(await raw('sessions', { workspaceId: 'ws_a', principalId: 'usr_b' })).toHaveLength(0);
  });

  it("the package's own global look-ups still work: a session by id, a user by username, revokeAllFor", async () => {
    const { Session, User } = db.models;
    const session = await Session.create({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_a', expiresAt: inAnHour() });
    expect((await Session.findLive(session._id))?.workspaceId).toBe('ws_a');
    expect((await User.authenticate('alice', 'tenant-password'))?._id).toBe('usr_a');
    expect(await Session.revokeAllFor('user', 'usr_a')).toBe(1);
  });
});

describe('workspaceId cannot change or vanish', () => {
  const a1 = { _id: 'pl_a1', workspaceId: 'ws_a' };

  async function expectStillInA() {
    expect((await raw('pipelines', { _id: 'pl_a1' }))[0]).toMatchObject({ workspaceId: 'ws_a', name: 'A one' });
  }

  it('$set, $unset and $rename (either side, or with a $set) of workspaceId are refused', async () => {
    const { Pipeline } = db.models;
    await expectInvalid(() => Pipeline.updateOne(a1, { $set: { workspaceId: 'ws_b' } }).exec(), 'workspaceId', /immutable/);
    await expectInvalid(() => Pipeline.updateOne(a1, { $unset: { workspaceId: 1 } }).exec(), 'workspaceId', /immutable/);
    await expectInvalid(() => Pipeline.updateOne(a1, { $rename: { name: 'workspaceId' } }).exec(), 'workspaceId', /immutable/);
    await expectInvalid(() => Pipeline.updateOne(a1, { $rename: { workspaceId: 'name' } }).exec(), 'workspaceId', /immutable/);
    await expectInvalid(() => Pipeline.updateOne(a1, { $set: { name: 'ws_b' }, $rename: { name: 'workspaceId' } }).exec(), 'workspaceId', /immutable/);
    await expectStillInA();
  });

  it('a pipeline-style update (an array) is refused outright with a clear error', async () => {
    const { Pipeline } = db.models;
    // mongoose refuses an array unless `updatePipeline` is set (a plain error); the package refuses it either way.
    expect(await failure(() => Pipeline.updateOne(a1, [{ $set: { workspaceId: 'ws_b' } }]))).toBeInstanceOf(UnsafeQueryError);
    const error = await failure(() => Pipeline.updateOne(a1, [{ $set: { workspaceId: 'ws_b' } }], { updatePipeline: true }));
    expect(error).toBeInstanceOf(UnsafeQueryError);
    expect((error as Error).message).toMatch(/update pipelines/);
    await expect(Pipeline.bulkWrite([{ updateOne: { filter: a1, update: [{ $set: { workspaceId: 'ws_b' } }] } }])).rejects.toThrow(UnsafeQueryError);
    await expectStillInA();
  });

  it('a replacement may not change or drop workspaceId, in replaceOne, findOneAndReplace and bulkWrite', async () => {
    const { Pipeline, User } = db.models;
    const stored = (await raw('pipelines', { _id: 'pl_a1' }))[0]!;
    await expectInvalid(() => Pipeline.replaceOne(a1, { ...stored, workspaceId: 'ws_b' }).exec(), 'workspaceId', /immutable/);
    await expectInvalid(() => Pipeline.findOneAndReplace(a1, { ...stored, workspaceId: 'ws_b' }).exec(), 'workspaceId', /immutable/);
    await expectStillInA();
    // The bypass that moved a User into another workspace as an admin (it then logged in there).
    // The stored user, as a replacement document (what a caller that read it raw would send back).
    const user = (await raw('users', { _id: 'usr_b' }))[0] as unknown as { username: string; passwordHash: string; passwordSalt: string; status: 'active'; createdAt: Date; updatedAt: Date };
    await expectInvalid(
      () => User.bulkWrite([{ replaceOne: { filter: { _id: 'usr_b', workspaceId: 'ws_b' }, replacement: { ...user, workspaceId: 'ws_a', roles: ['admin'] } } }]),
      'workspaceId',
      /immutable/,
    );
    await expectInvalid(() => User.bulkWrite([{ updateOne: { filter: { _id: 'usr_b', workspaceId: 'ws_b' }, update: { $set: { workspaceId: 'ws_a' } } } }]), 'workspaceId');
    expect((await raw('users', { _id: 'usr_b' }))[0]).toMatchObject({ workspaceId: 'ws_b', roles: ['viewer'] });
    expect((await User.authenticate('bob', 'tenant-password'))?.workspaceId).toBe('ws_b');
  });

  it('save() of a hydrated document, or of one whose workspaceId changed, cannot write to another workspace', async () => {
    const { Pipeline } = db.models;
    const forged = Pipeline.hydrate({ _id: 'pl_b1', workspaceId: 'ws_a', name: 'B one' });
    forged.name = 'Stolen';
    // Its write filter holds the workspace it claims: no document matches, and save() fails.
    await expect(forged.save()).rejects.toThrow(/No document found|No matching document|changed by another writer/);
    const moved = (await Pipeline.findOne(a1))!;
    moved.workspaceId = 'ws_b';
    await expectInvalid(moved.save(), 'workspaceId', /immutable/);
    expect((await raw('pipelines', { _id: 'pl_b1' }))[0]).toMatchObject({ workspaceId: 'ws_b', name: 'B one' });
    await expectStillInA();
  });

  it('an upsert takes workspaceId from the filter, and one that would insert an invalid document is refused', async () => {
    const { Pipeline, User } = db.models;
    await expectScopeError(() => Pipeline.updateOne({ name: 'Upserted' }, { $set: { status: 'inactive' } }, { upsert: true }), 'Pipeline', 'updateOne');
    // Even a cross-workspace job cannot create a pipeline without its workspace.
    await expectInvalid(() => Pipeline.updateOne({ name: 'Upserted' }, { $set: { status: 'inactive' } }, { upsert: true }).setOptions({ allWorkspaces: true }).exec(), 'workspaceId', /required/);
    await expectInvalid(
      () => Pipeline.updateOne({ workspaceId: 'ws_a', name: 'Upserted' }, { $setOnInsert: { workspaceId: 'ws_b' } }, { upsert: true }).exec(),
      'workspaceId',
    );
    await expectInvalid(() => User.updateOne({ workspaceId: 'ws_a', username: 'nopass' }, { $set: { roles: ['admin'] } }, { upsert: true }).exec(), 'passwordHash');
    expect(await raw('users', { username: 'nopass' })).toHaveLength(0);
    await Pipeline.updateOne({ workspaceId: 'ws_a', name: 'Upserted' }, { $set: { status: 'inactive' } }, { upsert: true });
    const [upserted] = await raw('pipelines', { name: 'Upserted' });
    expect(upserted).toMatchObject({ workspaceId: 'ws_a', status: 'inactive' });
    expect(upserted!._id).toMatch(/^pl_/);
    expect(upserted!.code).toMatch(/^[a-z]{4}$/);
    await Pipeline.deleteOne({ workspaceId: 'ws_a', name: 'Upserted' });
  });
});

describe('Session principal', () => {
  it("a user session's principal is a user of the session's workspace; a client's may be in any", async () => {
    const { Session } = db.models;
    await expectInvalid(Session.create({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_b', expiresAt: inAnHour() }), 'principalId', /ws_a/);
    await expectInvalid(Session.create({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_none', expiresAt: inAnHour() }), 'principalId');
    expect(await raw('sessions', { principalId: mongoose.trusted({ $in: ['usr_b', 'usr_none'] }), workspaceId: 'ws_a' })).toHaveLength(0);
    await Session.create({ workspaceId: 'ws_a', principalType: 'client', principalId: 'cl_global', expiresAt: inAnHour() });
    await Session.create({ workspaceId: 'ws_b', principalType: 'client', principalId: 'cl_global', expiresAt: inAnHour() });
    expect(await raw('sessions', { principalId: 'cl_global' })).toHaveLength(2);
  });
});

describe('Notification tenantId', () => {
  it('is not guarded (the notifier drains queues across tenants), cannot change, and forWorkspace scopes by it', async () => {
    const { Notification } = db.models;
    const base = { channel: 'email' as const, type: 'alert', correlationId: 'c-1', target: { email: 'ops@example.com' }, payload: {} };
    const a = await Notification.create({ ...base, tenantId: 'ws_a' });
    await Notification.create({ ...base, tenantId: 'ws_b' });
    expect(await Notification.countDocuments({ status: 'queued' })).toBe(2);
    await expectInvalid(() => Notification.updateOne({ _id: a._id }, { $set: { tenantId: 'ws_b' } }).exec(), 'tenantId', /immutable/);
    expect(await forWorkspace(db.models, 'ws_a').Notification.countDocuments({ status: 'queued' })).toBe(1);
    expect((await raw('notifications', { _id: a._id })).map((n) => n.tenantId)).toEqual(['ws_a']);
  });
});

describe('Writes hit only the document their immutable values were checked against (attack 8)', () => {
  const note = { channel: 'email' as const, type: 'alert', payload: {} };
  /** A whole notification, as a replacement. */
  const body = (fields: { tenantId: string; correlationId: string; target: { email: string } }) => ({ ...note, status: 'queued' as const, createdAt: new Date(), updatedAt: new Date(), ...fields });
  /** The call's error, or undefined when it succeeded (a server may also just match nothing). */
  const outcome = (call: () => Promise<unknown>) => call().then(() => undefined, (e: unknown) => e);

  it('a replacement read with the write’s collation cannot move another tenant’s notification (replaceOne, findOneAndReplace, bulkWrite)', async (ctx) => {
    needs(ctx, 'collation', 'the check must read with the same case-insensitive collation as the write');
    const { Notification } = db.models;
    const theirs = await Notification.create({ ...note, tenantId: 'ws_b', correlationId: 'ORDER-7', target: { email: 'ceo@b.example' } });
    const ci = { locale: 'en', strength: 2 };
    const mine = body({ tenantId: 'ws_a', correlationId: 'order-7', target: { email: 'attacker@a.example' } });
    await expectInvalid(() => Notification.replaceOne({ correlationId: 'order-7' }, mine, { collation: ci }).exec(), 'tenantId', /immutable/);
    await expectInvalid(() => Notification.findOneAndReplace({ correlationId: 'order-7' }, mine, { collation: ci }).exec(), 'tenantId', /immutable/);
    await expectInvalid(() => Notification.bulkWrite([{ replaceOne: { filter: { correlationId: 'order-7' }, replacement: mine, collation: ci } }]), 'tenantId', /immutable/);
    expect(await raw('notifications', { _id: theirs._id })).toMatchObject([{ tenantId: 'ws_b', target: { email: 'ceo@b.example' } }]);
  });

  it('a replacement read with the write’s sort cannot move another tenant’s notification', async () => {
    const { Notification } = db.models;
    await Notification.create({ ...note, tenantId: 'ws_a', correlationId: 's-1', target: { email: 'x@a.example' } });
    const theirs = await Notification.create({ ...note, tenantId: 'ws_b', correlationId: 's-1', target: { email: 'y@b.example' } });
    const mine = body({ tenantId: 'ws_a', correlationId: 's-1', target: { email: 'attacker@a.example' } });
    for (const call of [
      () => Notification.replaceOne({ correlationId: 's-1' }, mine, { sort: { createdAt: -1 } }).exec(),
      () => Notification.findOneAndReplace({ correlationId: 's-1' }, mine, { sort: { createdAt: -1 } }).exec(),
      () => Notification.bulkWrite([{ replaceOne: { filter: { correlationId: 's-1' }, replacement: mine, sort: { createdAt: -1 } } }]),
    ]) {
      await outcome(call);
      expect(await raw('notifications', { _id: theirs._id })).toMatchObject([{ tenantId: 'ws_b', target: { email: 'y@b.example' } }]);
    }
  });

  it('a sorted session replacement cannot hand another user’s session to an admin (replaceOne, findOneAndReplace, bulkWrite)', async () => {
    const { Session } = db.models;
    await newUser('usr_a2', 'ws_a', 'carol');
    // The admin's session first (what an unsorted read finds), carol's expiring later (what the sort picks).
    await Session.create({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_a', expiresAt: inAnHour(), context: { who: 'admin' } });
    const carols = await Session.create({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_a2', expiresAt: new Date(Date.now() + 8 * 3_600_000) });
    const filter = { workspaceId: 'ws_a', status: 'active' as const, principalType: 'user' as const };
    const admin = { workspaceId: 'ws_a', principalType: 'user' as const, principalId: 'usr_a', status: 'active' as const, expiresAt: inAnHour(), scopes: [], topics: [], context: {}, createdAt: new Date(), updatedAt: new Date() };
    for (const call of [
      () => Session.replaceOne(filter, admin, { sort: { expiresAt: -1 } }).exec(),
      () => Session.findOneAndReplace(filter, admin, { sort: { expiresAt: -1 } }).exec(),
      () => Session.bulkWrite([{ replaceOne: { filter, replacement: admin, sort: { expiresAt: -1 } } }]),
    ]) {
      await outcome(call);
      expect((await Session.findLive(carols._id))?.principalId).toBe('usr_a2');
    }
    await Session.deleteMany({ workspaceId: 'ws_a', principalType: 'user' });
  });

  it('a replacement upsert whose filter names the immutable values still inserts (replaceOne, findOneAndReplace, bulkWrite)', async () => {
    const { Notification, Session } = db.models;
    for (const route of ['replaceOne', 'findOneAndReplace', 'bulkWrite'] as const) {
      const correlationId = `upsert-${route}`;
      const filter = { tenantId: 'ws_a', correlationId };
      const replacement = body({ tenantId: 'ws_a', correlationId, target: { email: 'up@a.example' } });
      if (route === 'replaceOne') await Notification.replaceOne(filter, replacement, { upsert: true });
      if (route === 'findOneAndReplace') await Notification.findOneAndReplace(filter, replacement, { upsert: true });
      if (route === 'bulkWrite') await Notification.bulkWrite([{ replaceOne: { filter, replacement, upsert: true } }]);
      expect(await raw('notifications', { correlationId })).toMatchObject([{ tenantId: 'ws_a', target: { email: 'up@a.example' } }]);
    }
    const session = { workspaceId: 'ws_a', principalType: 'client' as const, principalId: 'cl_upsert', status: 'revoked' as const, expiresAt: inAnHour(), scopes: [], topics: [], context: {}, createdAt: new Date(), updatedAt: new Date() };
    // Sessions come from Session.issue only (issue 9): a replacement upsert is refused, whatever its filter names.
    await expectInvalid(() => Session.replaceOne({ workspaceId: 'ws_a', principalType: 'client', principalId: 'cl_upsert' }, session, { upsert: true }).exec(), '_id', /Session\.issue/);
    await expectInvalid(() => Session.bulkWrite([{ replaceOne: { filter: { workspaceId: 'ws_a', principalId: 'cl_upsert' }, replacement: session, upsert: true } }]), '_id', /Session\.issue/);
    expect(await raw('sessions', { principalId: 'cl_upsert' })).toHaveLength(0);
    // Without upsert, a filter that names another immutable value than the replacement is still refused.
    await expectInvalid(() => Session.replaceOne({ workspaceId: 'ws_a', principalId: 'cl_other' }, session).exec(), 'principalId', /filter names/);
    expect(await raw('sessions', { principalId: 'cl_other' })).toHaveLength(0);
  });

  it('a replacement cannot give a tenantless notification the tenant "undefined"', async () => {
    const { Notification } = db.models;
    const tenantless = await Notification.create({ ...note, correlationId: 'no-tenant', target: { email: 'ops@example.com' } });
    await expectInvalid(() => Notification.replaceOne({ _id: tenantless._id }, body({ tenantId: 'undefined', correlationId: 'no-tenant', target: { email: 'ops@example.com' } })).exec(), 'tenantId', /immutable/);
    const [stored] = await raw('notifications', { _id: tenantless._id });
    expect(stored).not.toHaveProperty('tenantId');
  });

  it('save() and bulkSave() of a document that was never loaded (isNew = false) write only where its immutable values are the stored ones', async () => {
    const { Pipeline, User, Session, Notification } = db.models;
    const pipeline = await Pipeline.create({ workspaceId: 'ws_b', name: 'Never loaded', streams: [{ topic: 'b', type: 'source' }] });
    const session = await Session.create({ workspaceId: 'ws_b', principalType: 'user', principalId: 'usr_b', expiresAt: inAnHour() });
    await newUser('usr_b2', 'ws_b', 'dave');
    const notification = await Notification.create({ ...note, tenantId: 'ws_b', correlationId: 'flip', target: { email: 'b@b.example' } });
    const version = async (collection: string, _id: string) => ((await raw(collection, { _id }))[0]!.__v as number | undefined) ?? 0;
    type Forged = mongoose.Document<unknown>;
    const forgeries: Array<() => Promise<Forged>> = [
      async () => new Pipeline({ _id: pipeline._id, workspaceId: 'ws_a', name: 'Taken by A', streams: [{ topic: 'b', type: 'source' }], __v: await version('pipelines', pipeline._id) }),
      async () => {
        const user = new User({ _id: 'usr_b', workspaceId: 'ws_a', username: 'bob', roles: ['admin'], __v: await version('users', 'usr_b') });
        await user.setPassword('attacker password 123');
        return user;
      },
      async () => new Session({ _id: session._id, workspaceId: 'ws_b', principalType: 'user', principalId: 'usr_b2', expiresAt: inAnHour() }),
      async () => new Notification({ _id: notification._id, ...note, tenantId: 'ws_a', correlationId: 'flip', target: { email: 'a@a.example' } }),
    ];
    type BulkSaver = { bulkSave(docs: Forged[]): Promise<unknown> };
    const writes = [(doc: Forged) => doc.save(), (doc: Forged) => (doc.constructor as unknown as BulkSaver).bulkSave([doc])];
    for (const forge of forgeries) {
      for (const write of writes) {
        const doc = await forge();
        doc.isNew = false;
        expect(await outcome(() => write(doc))).toBeInstanceOf(Error);
      }
    }
    expect(await raw('pipelines', { _id: pipeline._id })).toMatchObject([{ workspaceId: 'ws_b', name: 'Never loaded' }]);
    expect(await raw('users', { _id: 'usr_b' })).toMatchObject([{ workspaceId: 'ws_b', roles: ['viewer'] }]);
    expect(await User.authenticate('bob', 'attacker password 123')).toBeNull();
    expect(await raw('sessions', { _id: session._id })).toMatchObject([{ principalId: 'usr_b' }]);
    expect(await raw('notifications', { _id: notification._id })).toMatchObject([{ tenantId: 'ws_b', target: { email: 'b@b.example' } }]);
    // The same idiom with the stored values still updates the document.
    const same = new Notification({ _id: notification._id, ...note, tenantId: 'ws_b', correlationId: 'flip', target: { email: 'b2@b.example' } });
    same.isNew = false;
    await same.save();
    expect(await raw('notifications', { _id: notification._id })).toMatchObject([{ tenantId: 'ws_b', target: { email: 'b2@b.example' } }]);
  });

  it('property: no replacement (any sort direction) and no save()/bulkSave() of a never-loaded document changes a notification’s tenantId', async () => {
    const { Notification } = db.models;
    const tenants = fc.constantFrom('ws_a', 'ws_b', 'undefined', undefined);
    const routes = ['save', 'bulkSave', 'replaceOne', 'findOneAndReplace', 'bulkWrite'] as const;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(tenants, tenants, fc.constantFrom(...routes), fc.constantFrom(1 as const, -1 as const), async (stored, claimed, route, direction) => {
        fc.pre(stored !== claimed);
        const correlationId = `prop-${run++}`;
        const made = [];
        for (const tenantId of [stored, claimed]) made.push(await Notification.create({ ...note, ...(tenantId === undefined ? {} : { tenantId }), correlationId, target: { email: 'n@example.com' } }));
        const victim = made[0]!;
        const replacement = { ...body({ tenantId: 'placeholder', correlationId, target: { email: 'attacker@example.com' } }), tenantId: claimed };
        if (route === 'save' || route === 'bulkSave') {
          const forged = new Notification({ _id: victim._id, ...replacement });
          forged.isNew = false;
          await outcome(() => (route === 'save' ? forged.save() : Notification.bulkSave([forged])));
        } else {
          const sort = { createdAt: direction, _id: direction };
          if (route === 'replaceOne') await outcome(() => Notification.replaceOne({ correlationId }, replacement, { sort }).exec());
          if (route === 'findOneAndReplace') await outcome(() => Notification.findOneAndReplace({ correlationId }, replacement, { sort }).exec());
          if (route === 'bulkWrite') await outcome(() => Notification.bulkWrite([{ replaceOne: { filter: { correlationId }, replacement, sort } }]));
        }
        const after = await raw('notifications', { correlationId });
        expect(Object.fromEntries(after.map((n) => [n._id, n.tenantId ?? null]))).toEqual(Object.fromEntries(made.map((n) => [n._id, n.tenantId ?? null])));
      }),
      { numRuns: 30 },
    );
  });

  it('bulkSave() runs every rule of its documents: no cross-workspace session, no pipeline with a stream twice, nothing written', async () => {
    const { Pipeline, Session } = db.models;
    await expectInvalid(() => Session.bulkSave([new Session({ workspaceId: 'ws_a', principalType: 'user', principalId: 'usr_b', expiresAt: inAnHour() })]), 'principalId', /ws_a/);
    const twice = [{ topic: 'dup', type: 'source' as const }, { topic: 'dup', type: 'source' as const }];
    await expectInvalid(() => Pipeline.bulkSave([new Pipeline({ workspaceId: 'ws_a', name: 'Bulk twice', streams: twice })]), 'streams.1.topic', /twice/);
    expect(await raw('sessions', { workspaceId: 'ws_a', principalId: 'usr_b' })).toHaveLength(0);
    expect(await raw('pipelines', { name: 'Bulk twice' })).toHaveLength(0);
    // Valid documents, new or loaded and changed, are still saved.
    const fresh = new Session({ workspaceId: 'ws_b', principalType: 'user', principalId: 'usr_b', expiresAt: inAnHour() });
    const loaded = (await Session.findOne({ workspaceId: 'ws_b', principalId: 'usr_b', _id: mongoose.trusted({ $ne: fresh._id }) }))!;
    loaded.status = 'revoked';
    await Session.bulkSave([fresh, loaded]);
    expect(await raw('sessions', { _id: mongoose.trusted({ $in: [fresh._id, loaded._id] }) })).toHaveLength(2);
    expect(await raw('sessions', { _id: loaded._id })).toMatchObject([{ status: 'revoked' }]);
  });
});
