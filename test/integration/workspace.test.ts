import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { needs, useTestDatabase } from '../support/db.js';
import { expectDuplicate, expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('workspace');

describe('Workspace', () => {
  it('the seed usage example creates ws_1 "Acme" and it reads back from the server', async () => {
    const { models } = db;
    const workspace = await models.Workspace.create({ _id: 'ws_1', name: 'Acme' });
    expect(workspace._id).toBe('ws_1');
    const stored = await models.Workspace.findById('ws_1').lean();
    expect(stored).toMatchObject({ _id: 'ws_1', name: 'Acme', code: 'acme', status: 'active', allowedOrigins: [] });
    expect(stored!.createdAt).toBeInstanceOf(Date);
  });

  it('a workspace without code gets the code its name gives, or a free random one when that is taken', async () => {
    const { models } = db;
    const first = await models.Workspace.create({ name: 'Globex Corp' });
    const second = await models.Workspace.create({ name: 'Globex Inc' });
    const short = await models.Workspace.create({ name: 'X1' });
    expect(first.code).toBe('glob');
    expect(second.code).toMatch(/^[a-z]{4}$/);
    expect(second.code).not.toBe('glob');
    expect(short.code).toMatch(/^[a-z]{4}$/);
    const codes = await models.Workspace.distinct('code');
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('a generated _id follows the ws_<uuid> scheme', async () => {
    const workspace = await db.models.Workspace.create({ name: 'Initech', code: 'init' });
    expect(workspace._id).toMatch(/^ws_[0-9a-f]{32}$/);
  });

  it('code must be 4 lowercase letters a-z: nothing written otherwise', async () => {
    const { Workspace } = db.models;
    for (const code of ['abc', 'abcde', 'ABCD', 'ab1d', 'ab d']) {
      await expectInvalid(Workspace.create({ _id: `ws_bad_${code.replace(/\W/g, '_')}`, name: 'Bad', code }), 'code', /4 lowercase letters/);
    }
    expect(await Workspace.countDocuments({ name: 'Bad' })).toBe(0);
  });

  it('code is unique, enforced by the server, and the error names the field', async () => {
    const { Workspace } = db.models;
    await Workspace.create({ _id: 'ws_u1', name: 'Umbrella', code: 'umbr' });
    await expectDuplicate(Workspace.create({ _id: 'ws_u2', name: 'Umbrella 2', code: 'umbr' }), ['code']);
    await expectDuplicate(Workspace.insertMany([{ _id: 'ws_u3', name: 'Umbrella 3', code: 'umbr' }]), ['code']);
    expect(await Workspace.exists({ _id: mongoose.trusted({ $in: ['ws_u2', 'ws_u3'] }) })).toBeNull();
  });

  it('an update to a taken code is refused, and the error names the field', async (test) => {
    const { Workspace } = db.models;
    await Workspace.create({ _id: 'ws_u5', name: 'Umbrella 5', code: 'umbs' });
    await Workspace.create({ _id: 'ws_u6', name: 'Umbrella 6', code: 'umbt' });
    await expect(Workspace.updateOne({ _id: 'ws_u6' }, { code: 'umbs' }).exec()).rejects.toThrow();
    expect((await Workspace.findById('ws_u6').lean())!.code).toBe('umbt');
    needs(test, 'duplicateKeyOnUpdate', 'the server must report E11000 for an update to be named a DuplicateKeyError');
    await expectDuplicate(Workspace.updateOne({ _id: 'ws_u6' }, { code: 'umbs' }).exec(), ['code']);
  });

  it('a duplicate _id is refused with an error naming _id', async () => {
    await expectDuplicate(db.models.Workspace.create({ _id: 'ws_1', name: 'Again', code: 'agai' }), ['_id']);
    expect(await db.models.Workspace.countDocuments({ name: 'Again' })).toBe(0);
  });

  it('status is active or inactive, active by default', async () => {
    const { Workspace } = db.models;
    await expectInvalid(Workspace.create({ name: 'Paused', code: 'paus', status: 'paused' as 'active' }), 'status');
    expect(await Workspace.countDocuments({ code: 'paus' })).toBe(0);
    const inactive = await Workspace.create({ name: 'Off', code: 'offf', status: 'inactive' });
    expect((await Workspace.findById(inactive._id).lean())!.status).toBe('inactive');
  });

  it('status is indexed on the server', async () => {
    const indexes = await db.models.Workspace.collection.indexes();
    expect(indexes.map((i) => i.key)).toContainEqual({ status: 1 });
    expect(indexes.find((i) => i.key.code === 1)?.unique).toBe(true);
  });

  it('name is required and trimmed', async () => {
    const { Workspace } = db.models;
    await expectInvalid(Workspace.create({ code: 'noname' as string }), 'name', /required/);
    await expectInvalid(Workspace.create({ name: '   ', code: 'blan' }), 'name');
    const trimmed = await Workspace.create({ name: '  Hooli  ', code: 'hool' });
    expect((await Workspace.findById(trimmed._id).lean())!.name).toBe('Hooli');
  });

  it('allowedOrigins holds origins only (scheme://host[:port])', async () => {
    const { Workspace } = db.models;
    const ok = await Workspace.create({ name: 'Origins', code: 'orig', allowedOrigins: ['https://app.example.com', 'http://localhost:5173'] });
    expect((await Workspace.findById(ok._id).lean())!.allowedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    await expectInvalid(Workspace.create({ name: 'Bad origin', code: 'bado', allowedOrigins: ['https://app.example.com/path'] }), 'allowedOrigins.0');
    await expectInvalid(Workspace.create({ name: 'Bad origin', code: 'badp', allowedOrigins: ['ftp://x.example.com'] }), 'allowedOrigins.0');
    expect(await Workspace.countDocuments({ name: 'Bad origin' })).toBe(0);
  });

  it('an unknown field is an error, not silently dropped', async () => {
    const { Workspace } = db.models;
    await expect(Workspace.create({ name: 'Typo', code: 'typo', stauts: 'active' } as never)).rejects.toThrow(/stauts/);
    expect(await Workspace.countDocuments({ code: 'typo' })).toBe(0);
  });

  it('an unknown field in a filter is an error, never a filter that matches every tenant', async () => {
    await expect(db.models.Workspace.find({ workspaceID: 'ws_1' } as never)).rejects.toThrow(/workspaceID/);
  });
});
