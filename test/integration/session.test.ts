import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { forWorkspace } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectDuplicate, expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('session');
const inAnHour = () => new Date(Date.now() + 3_600_000);
const ws1 = () => forWorkspace(db.models, 'ws_1');

// A user session's principal must be a user of the same workspace.
beforeAll(async () => {
  for (const [_id, username] of [['usr_u', 'u'], ['usr_v', 'v'], ['usr_h', 'h'], ['usr_x', 'x']]) {
    await db.models.User.collection.insertOne({ _id: _id as never, workspaceId: 'ws_1', username, roles: [], status: 'active' });
  }
});

describe('Session', () => {
  it('a session gets a UUID _id and stores principal, scopes, topics, context and expiry', async () => {
    const { Session } = db.models;
    const expiresAt = inAnHour();
    const session = await Session.create({
      workspaceId: 'ws_1',
      principalId: 'cl_shop',
      principalType: 'client',
      scopes: ['events:write'],
      topics: ['orders.in'],
      context: { ip: '203.0.113.9', nested: { a: [1, 2] } },
      expiresAt,
    });
    expect(session._id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const stored = await ws1().Session.findById(session._id).lean();
    expect(stored).toMatchObject({ principalType: 'client', status: 'active', scopes: ['events:write'], context: { ip: '203.0.113.9', nested: { a: [1, 2] } } });
    expect(stored!.expiresAt).toEqual(expiresAt);
  });

  it('a given _id must be a UUID; a duplicate one is refused', async () => {
    const { Session } = db.models;
    await expectInvalid(Session.create({ _id: 'not-a-uuid', workspaceId: 'ws_1', principalId: 'usr_u', principalType: 'user', expiresAt: inAnHour() }), '_id', /UUID/);
    const id = randomUUID();
    await Session.create({ _id: id, workspaceId: 'ws_1', principalId: 'usr_u', principalType: 'user', expiresAt: inAnHour() });
    await expectDuplicate(Session.create({ _id: id, workspaceId: 'ws_1', principalId: 'usr_v', principalType: 'user', expiresAt: inAnHour() }), ['_id']);
    expect(await ws1().Session.countDocuments({ principalId: 'usr_v' })).toBe(0);
  });

  it('principalType is client or user, status active or revoked, expiresAt required', async () => {
    const { Session } = db.models;
    await expectInvalid(Session.create({ workspaceId: 'ws_1', principalId: 'x1', principalType: 'robot' as 'user', expiresAt: inAnHour() }), 'principalType');
    await expectInvalid(Session.create({ workspaceId: 'ws_1', principalId: 'usr_x', principalType: 'user', status: 'expired' as 'active', expiresAt: inAnHour() }), 'status');
    await expectInvalid(Session.create({ workspaceId: 'ws_1', principalId: 'usr_x', principalType: 'user' }), 'expiresAt', /required/);
    await expectInvalid(Session.create({ principalId: 'usr_x', principalType: 'user', expiresAt: inAnHour() }), 'workspaceId', /required/);
    expect(await Session.countDocuments({ principalId: mongoose.trusted({ $in: ['x1', 'usr_x'] }) }).setOptions({ allWorkspaces: true })).toBe(0);
  });

  it('findLive finds an active, unexpired session only; revokeAllFor revokes a principal\'s sessions', async () => {
    const { Session } = db.models;
    const live = await Session.create({ workspaceId: 'ws_1', principalId: 'usr_h', principalType: 'user', expiresAt: inAnHour() });
    const expired = await Session.create({ workspaceId: 'ws_1', principalId: 'usr_h', principalType: 'user', expiresAt: new Date(Date.now() - 1000) });
    expect((await Session.findLive(live._id))?._id).toBe(live._id);
    expect(live.isLive()).toBe(true);
    expect(await Session.findLive(expired._id)).toBeNull();
    expect(expired.isLive()).toBe(false);
    const result = await Session.revokeAllFor('user', 'usr_h');
    expect(result.modifiedCount).toBe(2);
    expect(await Session.findLive(live._id)).toBeNull();
  });

  it('the workspace virtual populates the session\'s workspace', async () => {
    await db.models.Workspace.create({ _id: 'ws_s', name: 'Sessions', code: 'sess' });
    const s = await db.models.Session.create({ workspaceId: 'ws_s', principalId: 'cl_1', principalType: 'client', expiresAt: inAnHour() });
    const populated = await forWorkspace(db.models, 'ws_s').Session.findById(s._id).populate('workspace');
    expect(populated!.workspace).toMatchObject({ _id: 'ws_s', name: 'Sessions' });
  });

  it('workspaceId, principalType, status and expiresAt are indexed', async () => {
    const keys = (await db.models.Session.collection.indexes()).map((i) => i.key);
    expect(keys).toEqual(expect.arrayContaining([{ workspaceId: 1 }, { principalType: 1 }, { status: 1 }, { expiresAt: 1 }]));
  });
});
