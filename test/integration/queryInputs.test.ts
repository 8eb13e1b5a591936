// Query safety whatever shape or options the input comes with (attack 8: H8-11, H8-12, H8-3, M8-5, M8-6, L8-15,
// L8-16, L8-8): class instances (DTOs), bulkWrite per-operation options, the connection's bulkWrite, chaining on a
// forWorkspace notification query, per-query strict and collation, error sizes and statuses. The raw collections
// are read back through the driver.
import fc from 'fast-check';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeError, forWorkspace, TenantScopeError, UnsafeQueryError } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';

const db = useTestDatabase('queryinputs');
const A = 'ws_a';
const B = 'ws_b';
const streams = [{ topic: 'in', type: 'source' as const }];

/** The stored documents of one collection, read through the driver. */
const raw = (collection: string, filter: Record<string, unknown> = {}) => db.conn.db!.collection(collection).find(filter).toArray();

/** The error a call fails with, or undefined when it succeeds. */
async function outcome(call: () => unknown): Promise<unknown> {
  try {
    await call();
    return undefined;
  } catch (error) {
    return error;
  }
}

/** A class such as a NestJS/class-transformer body: the same keys as the plain object, another prototype. */
class Dto {
  constructor(init: object) {
    Object.assign(this, init);
  }
}

beforeAll(async () => {
  const { Pipeline, User, Notification } = db.models;
  await Pipeline.create({ _id: 'pl_a', workspaceId: A, name: 'A pipeline', streams });
  await Pipeline.create({ _id: 'pl_b', workspaceId: B, name: 'B pipeline', streams });
  for (const [_id, workspaceId, username] of [['usr_a', A, 'alice'], ['usr_b', B, 'bob']] as const) {
    const user = new User({ _id, workspaceId, username, roles: ['viewer'] });
    await user.setPassword('correct horse battery staple');
    await user.save();
  }
  await Notification.create({ tenantId: B, channel: 'email', type: 'alert', correlationId: 'b-1', target: { email: 'ceo@b.example' } });
});

describe('class instances (DTOs) are checked like plain objects (H8-11)', () => {
  /** Refused bulkWrite operations, each given as a plain object and as a DTO at every level. */
  const REFUSED_OPS = [
    () => ({ updateOne: { filter: { _id: 'pl_b' }, update: { $set: { name: 'taken' } } } }),
    () => ({ updateMany: { filter: {}, update: { $set: { name: 'taken' } } } }),
    () => ({ deleteMany: { filter: { name: { $ne: null } } } }),
    () => ({ updateOne: { filter: { workspaceId: A, _id: 'pl_a' }, update: { $set: { workspaceId: B } } } }),
  ];
  const dtoLevels = fc.record({ op: fc.boolean(), write: fc.boolean(), update: fc.boolean() });
  const asDto = (op: Record<string, Record<string, unknown>>, levels: { op: boolean; write: boolean; update: boolean }) => {
    const [kind, write] = Object.entries(op)[0]!;
    const w: Record<string, unknown> = { ...write };
    if (levels.update && w.update) w.update = new Dto(w.update as object);
    const wrapped = { [kind]: levels.write ? new Dto(w) : w };
    return levels.op ? new Dto(wrapped) : wrapped;
  };

  it('a bulkWrite operation fails the same way whether its operation, write or update is a plain object or a class instance, and writes nothing', async () => {
    const before = JSON.stringify(await raw('pipelines'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...REFUSED_OPS), dtoLevels, async (make, levels) => {
        const plain = await outcome(() => db.models.Pipeline.bulkWrite([make()] as never));
        const dto = await outcome(() => db.models.Pipeline.bulkWrite([asDto(make() as never, levels)] as never));
        expect(plain).toBeInstanceOf(Error);
        expect((dto as Error).constructor).toBe((plain as Error).constructor);
        expect(JSON.stringify(await raw('pipelines'))).toBe(before);
      }),
      { numRuns: 40 },
    );
  });

  it('User.bulkWrite with a DTO $unset of the password hash is refused', async () => {
    const error = await outcome(() => db.models.User.bulkWrite([{ updateOne: new Dto({ filter: { workspaceId: B, username: 'bob' }, update: { $unset: { passwordHash: 1 } } }) }] as never));
    expect(error).toBeInstanceOf(Error);
    expect(await raw('users', { _id: 'usr_b' })).toMatchObject([{ passwordHash: expect.any(String) }]);
  });

  it('forWorkspace create, insertMany and upserts refuse a DTO naming another workspace, as they refuse the plain object', async () => {
    const acme = forWorkspace(db.models, A);
    await fc.assert(
      fc.asyncProperty(fc.boolean(), async (dto) => {
        const wrap = (value: object) => (dto ? new Dto(value) : value);
        for (const call of [
          () => acme.Pipeline.create(wrap({ workspaceId: B, name: 'moved', streams }) as never),
          () => acme.Pipeline.insertMany([wrap({ workspaceId: B, name: 'moved', streams })] as never),
          () => acme.Notification.create(wrap({ tenantId: B, channel: 'email', type: 'alert', correlationId: 'moved', target: { email: 'x@b.example' } }) as never),
          () => acme.Notification.updateOne({ correlationId: 'moved' }, wrap({ $setOnInsert: { tenantId: B, channel: 'email', type: 'alert' } }) as never, { upsert: true }),
          () => acme.User.updateOne({ _id: 'usr_a' }, wrap({ $set: { workspaceId: B } }) as never),
        ]) {
          expect(await outcome(call)).toBeInstanceOf(TenantScopeError);
        }
        expect(await raw('pipelines', { name: 'moved' })).toEqual([]);
        expect(await raw('notifications', { correlationId: 'moved' })).toEqual([]);
        expect(await raw('users', { _id: 'usr_a', workspaceId: A })).toHaveLength(1);
      }),
      { numRuns: 4 },
    );
  });

  it('a forWorkspace DTO without a workspace is stored in the workspace', async () => {
    const created = (await forWorkspace(db.models, A).Pipeline.create([new Dto({ name: 'from a dto', streams })] as never)) as unknown as Array<{ _id: string }>;
    expect(await raw('pipelines', { _id: created[0]!._id })).toMatchObject([{ workspaceId: A, name: 'from a dto' }]);
  });
});

describe('bulkWrite operation options (H8-12)', () => {
  it('a per-operation sort or hint on a secret is refused (updateOne, replaceOne), as on a query', async () => {
    const { User } = db.models;
    const filter = { workspaceId: B, username: 'bob' };
    for (const op of [
      { updateOne: { filter, update: { $set: { roles: ['admin'] } }, sort: { passwordHash: 1 } } },
      { updateOne: { filter, update: { $set: { roles: ['admin'] } }, sort: [['passwordHash', 1]] } },
      { updateOne: { filter, update: { $set: { roles: ['admin'] } }, hint: { passwordHash: 1 } } },
      { updateOne: { filter, update: { $set: { roles: ['admin'] } }, hint: 'passwordHash_1' } },
      { replaceOne: { filter, replacement: { workspaceId: B, username: 'bob', roles: ['admin'] }, sort: { passwordHash: -1 } } },
    ]) {
      expect(await outcome(() => User.bulkWrite([op] as never))).toBeInstanceOf(UnsafeQueryError);
    }
    expect(await raw('users', { _id: 'usr_b' })).toMatchObject([{ roles: ['viewer'] }]);
  });

  it('a per-operation sort on a plain path is not refused by the package (FerretDB itself lacks per-operation sort)', async () => {
    const op = { updateOne: { filter: { workspaceId: A, _id: 'pl_a' }, update: { $set: { name: 'A pipeline sorted' } }, sort: { name: 1 } } };
    const error = await outcome(() => db.models.Pipeline.bulkWrite([op] as never));
    expect(error).not.toBeInstanceOf(UnsafeQueryError);
    if (error === undefined) expect(await raw('pipelines', { _id: 'pl_a' })).toMatchObject([{ name: 'A pipeline sorted' }]);
  });
});

describe('a collation on a workspace-scoped model is refused (M8-6)', () => {
  const ci = { locale: 'en', strength: 2 };
  it('queries, bulkWrite operations and aggregates of Pipeline, User and Session refuse a collation; so do a forWorkspace notification query and aggregate', async () => {
    const { Pipeline, User, Session } = db.models;
    for (const call of [
      () => Pipeline.find({ workspaceId: 'WS_B' }).collation(ci),
      () => Pipeline.replaceOne({ workspaceId: 'WS_B', _id: 'pl_b' }, { workspaceId: 'WS_B', name: 'moved', streams }, { collation: ci }),
      () => Pipeline.bulkWrite([{ updateOne: { filter: { workspaceId: 'WS_B' }, update: { $set: { name: 'moved' } }, collation: ci } }] as never),
      () => Pipeline.aggregate([{ $match: { workspaceId: 'WS_B' } }]).option({ collation: ci }),
      () => User.countDocuments({ workspaceId: 'WS_B' }).collation(ci),
      () => Session.deleteMany({ workspaceId: 'WS_B' }, { collation: ci }),
      () => forWorkspace(db.models, 'WS_B').Pipeline.find({}).collation(ci),
      () => forWorkspace(db.models, 'WS_B').Notification.find({}).collation(ci),
      () => forWorkspace(db.models, 'WS_B').Notification.aggregate([{ $match: {} }]).collation(ci),
      () => forWorkspace(db.models, 'WS_B').Notification.aggregate([{ $match: {} }], { collation: ci }),
    ]) {
      const error = await outcome(call);
      expect(error).toBeInstanceOf(UnsafeQueryError);
      expect((error as UnsafeQueryError).path).toBe('collation');
    }
    expect(await raw('pipelines', { _id: 'pl_b' })).toMatchObject([{ workspaceId: B, name: 'B pipeline' }]);
  });
});

describe('connection.bulkWrite (H8-3)', () => {
  it("refuses operations on the package's models, by name or by model, naming Model.bulkWrite, and writes nothing", async () => {
    for (const model of ['Pipeline', db.models.Pipeline]) {
      const error = await outcome(() => db.conn.bulkWrite([{ model, name: 'updateMany', filter: {}, update: { $set: { name: 'every workspace' } } }] as never));
      expect(error).toBeInstanceOf(UnsafeQueryError);
      expect((error as Error).message).toContain('Pipeline.bulkWrite()');
    }
    expect(await raw('pipelines', { name: 'every workspace' })).toEqual([]);
  });
});

describe('forWorkspace notification queries stay pinned (M8-5)', () => {
  type Chain = (q: mongoose.Query<unknown, unknown>) => mongoose.Query<unknown, unknown>;
  const CHAINS: Record<string, Chain> = {
    where: (q) => q.where('tenantId', B),
    whereObject: (q) => q.where({ tenantId: B }),
    equals: (q) => q.where('tenantId').equals(B),
    merge: (q) => q.merge({ tenantId: B }),
    setQuery: (q) => {
      q.setQuery({ tenantId: B });
      return q;
    },
    find: (q) => q.find({ tenantId: B }),
    in: (q) => q.where('tenantId').in([A, B]),
  };
  const acme = () => forWorkspace(db.models, A).Notification;
  const OPERATIONS: Record<string, () => mongoose.Query<unknown, unknown>> = {
    find: () => acme().find({}) as never,
    countDocuments: () => acme().countDocuments({}) as never,
    updateMany: () => acme().updateMany({}, { $set: { status: 'failed', error: { message: 'x' } } }) as never,
    deleteMany: () => acme().deleteMany({}) as never,
  };

  it('every chaining method naming another tenant fails with a TenantScopeError, for every operation, and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(OPERATIONS)), fc.constantFrom(...Object.keys(CHAINS)), async (operation, chain) => {
        const error = await outcome(() => CHAINS[chain]!(OPERATIONS[operation]!()).exec());
        expect(error).toBeInstanceOf(TenantScopeError);
      }),
    );
    expect(await raw('notifications', { tenantId: B })).toMatchObject([{ status: 'queued', target: { email: 'ceo@b.example' } }]);
  });

  it('a chained filter on the same tenant still runs', async () => {
    expect(await acme().countDocuments({}).where('tenantId', A).exec()).toBe(0);
  });
});

describe('per-query strict options are refused (L8-15)', () => {
  it('strict: false or strictQuery: false on an update, a query or a bulkWrite is refused and stores nothing', async () => {
    const { User } = db.models;
    const filter = { workspaceId: A, _id: 'usr_a' };
    for (const call of [
      () => User.updateOne(filter, { $set: { isRoot: true } }, { strict: false }),
      () => User.find({ ...filter, isRoot: true }).setOptions({ strictQuery: false }),
      () => User.bulkWrite([{ updateOne: { filter, update: { $set: { isRoot: true } } } }], { strict: false } as never),
      () => User.bulkWrite([{ updateOne: { filter, update: { $set: { isRoot: true } }, strict: false } }] as never),
    ]) {
      expect(await outcome(call)).toBeInstanceOf(UnsafeQueryError);
    }
    expect(await raw('users', { isRoot: { $exists: true } })).toEqual([]);
  });
});

describe('documents made with strict: false', () => {
  it('a constructor or set() with strict: false cannot store an unknown field: ValidationError naming it, nothing stored', async () => {
    const { Workspace, Connection } = db.models;
    type Loose = new (body: object, projection: null, options: object) => { save(): Promise<unknown> };
    const strictOff = { strict: false };
    const user = new db.models.User({ workspaceId: A, username: 'loose' });
    user.set('isRoot', true, strictOff);
    for (const [made, path] of [
      [new (Workspace as unknown as Loose)({ name: 'Loose', isRoot: true }, null, strictOff), 'isRoot'],
      [new (Connection as unknown as Loose)({ name: 'Loose', type: 'HTTP', config: { url: 'https://hooks.example.com/x', method: 'POST', extra: 1 } }, null, strictOff), 'config.extra'],
      [user, 'isRoot'],
    ] as const) {
      const error = await outcome(() => made.save());
      expect(describeError(error)).toMatchObject({ status: 400, fields: { [path]: `${path} is not a field here` } });
    }
    expect(await raw('workspaces', { name: 'Loose' })).toEqual([]);
    expect(await raw('connections', { name: 'Loose' })).toEqual([]);
    expect(await raw('users', { username: 'loose' })).toEqual([]);
  });

  it('a stored document holding a field an older schema declared still saves: the field is left as it is', async () => {
    const { Workspace } = db.models;
    const made = await Workspace.create({ name: 'Older' });
    await db.conn.db!.collection('workspaces').updateOne({ _id: made._id as never }, { $set: { retiredField: 1 } });
    const loaded = await Workspace.findById(made._id);
    loaded!.name = 'Older renamed';
    await loaded!.save();
    expect(await raw('workspaces', { _id: made._id })).toMatchObject([{ name: 'Older renamed', retiredField: 1 }]);
  });
});

describe('errors repeat little of the input and say 400 for input (L8-16, L8-8)', () => {
  const huge = 'x'.repeat(1_000_000);

  it('TenantScopeError and UnsafeQueryError messages stay short whatever the input size', async () => {
    const { Pipeline } = db.models;
    for (const call of [
      () => forWorkspace(db.models, A).Pipeline.find({ workspaceId: huge }),
      () => forWorkspace(db.models, A).Pipeline.find({}).where('workspaceId', huge).exec(),
      () => Pipeline.find({ workspaceId: A, [`$${huge}`]: 1 }).exec(),
    ]) {
      const error = await outcome(call);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message.length).toBeLessThan(1000);
      expect(JSON.stringify(describeError(error)).length).toBeLessThan(2000);
    }
  });

  it("mongoose's own refusals of the caller's input are 400, not 500", async () => {
    const { Session, Pipeline } = db.models;
    await Session.create({ workspaceId: A, principalType: 'user', principalId: 'usr_a', expiresAt: new Date(Date.now() + 3_600_000) });
    for (const call of [
      () => Session.find({ workspaceId: A }).populate({ path: 'principalId', model: 'User', match: { workspaceId: A, $or: [{ $where: 'true' }] } }).exec(),
      () => Pipeline.aggregate([{ $match: { workspaceId: A }, $comment: 'x' } as never]).exec(),
      () => Pipeline.find({ workspaceId: A }, null, { sort: [['name', 1]] as never }).exec(),
    ]) {
      expect(describeError(await outcome(call)).status).toBe(400);
    }
  });
});
