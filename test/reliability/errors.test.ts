import { createRequire } from 'node:module';
import { join } from 'node:path';
import fc from 'fast-check';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import * as contracts from '../../src/contracts/index.js';
import { ConflictError, describeError, nodeId, SecretDecryptionError, TenantScopeError } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('errors');
const SECRET = 'AKIA-SECRET-VALUE-42';

/** The error a write fails with. */
const failure = (write: () => Promise<unknown>) => write().then(() => expect.fail('the write succeeded'), (e: unknown) => e);

describe('Invalid input is one documented error', () => {
  it('an unknown field, in a document or a filter, is a ValidationError naming it', async () => {
    const { Pipeline, Workspace } = db.models;
    await expectInvalid(() => Pipeline.create({ workspaceId: 'ws_1', name: 'P', bogus: SECRET } as never), 'bogus', /not a field/);
    await expectInvalid(() => Pipeline.insertMany([{ workspaceId: 'ws_1', name: 'P', bogus: SECRET }]), 'bogus', /not a field/);
    await expectInvalid(() => Workspace.find({ bogus: SECRET }).exec(), 'bogus', /not a field/);
    await expectInvalid(() => Workspace.updateOne({ _id: 'ws_x' }, { $set: { bogus: SECRET } }).exec(), 'bogus', /not a field/);
    expect(await Pipeline.collection.countDocuments()).toBe(0);
  });

  it('an unknown field inside config is a ValidationError on config.<field>, not "Cast to Embedded failed"', async () => {
    const error = await expectInvalid(
      () => db.models.Connection.create({ name: 'Hook', type: 'HTTP', config: { url: 'https://a.example.com', method: 'POST', nope: SECRET } }),
      'config.nope',
      /not a field/,
    );
    expect(error.message).not.toMatch(/Cast to Embedded/);
    expect(await db.models.Connection.collection.countDocuments()).toBe(0);
  });

  it('a value of the wrong type is a ValidationError naming the path, in documents and in updates, never with the value', async () => {
    const { Pipeline, Connection } = db.models;
    const errors = [
      await expectInvalid(() => Pipeline.create({ workspaceId: 'ws_1', name: 'P', streams: SECRET } as never), 'streams'),
      await expectInvalid(() => Pipeline.updateOne({ _id: 'pl_x', workspaceId: 'ws_x' }, { $set: { status: { secret: SECRET } } }).exec(), 'status'),
      await expectInvalid(() => Connection.updateOne({ _id: 'cn_x' }, { $set: { 'config.secretAccessKey': { secret: SECRET } } }).exec(), 'config.secretAccessKey'),
      await expectInvalid(() => Pipeline.findOne({ workspaceId: 'ws_x', createdAt: { secret: SECRET } } as never).exec(), 'createdAt'),
    ];
    for (const error of errors) {
      expect(error.message).not.toContain(SECRET);
      expect(JSON.stringify(describeError(error))).not.toContain(SECRET);
    }
  });

  it("setPassword('short') is a ValidationError on password, without the password", async () => {
    const user = new db.models.User({ workspaceId: 'ws_1', username: 'ann' });
    const error = await expectInvalid(user.setPassword('short'), 'password');
    expect(error.message).not.toContain('short');
  });

  it("nodeId('stream', {}) is a ValidationError on nodeId (the contracts entry's a TypeError saying what it needs)", () => {
    const error = (() => {
      try {
        return nodeId('stream', {} as unknown as string);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(mongoose.Error.ValidationError);
    expect(Object.keys((error as mongoose.Error.ValidationError).errors)).toEqual(['nodeId']);
    expect(() => contracts.nodeId('stream', {} as unknown as string)).toThrow(/key must be a non-empty string/);
    expect(nodeId('stream', 'orders.raw')).toBe('stream:orders~raw');
  });
});

describe('describeError', () => {
  it('gives 400 with every path for invalid input, 403 tenant scope, 404 not found, 409 duplicate and conflict', async () => {
    const { Workspace } = db.models;
    const invalid = await failure(() => Workspace.create({ name: '', code: 'TOO LONG', status: 'bogus' } as never));
    expect(describeError(invalid)).toEqual({
      status: 400,
      code: 'validation',
      message: expect.stringMatching(/^Invalid input: /),
      fields: { name: expect.any(String), code: expect.any(String), status: expect.any(String) },
    });
    expect(describeError(new TenantScopeError('Pipeline', 'find'))).toMatchObject({ status: 403, code: 'tenant-scope' });
    expect(describeError(await failure(() => Workspace.findById('ws_none').orFail().exec()))).toMatchObject({ status: 404, code: 'not-found' });
    await Workspace.create({ name: 'Taken', code: 'tken' });
    const duplicate = await failure(() => Workspace.create({ name: 'Again', code: 'tken' }));
    expect(describeError(duplicate)).toEqual({ status: 409, code: 'duplicate', message: expect.any(String), fields: { code: 'code is already taken' } });
    expect(describeError(new ConflictError('Pipeline', 'pl_1'))).toMatchObject({ status: 409, code: 'conflict' });
  });

  it('anything else is a 500 with a generic message: no internal detail reaches the client', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.string().map((m) => new Error(m)), fc.string().map((m) => new TypeError(m))), (thrown) => {
        const described = describeError(thrown);
        expect(described).toEqual({ status: 500, code: 'internal', message: 'Internal error', fields: {} });
      }),
    );
    expect(describeError(new SecretDecryptionError('cn_1', 'config.secretAccessKey', 'key k1 is not configured'))).toEqual({
      status: 500,
      code: 'internal',
      message: 'Internal error',
      fields: {},
    });
  });
});

describe('Errors across the CommonJS and ESM copies of the package', () => {
  it('every error class recognises instances made by the other copy, both ways, and describeError maps them alike', async () => {
    const dist = join(import.meta.dirname, '../../dist');
    const cjs = createRequire(import.meta.url)(join(dist, 'index.cjs')) as typeof import('../../src/index.js');
    const esm = (await import(join(dist, 'index.js'))) as typeof import('../../src/index.js');
    expect(cjs.ConflictError).not.toBe(esm.ConflictError);
    const make = (p: typeof esm) => [
      new p.DuplicateKeyError('Workspace', { code: 'acme' }, { cause: new Error('E11000') }),
      new p.ConflictError('Pipeline', 'pl_1'),
      new p.TenantScopeError('Pipeline', 'find'),
      new p.SecretDecryptionError('cn_1', 'config.secretAccessKey', 'tampered'),
    ];
    const classes = (p: typeof esm) => [p.DuplicateKeyError, p.ConflictError, p.TenantScopeError, p.SecretDecryptionError];
    for (const [made, checked] of [[cjs, esm], [esm, cjs]] as const) {
      const errors = make(made);
      classes(checked).forEach((Class, i) => {
        errors.forEach((error, j) => expect(error instanceof Class, `${error.name} instanceof ${Class.name}`).toBe(i === j));
      });
      expect(errors.map((e) => checked.describeError(e).status)).toEqual([409, 409, 403, 500]);
    }
  });
});

