import { randomBytes, scryptSync } from 'node:crypto';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { forWorkspace } from '../../src/index.js';
import { userWithPassword, useTestDatabase } from '../support/db.js';
import { expectDuplicate, expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('user');
const acme = () => forWorkspace(db.models, 'ws_acme');

async function newUser(username: string, workspaceId = 'ws_acme', password = 'p4ssword-long') {
  const user = new db.models.User({ workspaceId, username, roles: ['admin'] });
  await user.setPassword(password);
  await user.save();
  return user;
}

describe('User', () => {
  it('stores workspaceId, username, roles and status, with a usr_ id', async () => {
    const user = await newUser('ann');
    expect(await acme().User.findById(user._id).lean()).toMatchObject({ workspaceId: 'ws_acme', username: 'ann', roles: ['admin'], status: 'active' });
    expect(user._id).toMatch(/^usr_[0-9a-f]{32}$/);
  });

  it('username is unique across the platform, case-insensitively, and the error names it', async () => {
    await newUser('bob');
    const dup = new db.models.User({ workspaceId: 'ws_other', username: ' BOB ' });
    await dup.setPassword('another-password');
    await expectDuplicate(dup.save(), ['username']);
    expect(await db.models.User.countDocuments({ workspaceId: 'ws_other' })).toBe(0);
  });

  it('username is trimmed and lower-cased, in documents and in filters', async () => {
    await newUser('  Carol.Smith@Example.com ');
    const found = await acme().User.findOne({ username: 'CAROL.SMITH@example.com' }).lean();
    expect(found!.username).toBe('carol.smith@example.com');
  });

  it('the password is stored only as a hash, hidden from queries, lean() and JSON', async () => {
    const user = await newUser('dave', 'ws_acme', 'dave-secret-pw');
    const raw = await db.conn.db!.collection('users').findOne({ _id: user._id as never });
    expect(raw!.passwordHash).toBeTypeOf('string');
    expect(JSON.stringify(raw)).not.toContain('dave-secret-pw');
    expect(JSON.stringify(user)).not.toContain(raw!.passwordHash);
    const lean = await acme().User.findById(user._id).lean();
    expect(lean).not.toHaveProperty('passwordHash');
    expect(lean).not.toHaveProperty('passwordSalt');
  });

  it('passwords are hashed with scrypt N=2^17, r=8, p=1, the parameters stored in passwordHash', async () => {
    const user = await newUser('params', 'ws_acme', 'params-password');
    const raw = await db.conn.db!.collection('users').findOne({ _id: user._id as never });
    expect(raw!.passwordHash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/);
  });

  it('a too-short password is a ValidationError on password, and nothing is written', async () => {
    const user = new db.models.User({ workspaceId: 'ws_acme', username: 'shorty' });
    await expectInvalid(user.setPassword('short'), 'password', /8 to 1024/);
    await expectInvalid(user.setPassword(42 as unknown as string), 'password');
    await expectInvalid(user.save(), 'passwordHash');
    expect(await acme().User.countDocuments({ username: 'shorty' })).toBe(0);
  });

  it('authenticate rehashes and saves a password hashed with older parameters', async () => {
    const user = await newUser('legacy', 'ws_acme', 'legacy-password');
    const salt = randomBytes(16);
    const old = scryptSync('legacy-password', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 }).toString('base64url');
    const users = db.conn.db!.collection('users');
    await users.updateOne({ _id: user._id as never }, { $set: { passwordHash: old, passwordSalt: salt.toString('base64url') } });
    expect((await db.models.User.authenticate('legacy', 'legacy-password'))?._id).toBe(user._id);
    const raw = await users.findOne({ _id: user._id as never });
    expect(raw!.passwordHash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/);
    expect((await db.models.User.authenticate('legacy', 'legacy-password'))?._id).toBe(user._id);
    expect(await db.models.User.authenticate('legacy', 'legacy-passwor')).toBeNull();
  });

  it('the user authenticate returns can be changed and saved; the password stays', async () => {
    await newUser('kate', 'ws_acme', 'kate-password');
    const found = (await db.models.User.authenticate('kate', 'kate-password'))!;
    found.roles = ['viewer'];
    await found.save();
    expect((await db.models.User.authenticate('kate', 'kate-password'))?.roles).toEqual(['viewer']);
  });

  it('authenticate checks the password of an active user', async () => {
    await newUser('erin', 'ws_acme', 'erin-password');
    expect((await db.models.User.authenticate('ERIN', 'erin-password'))?.username).toBe('erin');
    expect(await db.models.User.authenticate('erin', 'wrong-password')).toBeNull();
    expect(await db.models.User.authenticate('nobody', 'erin-password')).toBeNull();
    const found = await db.models.User.authenticate('erin', 'erin-password');
    expect(found).toBeInstanceOf(db.models.User);
    expect(found!.passwordHash).toBeUndefined();
    expect(await db.models.User.authenticate({ $ne: null }, 'erin-password')).toBeNull();
  });

  it('workspaceId, username and a password are required; bad input writes nothing', async () => {
    const { User } = db.models;
    await expectInvalid(userWithPassword(db.models, { username: 'nows' }).save(), 'workspaceId', /required/);
    await expectInvalid(userWithPassword(db.models, { workspaceId: 'ws_acme' }).save(), 'username', /required/);
    await expectInvalid(User.create({ workspaceId: 'ws_acme', username: 'nopw' }), 'passwordHash', /setPassword/);
    await expectInvalid(userWithPassword(db.models, { workspaceId: 'ws_acme', username: 'bad name!' }).save(), 'username');
    await expectInvalid(userWithPassword(db.models, { workspaceId: 'ws_acme', username: 'st', status: 'gone' }).save(), 'status');
    expect(await User.countDocuments({ username: mongoose.trusted({ $in: ['nows', 'nopw', 'st'] }) }).setOptions({ allWorkspaces: true })).toBe(0);
  });

  it('a caller cannot write a password hash: create, insertMany, save, updateOne, bulkWrite and replaceOne are refused on the path, and the password still works', async () => {
    const { User } = db.models;
    const user = await newUser('heidi', 'ws_acme', 'heidi-password');
    const raw = () => db.conn.db!.collection('users').findOne({ _id: user._id as never });
    const before = await raw();
    const chosen = { passwordHash: '$scrypt$ln=10,r=1,p=1$AAAA', passwordSalt: 'AAAA' };
    const own = { _id: user._id, workspaceId: 'ws_acme' };
    const loaded = (await User.findOne(own))!;
    loaded.set(chosen);
    for (const [write, path] of [
      [() => User.create({ workspaceId: 'ws_acme', username: 'mallory', roles: ['admin'], ...chosen }), 'passwordHash'],
      [() => User.insertMany([{ workspaceId: 'ws_acme', username: 'mallory', ...chosen }]), 'passwordHash'],
      [() => loaded.save(), 'passwordHash'],
      [() => User.updateOne(own, { $set: chosen }).exec(), 'passwordHash'],
      [() => User.updateOne(own, { $unset: { passwordSalt: 1 } }).exec(), 'passwordSalt'],
      [() => User.bulkWrite([{ updateOne: { filter: own, update: { $set: chosen } } }]), 'passwordHash'],
      [() => User.replaceOne(own, { ...before, ...chosen } as never).exec(), 'passwordHash'],
    ] as const) {
      await expectInvalid(write(), path, /set only by user\.setPassword/);
    }
    expect(await raw()).toEqual(before);
    expect(await User.countDocuments({ username: 'mallory' }).setOptions({ allWorkspaces: true })).toBe(0);
    expect((await User.authenticate('heidi', 'heidi-password'))?._id).toBe(user._id);
  });

  it('a stored hash asking for more work than the current parameters is never run: the login fails, without an error', async () => {
    const user = await newUser('ivan', 'ws_acme', 'ivan-password');
    const users = db.conn.db!.collection('users');
    for (const header of ['$scrypt$ln=20,r=2,p=4$', '$scrypt$ln=21,r=1,p=4$', '$scrypt$ln=18,r=8,p=1$']) {
      await users.updateOne({ _id: user._id as never }, { $set: { passwordHash: `${header}${'A'.repeat(43)}` } });
      expect(await db.models.User.authenticate('ivan', 'ivan-password')).toBeNull();
    }
  });

  it('setPassword counts characters, not UTF-16 units, and refuses control characters', async () => {
    const user = new db.models.User({ workspaceId: 'ws_acme', username: 'judy' });
    await expectInvalid(user.setPassword('😀😀😀😀'), 'password', /8 to 1024/);
    await expectInvalid(user.setPassword('\u0000'.repeat(8)), 'password', /control characters/);
    await expectInvalid(user.setPassword('password\u0085'), 'password', /control characters/);
    await expectInvalid(user.setPassword('a'.repeat(1025)), 'password', /8 to 1024/);
    await user.setPassword('😀'.repeat(1024));
    await user.save();
    expect((await db.models.User.authenticate('judy', '😀'.repeat(1024)))?._id).toBe(user._id);
  });

  it('the workspace virtual populates the user\'s workspace', async () => {
    await db.models.Workspace.create({ _id: 'ws_virtual', name: 'Virtual', code: 'virt' });
    const user = await newUser('frank', 'ws_virtual');
    const populated = await forWorkspace(db.models, 'ws_virtual').User.findById(user._id).populate('workspace');
    expect(populated!.workspace).toMatchObject({ _id: 'ws_virtual', name: 'Virtual' });
  });

  it('workspaceId is immutable: a user cannot move to another tenant', async () => {
    const user = await newUser('gina');
    user.workspaceId = 'ws_else';
    await expectInvalid(user.save(), 'workspaceId', /immutable/);
    const own = { _id: user._id, workspaceId: 'ws_acme' };
    await expect(db.models.User.updateOne(own, { workspaceId: 'ws_else' })).rejects.toThrow(/workspaceId.*immutable/);
    // A user cannot be replaced at all (a replacement would carry its password hash): nothing moves.
    const stored = (await db.models.User.collection.findOne({ _id: user._id as never }))!;
    await expectInvalid(db.models.User.replaceOne(own, { ...stored, workspaceId: 'ws_else' }).exec(), 'workspaceId', /immutable/);
    await expectInvalid(db.models.User.replaceOne(own, { ...stored, roles: ['viewer'] }).exec(), 'passwordHash', /cannot be replaced/);
    expect((await db.models.User.collection.findOne({ _id: user._id as never }))!.workspaceId).toBe('ws_acme');
  });

  it('workspaceId, username and status are indexed', async () => {
    const indexes = await db.models.User.collection.indexes();
    expect(indexes.map((i) => i.key)).toEqual(expect.arrayContaining([{ workspaceId: 1 }, { username: 1 }, { status: 1 }]));
    expect(indexes.find((i) => i.key.username === 1)!.unique).toBe(true);
  });
});
