// Secrets that a database dump cannot use, and that nothing but revealSecrets() hands back.
import { randomUUID } from 'node:crypto';
import util from 'node:util';
import fc from 'fast-check';
import mongoose from 'mongoose';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DuplicateKeyError, makeModels, reencryptSecrets, SecretDecryptionError, type Models } from '../../src/index.js';
import { server, TEST_SECRET_KEYS, useTestDatabase } from '../support/db.js';

const db = useTestDatabase('secrets');
const s3 = { bucket: 'events-archive', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE' };
const http = { url: 'https://hooks.example.com/in', method: 'POST' as const };
const otherKey = (byte: number) => Buffer.alloc(32, byte).toString('base64');

/** Another connection to the same database, with its own models and keys (or none). */
const opened: mongoose.Connection[] = [];
async function sameDatabase(secretKeys?: Parameters<typeof makeModels>[1]) {
  const conn = await mongoose.createConnection(server.uri, { dbName: db.conn.name, autoIndex: false, autoCreate: false }).asPromise();
  opened.push(conn);
  return makeModels(conn, secretKeys);
}
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
});

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('Secret keys', () => {
  it('writing a credential with no key configured fails saying how to configure one, and nothing is written; other fields need no key', async () => {
    const saved = process.env.DATA_MODELS_SECRET_KEYS;
    delete process.env.DATA_MODELS_SECRET_KEYS;
    try {
      const { Connection } = await sameDatabase();
      const error = await errorOf(Connection.create({ name: 'No key', type: 'S3', config: { ...s3, secretAccessKey: 'nokey-secret' } }));
      expect(String(error)).toMatch(/DATA_MODELS_SECRET_KEYS/);
      expect(String(error)).toMatch(/secretKeys/);
      expect(String(error)).not.toContain('nokey-secret');
      await expect(Connection.insertMany([{ name: 'No key', type: 'HTTP', config: { ...http, headers: { Authorization: 'x' } } }])).rejects.toThrow(/no key is configured/);
      expect(await db.conn.db!.collection('connections').countDocuments({ name: 'No key' })).toBe(0);
      const plain = await Connection.create({ name: 'No key needed', type: 'HTTP', config: http });
      await Connection.updateOne({ _id: plain._id }, { $set: { name: 'Renamed without a key' } });
      expect((await Connection.findById(plain._id).lean())!.name).toBe('Renamed without a key');
    } finally {
      if (saved !== undefined) process.env.DATA_MODELS_SECRET_KEYS = saved;
    }
  });

  it('DATA_MODELS_SECRET_KEYS gives the keys when makeModels is given none', async () => {
    const saved = process.env.DATA_MODELS_SECRET_KEYS;
    process.env.DATA_MODELS_SECRET_KEYS = JSON.stringify(TEST_SECRET_KEYS);
    try {
      const { Connection } = await sameDatabase();
      const created = await Connection.create({ name: 'Env key', type: 'S3', config: { ...s3, secretAccessKey: 'env-secret' } });
      expect(await created.revealSecrets()).toEqual({ secretAccessKey: 'env-secret' });
      expect(await (await db.models.Connection.findById(created._id))!.revealSecrets()).toEqual({ secretAccessKey: 'env-secret' });
    } finally {
      if (saved === undefined) delete process.env.DATA_MODELS_SECRET_KEYS;
      else process.env.DATA_MODELS_SECRET_KEYS = saved;
    }
  });

  it('makeModels keeps the keys of its first call on a connection: other keys later are an error, none later reuse them', () => {
    expect(makeModels(db.conn)).toBe(db.models);
    expect(makeModels(db.conn, { secretKeys: TEST_SECRET_KEYS })).toBe(db.models);
    expect(() => makeModels(db.conn, { secretKeys: { current: 'k9', keys: { k9: otherKey(9) } } })).toThrow(/other secretKeys/);
    expect(() => makeModels(db.conn, { secretKeys: { current: 'k9', keys: { k9: 'short' } } })).toThrow(/other secretKeys|base64 of 32 bytes/);
  });
});

describe('Encrypted credentials: tampering', () => {
  async function sealed() {
    const created = await db.models.Connection.create({ name: 'Tamper', type: 'HTTP', config: { ...http, headers: { Authorization: 'Bearer tamper-me', 'X-Other': 'other-value' } } });
    const raw = (await db.conn.db!.collection('connections').findOne({ _id: created._id as never }))!;
    return { id: created._id, headers: raw.config.headers as Record<string, string> };
  }
  const reveal = async (models: Models, id: string) => errorOf((await models.Connection.findById(id))!.revealSecrets());
  function expectDecryptionError(error: unknown, id: string, field: string, ...never: string[]) {
    expect(error).toBeInstanceOf(SecretDecryptionError);
    expect((error as SecretDecryptionError).message).toContain(id);
    expect((error as SecretDecryptionError).field).toBe(field);
    for (const value of never) expect(util.inspect(error, { depth: 10 })).not.toContain(value);
  }

  it('a flipped byte does not decrypt: SecretDecryptionError names the connection and the field, never the value', async () => {
    const { id, headers } = await sealed();
    const value = headers.Authorization!;
    const at = value.length - 5;
    const flipped = value.slice(0, at) + (value[at] === 'A' ? 'B' : 'A') + value.slice(at + 1);
    await db.conn.db!.collection('connections').updateOne({ _id: id as never }, { $set: { 'config.headers.Authorization': flipped } });
    expectDecryptionError(await reveal(db.models, id), id, 'config.headers.Authorization', 'tamper-me', flipped, value);
  });

  it('a ciphertext moved to another connection, or to another field, does not decrypt', async () => {
    const a = await sealed();
    const b = await sealed();
    const raw = db.conn.db!.collection('connections');
    await raw.updateOne({ _id: b.id as never }, { $set: { 'config.headers.Authorization': a.headers.Authorization } });
    expectDecryptionError(await reveal(db.models, b.id), b.id, 'config.headers.Authorization', 'tamper-me');
    await raw.updateOne({ _id: a.id as never }, { $set: { 'config.headers.X-Other': a.headers.Authorization } });
    expectDecryptionError(await reveal(db.models, a.id), a.id, 'config.headers.X-Other', 'tamper-me');
    const s3conn = await db.models.Connection.create({ name: 'Tamper S3', type: 'S3', config: { ...s3, secretAccessKey: 'unused' } });
    await raw.updateOne({ _id: s3conn._id as never }, { $set: { 'config.secretAccessKey': a.headers['X-Other'] } });
    expectDecryptionError(await reveal(db.models, s3conn._id), s3conn._id, 'config.secretAccessKey', 'other-value');
  });

  it('a wrong key and a missing key do not decrypt', async () => {
    const { id } = await sealed();
    const wrong = await sameDatabase({ secretKeys: { current: 'test2', keys: { test2: otherKey(7) } } });
    expectDecryptionError(await reveal(wrong, id), id, 'config.headers.Authorization', 'tamper-me');
    const missing = await sameDatabase({ secretKeys: { current: 'test1', keys: { test1: TEST_SECRET_KEYS.keys.test1 } } });
    const error = await reveal(missing, id);
    expectDecryptionError(error, id, 'config.headers.Authorization', 'tamper-me');
    expect((error as Error).message).toMatch(/key "test2" is not configured/);
  });
});

describe('Encrypted credentials: rotation', () => {
  it('values under an older key still read; reencryptSecrets moves them all to the current key; then the old key can go', async () => {
    const old = await sameDatabase({ secretKeys: { current: 'test1', keys: { test1: TEST_SECRET_KEYS.keys.test1 } } });
    const a = await old.Connection.create({ name: 'Old key S3', type: 'S3', config: { ...s3, secretAccessKey: 'rotate-s3' } });
    const b = await old.Connection.create({ name: 'Old key HTTP', type: 'HTTP', config: { ...http, headers: { Authorization: 'rotate-a', 'X-Key': 'rotate-b' } } });
    const raw = db.conn.db!.collection('connections');
    expect((await raw.findOne({ _id: a._id as never }))!.config.secretAccessKey).toMatch(/^aes256gcm:v1:test1:/);
    // Both keys configured, test2 current: the old values still read.
    expect(await (await db.models.Connection.findById(a._id))!.revealSecrets()).toEqual({ secretAccessKey: 'rotate-s3' });
    const moved = await reencryptSecrets(db.models);
    expect(moved.connections).toBeGreaterThanOrEqual(2);
    expect(moved.values).toBeGreaterThanOrEqual(3);
    for (const doc of await raw.find({ _id: { $in: [a._id, b._id] as never[] } }).toArray()) {
      expect(JSON.stringify(doc.config)).not.toMatch(/aes256gcm:v1:test1:/);
    }
    expect(await raw.countDocuments({ 'config.secretAccessKey': { $regex: '^aes256gcm:v1:test1:' } })).toBe(0);
    expect(await reencryptSecrets(db.models)).toEqual({ connections: 0, values: 0 });
    const newOnly = await sameDatabase({ secretKeys: { current: 'test2', keys: { test2: TEST_SECRET_KEYS.keys.test2 } } });
    expect(await (await newOnly.Connection.findById(a._id))!.revealSecrets()).toEqual({ secretAccessKey: 'rotate-s3' });
    expect(await (await newOnly.Connection.findById(b._id))!.revealSecrets()).toEqual({ headers: { Authorization: 'rotate-a', 'X-Key': 'rotate-b' } });
  });
});
