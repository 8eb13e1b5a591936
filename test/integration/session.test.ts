import fc from 'fast-check';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { forWorkspace, isLive } from '../../src/index.js';
import { needs, useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('session');
const inAnHour = () => new Date(Date.now() + 3_600_000);
const forClient = (principalId = 'cl_shop') => ({ workspaceId: 'ws_1', principalId, principalType: 'client' as const, ttlSeconds: 3600 });
const ws1 = () => forWorkspace(db.models, 'ws_1');

// A user session's principal must be a user of the same workspace.
beforeAll(async () => {
  for (const [_id, workspaceId, username] of [['usr_x', 'ws_1', 'x'], ['usr_chooser', 'ws_1', 'chooser'], ['usr_elsewhere', 'ws_2', 'elsewhere']]) {
    await db.models.User.collection.insertOne({ _id: _id as never, workspaceId, username, roles: [], status: 'active' });
  }
});

describe('Session', () => {
  it('issue returns a session and its token; the _id is a version-8 UUID derived from the token, which is not stored', async () => {
    const { Session } = db.models;
    const before = Date.now();
    const { session, token } = await Session.issue({
      ...forClient(),
      scopes: ['events:write'],
      topics: ['orders.in'],
      context: { ip: '203.0.113.9', nested: { a: [1, 2] } },
    });
    expect(token).toMatch(/^esps_[0-9A-Za-z]{49}$/);
    expect(session._id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const stored = await ws1().Session.findById(session._id).lean();
    expect(stored).toMatchObject({ principalType: 'client', status: 'active', scopes: ['events:write'], context: { ip: '203.0.113.9', nested: { a: [1, 2] } } });
    expect(stored!.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 3_600_000);
    const raw = await db.conn.db!.collection('sessions').findOne({ _id: session._id as never });
    expect(JSON.stringify(raw)).not.toContain(token.slice(5));
  });

  it('verify returns the live session as a plain object, in one query by _id', async () => {
    const { Session } = db.models;
    const { session, token } = await Session.issue({ ...forClient(), scopes: ['a'], topics: ['t'] });
    const findOne = vi.spyOn(Session.collection, 'findOne');
    try {
      const live = await Session.verify(token);
      expect(findOne).toHaveBeenCalledTimes(1);
      expect(findOne.mock.calls[0]![0]).toMatchObject({ _id: session._id });
      expect(live).not.toBeInstanceOf(Session);
      expect(live).toMatchObject({ _id: session._id, workspaceId: 'ws_1', principalId: 'cl_shop', principalType: 'client', scopes: ['a'], topics: ['t'] });
      expect(live!.expiresAt).toBeInstanceOf(Date);
    } finally {
      findOne.mockRestore();
    }
  });

  it('a malformed token gives null without a query', async () => {
    const { Session } = db.models;
    const { token } = await Session.issue(forClient());
    const findOne = vi.spyOn(Session.collection, 'findOne');
    try {
      for (const bad of ['', 'esps_', token.slice(0, -1), `${token}x`, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, token.replace('esps_', 'espc_'), 42, null, { $ne: null }, [token]]) {
        expect(await Session.verify(bad)).toBeNull();
      }
      expect(findOne).not.toHaveBeenCalled();
    } finally {
      findOne.mockRestore();
    }
  });

  it('no write revives a revoked session or moves an expiry past the 90-day cap: save, updateOne ($set, $max, a date as milliseconds), updateMany, bulkWrite, replaceOne', async () => {
    const { Session } = db.models;
    const { session, token } = await Session.issue(forClient('cl_revived'));
    await Session.revoke(session._id);
    const own = { _id: session._id, workspaceId: 'ws_1' };
    const raw = () => db.conn.db!.collection('sessions').findOne({ _id: session._id as never });
    const before = await raw();
    const loaded = (await ws1().Session.findById(session._id))!;
    loaded.status = 'active';
    const far = new Date('2999-01-01');
    for (const [write, path] of [
      [() => loaded.save(), 'status'],
      [() => Session.updateOne(own, { $set: { status: 'active' } }).exec(), 'status'],
      [() => Session.updateOne(own, { $set: { status: { _id: 'active' } } } as never).exec(), 'status'],
      [() => Session.updateOne(own, { status: { toString: () => 'active' } } as never).exec(), 'status'],
      [() => Session.updateMany({ workspaceId: 'ws_1' }, { status: 'active' }).exec(), 'status'],
      [() => Session.bulkWrite([{ updateOne: { filter: own, update: { $set: { status: 'active' } } } }]), 'status'],
      [() => Session.replaceOne(own, { ...before, status: 'active' } as never).exec(), 'status'],
      [() => Session.updateOne(own, { $set: { expiresAt: far } }).exec(), 'expiresAt'],
      [() => Session.bulkWrite([{ updateOne: { filter: own, update: { $set: { expiresAt: far.toISOString() } } } }]), 'expiresAt'],
      [() => Session.updateOne(own, { $set: { expiresAt: String(far.getTime()) } }).exec(), 'expiresAt'],
      [() => Session.updateOne(own, { $max: { expiresAt: far } }).exec(), 'expiresAt'],
    ] as const) {
      await expectInvalid(write(), path);
    }
    expect(await raw()).toEqual(before);
    expect(await Session.verify(token)).toBeNull();
    // Shortening stays possible.
    const live = await Session.issue(forClient('cl_shortened'));
    await Session.updateOne({ _id: live.session._id, workspaceId: 'ws_1' }, { $set: { expiresAt: new Date(Date.now() + 60_000) } });
    expect(await Session.verify(live.token)).not.toBeNull();
  });

  it('an expired or revoked session does not verify; revoke ends one session', async () => {
    const { Session } = db.models;
    const { session, token } = await Session.issue(forClient('cl_revoke'));
    expect(await Session.verify(token)).not.toBeNull();
    expect(await Session.revoke(session._id)).toBe(true);
    expect(await Session.verify(token)).toBeNull();
    expect(await Session.revoke(session._id)).toBe(false);
    const { session: old, token: oldToken } = await Session.issue(forClient('cl_expire'));
    await db.conn.db!.collection('sessions').updateOne({ _id: old._id as never }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await Session.verify(oldToken)).toBeNull();
  });

  it('callers cannot choose _id: create, insertMany, bulkWrite and upserts with an _id are refused, and nothing is written', async () => {
    const { Session } = db.models;
    const chosen = '00000000-0000-4000-8000-000000000001';
    const fields = { workspaceId: 'ws_1', principalId: 'usr_chooser', principalType: 'user' as const, expiresAt: inAnHour() };
    await expectInvalid(Session.create({ _id: chosen, ...fields }), '_id', /Session\.issue/);
    await expectInvalid(Session.insertMany([{ _id: chosen, ...fields }]), '_id', /Session\.issue/);
    // lean insertMany skips validation: refused on every model (issue 10), so no session gets in that way either.
    await expectInvalid(Session.insertMany([{ _id: chosen, ...fields }], { lean: true }), 'lean');
    await expectInvalid(Session.bulkWrite([{ insertOne: { document: { _id: chosen, ...fields } } }]), '_id', /Session\.issue/);
    await expectInvalid(Session.bulkSave([new Session({ _id: chosen, ...fields })]), '_id', /Session\.issue/);
    await expectInvalid(Session.updateOne({ _id: chosen, workspaceId: 'ws_1' }, { $set: { status: 'active' } }, { upsert: true }), '_id', /Session\.issue/);
    await expectInvalid(Session.bulkWrite([{ updateOne: { filter: { _id: chosen, workspaceId: 'ws_1' }, update: { status: 'active' }, upsert: true } }]), '_id', /Session\.issue/);
    await expectInvalid(Session.issue({ ...forClient(), ttlSeconds: 0 }), 'ttlSeconds');
    expect(await db.conn.db!.collection('sessions').countDocuments({ $or: [{ _id: chosen as never }, { principalId: 'usr_chooser' }] })).toBe(0);
  });

  it('principalType is client or user, status active or revoked, workspaceId required', async () => {
    const { Session } = db.models;
    await expectInvalid(Session.issue({ ...forClient('x1'), principalType: 'robot' as 'user' }), 'principalType');
    await expectInvalid(Session.create({ workspaceId: 'ws_1', principalId: 'usr_x', principalType: 'user', status: 'expired' as 'active', expiresAt: inAnHour() }), 'status');
    await expectInvalid(Session.create({ workspaceId: 'ws_1', principalId: 'usr_x', principalType: 'user' }), 'expiresAt', /required/);
    await expectInvalid(Session.issue({ ...forClient('x1'), workspaceId: undefined as unknown as string }), 'workspaceId', /required/);
    expect(await Session.countDocuments({ principalId: mongoose.trusted({ $in: ['x1', 'usr_x'] }) }).setOptions({ allWorkspaces: true })).toBe(0);
  });

  it('a user session is issued only for a user of the session\'s workspace, and nothing is written otherwise', async () => {
    const { Session } = db.models;
    await expectInvalid(Session.issue({ workspaceId: 'ws_1', principalType: 'user', principalId: 'usr_elsewhere', ttlSeconds: 60 }), 'principalId', /ws_1/);
    await expectInvalid(Session.issue({ workspaceId: 'ws_1', principalType: 'user', principalId: 'usr_nobody', ttlSeconds: 60 }), 'principalId');
    expect(await db.conn.db!.collection('sessions').countDocuments({ principalId: { $in: ['usr_elsewhere', 'usr_nobody'] } })).toBe(0);
    const { token } = await Session.issue({ workspaceId: 'ws_1', principalType: 'user', principalId: 'usr_x', ttlSeconds: 60 });
    expect(await Session.verify(token)).toMatchObject({ workspaceId: 'ws_1', principalId: 'usr_x' });
  });

  it('revokeAllFor revokes the live sessions of a principal only and returns how many', async () => {
    const { Session } = db.models;
    const a = await Session.issue(forClient('cl_h'));
    await Session.issue(forClient('cl_h'));
    const expired = await Session.issue(forClient('cl_h'));
    await db.conn.db!.collection('sessions').updateOne({ _id: expired.session._id as never }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    const other = await Session.issue(forClient('cl_other'));
    expect(await Session.revokeAllFor('client', 'cl_h')).toBe(2);
    expect(await Session.verify(a.token)).toBeNull();
    expect(await Session.verify(other.token)).not.toBeNull();
    expect((await ws1().Session.findById(expired.session._id).lean())!.status).toBe('active');
    expect(await Session.revokeAllFor('client', 'cl_h')).toBe(0);
  });

  it('isLive works on documents, lean sessions and verify results', async () => {
    const { Session } = db.models;
    const { session, token } = await Session.issue(forClient('cl_live'));
    expect(session.isLive()).toBe(true);
    expect(isLive(session)).toBe(true);
    expect(isLive((await ws1().Session.findById(session._id).lean())!)).toBe(true);
    expect(isLive((await Session.verify(token))!)).toBe(true);
    expect(isLive((await Session.findLive(session._id))!)).toBe(true);
    expect(isLive(session, new Date(Date.now() + 7_200_000))).toBe(false);
    expect(isLive({ status: 'revoked', expiresAt: inAnHour() })).toBe(false);
  });

  it('verify never throws and never verifies a random string, nor anything in a raw dump of the sessions collection', async () => {
    const { Session } = db.models;
    await Session.issue(forClient('cl_dump'));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'grapheme-ascii', minLength: 54, maxLength: 54 }).map((s) => `esps_${s.slice(5)}`), fc.anything()), async (value) => {
        expect(await Session.verify(value)).toBeNull();
      }),
      { numRuns: 300 },
    );
    const dump = await db.conn.db!.collection('sessions').find().toArray();
    expect(dump.length).toBeGreaterThan(0);
    let tried = 0;
    for (const doc of dump) {
      for (const value of [doc._id, ...Object.values(doc).filter((v) => typeof v === 'string'), `esps_${String(doc._id).replaceAll('-', '')}`]) {
        expect(await Session.verify(value)).toBeNull();
        tried += 1;
      }
    }
    console.log(`raw dump: ${dump.length} sessions, ${tried} stored values tried as tokens, 0 verified`);
  });

  it('the workspace virtual populates the session\'s workspace', async () => {
    await db.models.Workspace.create({ _id: 'ws_s', name: 'Sessions', code: 'sess' });
    const { session } = await db.models.Session.issue({ ...forClient('cl_1'), workspaceId: 'ws_s' });
    const populated = await forWorkspace(db.models, 'ws_s').Session.findById(session._id).populate('workspace');
    expect(populated!.workspace).toMatchObject({ _id: 'ws_s', name: 'Sessions' });
  });

  it('workspaceId, principalType and status are indexed; expiresAt has a TTL index (expireAfterSeconds 0)', async (ctx) => {
    const indexes = await db.models.Session.collection.indexes();
    expect(indexes.map((i) => i.key)).toEqual(expect.arrayContaining([{ workspaceId: 1 }, { principalType: 1 }, { status: 1 }]));
    expect(db.models.Session.schema.indexes()).toContainEqual([{ expiresAt: 1 }, expect.objectContaining({ expireAfterSeconds: 0 })]);
    needs(ctx, 'ttlIndexes', 'the TTL index on expiresAt is built only where the server supports it');
    expect(indexes.find((i) => i.key.expiresAt === 1)).toMatchObject({ expireAfterSeconds: 0 });
  });
});
