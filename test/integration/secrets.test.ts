// Secrets that a database dump cannot use, and that nothing but revealSecrets() hands back.
import { randomUUID } from 'node:crypto';
import util from 'node:util';
import fc from 'fast-check';
import mongoose from 'mongoose';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DuplicateKeyError, makeModels, reencryptSecrets, SecretDecryptionError, type Models } from '../../src/index.js';
import { server, TEST_SECRET_KEYS, useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('secrets');
// Connection always sends a projection (its hidden fields), so findOneAndUpdate/findOneAndReplace of a Connection
// fail on a server without findAndModifyProjection (FerretDB v1), with or without this package's changes.
const findAndModifyWithProjection = server.capabilities.findAndModifyProjection;
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

  it("a caller's value that only looks encrypted, or is another field's ciphertext, is sealed as given: revealSecrets gives it back", async () => {
    const { Connection } = db.models;
    const other = await sealed();
    const lookalikes = ['aes256gcm:v1:test2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'aes256gcm:v1:nokey:AAAA', other.headers.Authorization!];
    for (const value of lookalikes) {
      const made = [
        await Connection.create({ name: 'Lookalike', type: 'S3', config: { ...s3, secretAccessKey: value } }),
        (await Connection.insertMany([new Connection({ name: 'Lookalike', type: 'HTTP', config: { ...http, headers: { Authorization: value } } })]))[0]!,
      ];
      for (const { _id } of made) {
        const raw = (await db.conn.db!.collection('connections').findOne({ _id: _id as never }))!;
        expect([raw.config.secretAccessKey, raw.config.headers?.Authorization]).not.toContain(value);
        const revealed = await (await Connection.findById(_id))!.revealSecrets();
        expect(revealed.secretAccessKey ?? revealed.headers?.Authorization).toBe(value);
      }
    }
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
    const again = await reencryptSecrets(db.models);
    expect([again.connections, again.values]).toEqual([0, 0]);
    expect(again.failed.filter(({ connectionId }) => [a._id, b._id].includes(connectionId))).toEqual([]);
    const newOnly = await sameDatabase({ secretKeys: { current: 'test2', keys: { test2: TEST_SECRET_KEYS.keys.test2 } } });
    expect(await (await newOnly.Connection.findById(a._id))!.revealSecrets()).toEqual({ secretAccessKey: 'rotate-s3' });
    expect(await (await newOnly.Connection.findById(b._id))!.revealSecrets()).toEqual({ headers: { Authorization: 'rotate-a', 'X-Key': 'rotate-b' } });
  });
});

describe('Encrypted credentials: migration', () => {
  it('reencryptSecrets seals credentials stored in plaintext, lists every value it cannot open (under any key), and still moves the others', async () => {
    const old = await sameDatabase({ secretKeys: { current: 'test1', keys: { test1: TEST_SECRET_KEYS.keys.test1 } } });
    const raw = db.conn.db!.collection('connections');
    // A connection written before credentials were encrypted.
    await raw.insertOne({ _id: 'cn_legacy' as never, name: 'Legacy', type: 'HTTP', status: 'active', config: { ...http, headers: { Authorization: 'legacy-plain' } } });
    const broken = await old.Connection.create({ name: 'Broken', type: 'S3', config: { ...s3, secretAccessKey: 'broken-secret' } });
    const sealed = (await raw.findOne({ _id: broken._id as never }))!.config.secretAccessKey as string;
    await raw.updateOne({ _id: broken._id as never }, { $set: { 'config.secretAccessKey': `${sealed.slice(0, -4)}AAAA` } });
    const good = await old.Connection.create({ name: 'Good', type: 'S3', config: { ...s3, secretAccessKey: 'good-secret' } });
    // Under the current key, tampered: opened, not moved, and listed.
    const current = await db.models.Connection.create({ name: 'Current', type: 'S3', config: { ...s3, secretAccessKey: 'current-secret' } });
    const currentSealed = (await raw.findOne({ _id: current._id as never }))!.config.secretAccessKey as string;
    await raw.updateOne({ _id: current._id as never }, { $set: { 'config.secretAccessKey': `${currentSealed.slice(0, -4)}AAAA` } });
    const ids = ['cn_legacy', broken._id, good._id, current._id];
    try {
      const result = await reencryptSecrets(db.models);
      const failure = (connectionId: string) => ({ connectionId, field: 'config.secretAccessKey', reason: expect.stringContaining(connectionId) as string });
      const mine = result.failed.filter(({ connectionId }) => ids.includes(connectionId));
      expect(mine).toHaveLength(2);
      expect(mine).toEqual(expect.arrayContaining([failure(broken._id), failure(current._id)]));
      expect(JSON.stringify(result.failed)).not.toContain('broken-secret');
      expect(result.values).toBeGreaterThanOrEqual(2);
      expect((await raw.findOne({ _id: 'cn_legacy' as never }))!.config.headers.Authorization).toMatch(/^aes256gcm:v1:test2:/);
      expect(await (await db.models.Connection.findById('cn_legacy'))!.revealSecrets()).toEqual({ headers: { Authorization: 'legacy-plain' } });
      expect((await raw.findOne({ _id: good._id as never }))!.config.secretAccessKey).toMatch(/^aes256gcm:v1:test2:/);
    } finally {
      await raw.deleteMany({ _id: { $in: ids as never[] } });
    }
  });
});

describe('A written document forgets its secrets', () => {
  it("after save() or insertMany, a caller's own toJSON transform, toBSON() and a copy of config show no secret nor ciphertext", async () => {
    const { Connection, User } = db.models;
    const idMapping = { transform: (_doc: unknown, ret: Record<string, unknown>) => ({ ...ret, id: ret._id }) };
    const saved = await Connection.create({ name: 'Forget', type: 'HTTP', config: { ...http, headers: { Authorization: 'forget-me' } } });
    const [inserted] = await Connection.insertMany([new Connection({ name: 'Forget', type: 'S3', config: { ...s3, secretAccessKey: 'forget-me-too' } })]);
    const user = new User({ workspaceId: 'ws_forget', username: 'forget' });
    await user.setPassword('forget-password');
    await user.save();
    const { passwordHash } = (await db.conn.db!.collection('users').findOne({ _id: user._id as never }))!;
    for (const doc of [saved, inserted!, user]) {
      const shown = JSON.stringify([doc.toJSON(idMapping), doc.toObject({ transform: false }), doc.toBSON(), (doc as { config?: unknown }).config ?? null]);
      expect(shown).not.toMatch(/forget-me|aes256gcm/);
      expect(shown).not.toContain(passwordHash);
    }
    expect(await saved.revealSecrets()).toEqual({ headers: { Authorization: 'forget-me' } });
    // A later save() of the same documents keeps the stored secrets (an S3 key and a password hash are required).
    const s3saved = await Connection.create({ name: 'Forget S3', type: 'S3', config: { ...s3, secretAccessKey: 'forget-s3' } });
    for (const doc of [saved, s3saved, inserted!]) {
      doc.name = `${doc.name} renamed`;
      await doc.save();
    }
    user.roles.push('viewer');
    await user.save();
    expect(await saved.revealSecrets()).toEqual({ headers: { Authorization: 'forget-me' } });
    expect(await s3saved.revealSecrets()).toEqual({ secretAccessKey: 'forget-s3' });
    expect(await inserted!.revealSecrets()).toEqual({ secretAccessKey: 'forget-me-too' });
    expect((await User.authenticate('forget', 'forget-password'))?.roles).toEqual(['viewer']);
  });

  it('a new document is checked on every path it holds, marked modified or not (hydrate then isNew, unmarkModified)', async () => {
    const { Connection, User, Client } = db.models;
    const s3doc = Connection.hydrate({ _id: 'cn_renewed', name: 'Renewed', type: 'S3', status: 'active', config: { ...s3, secretAccessKey: 'renewed-plain' } });
    s3doc.isNew = true;
    await s3doc.save();
    const raw = (await db.conn.db!.collection('connections').findOne({ _id: 'cn_renewed' as never }))!;
    expect(raw.config.secretAccessKey).toMatch(/^aes256gcm:v1:/);
    expect(await s3doc.revealSecrets()).toEqual({ secretAccessKey: 'renewed-plain' });
    const user = User.hydrate({ _id: 'usr_renewed', workspaceId: 'ws_1', username: 'renewed', roles: ['admin'], status: 'active', passwordHash: 'chosen', passwordSalt: 'chosen' });
    user.isNew = true;
    const client = new Client({ name: 'Unmarked', secretHash: 'chosen', secretSalt: 'chosen' });
    client.unmarkModified('secretHash');
    client.unmarkModified('secretSalt');
    for (const [doc, path] of [[user, 'passwordHash'], [client, 'secretHash']] as const) {
      await expect(doc.save()).rejects.toThrow(new RegExp(`${path} is set only by`));
    }
    expect(await User.collection.countDocuments({ _id: 'usr_renewed' as never })).toBe(0);
    expect(await Client.collection.countDocuments({ name: 'Unmarked' })).toBe(0);
  });

  it('a whole config written back on a loaded connection keeps its stored credentials; unsetting a required one is refused', async () => {
    const { Connection } = db.models;
    const s3made = await Connection.create({ name: 'Whole S3', type: 'S3', config: { ...s3, secretAccessKey: 'whole-s3' } });
    const httpMade = await Connection.create({ name: 'Whole HTTP', type: 'HTTP', config: { ...http, headers: { Authorization: 'whole-http' } } });
    const s3loaded = (await Connection.findById(s3made._id))!;
    s3loaded.set('config', { ...s3loaded.config!.toObject(), bucket: 'other-bucket' });
    await s3loaded.save();
    const httpLoaded = (await Connection.findById(httpMade._id))!;
    httpLoaded.markModified('config');
    await httpLoaded.save();
    expect(await s3loaded.revealSecrets()).toEqual({ secretAccessKey: 'whole-s3' });
    expect((await Connection.findById(s3made._id).lean())!.config.bucket).toBe('other-bucket');
    expect(await httpLoaded.revealSecrets()).toEqual({ headers: { Authorization: 'whole-http' } });
    const unset = (await Connection.findById(s3made._id))!;
    unset.set('config.secretAccessKey', undefined);
    await expectInvalid(unset.save(), 'config.secretAccessKey', /required/);
    expect(await s3loaded.revealSecrets()).toEqual({ secretAccessKey: 'whole-s3' });
  });

  it('a save() retried under another _id after a DuplicateKeyError stores the credential for the new connection', async () => {
    const { Connection } = db.models;
    const taken = await Connection.create({ name: 'Taken', type: 'S3', config: { ...s3, secretAccessKey: 'taken-secret' } });
    const retried = new Connection({ _id: taken._id, name: 'Retried', type: 'S3', config: { ...s3, secretAccessKey: 'retried-secret' } });
    await expect(retried.save()).rejects.toThrow(DuplicateKeyError);
    retried._id = 'cn_retried';
    await retried.save();
    expect(await retried.revealSecrets()).toEqual({ secretAccessKey: 'retried-secret' });
    expect(await taken.revealSecrets()).toEqual({ secretAccessKey: 'taken-secret' });
  });
});

describe('Nothing but revealSecrets returns a secret or its ciphertext', () => {
  it('known secrets written through every write path: zero hits in raw collections (plaintext) and in every serialized form', async () => {
    const { Connection, Pipeline, Client, User, Session } = db.models;
    const markers: string[] = [];
    const mark = (path: string) => {
      const value = `LEAK_${path.replace(/\W+/g, '_')}_${randomUUID()}`;
      markers.push(value);
      return value;
    };
    const paths: Array<{ path: string; ids: string[]; last: string }> = [];
    async function via(path: string, write: (m: () => string) => Promise<string[]>) {
      let last = '';
      const ids = await write(() => (last = mark(path)));
      paths.push({ path, ids, last });
    }
    const created: unknown[] = [];
    const s3conn = async (m: () => string, name = 'Leak S3') => (await Connection.create({ name, type: 'S3', config: { ...s3, secretAccessKey: m() } }))._id;
    const httpConn = async (m: () => string, name = 'Leak HTTP') => (await Connection.create({ name, type: 'HTTP', config: { ...http, headers: { Authorization: m() } } }))._id;

    await via('save', async (m) => {
      const doc = new Connection({ name: 'Leak save', type: 'S3', config: { ...s3, secretAccessKey: m() } });
      await doc.save();
      created.push(doc);
      return [doc._id];
    });
    await via('create', async (m) => {
      const doc = await Connection.create({ name: 'Leak create', type: 'HTTP', config: { ...http, headers: { Authorization: m(), 'X-Key': m() } } });
      created.push(doc);
      return [doc._id];
    });
    await via('insertMany', async (m) => {
      const docs = await Connection.insertMany([
        { name: 'Leak insertMany', type: 'HTTP', config: { ...http, headers: { Authorization: m() } } },
        { name: 'Leak insertMany', type: 'S3', config: { ...s3, secretAccessKey: m() } },
      ]);
      created.push(...docs);
      return docs.map((d) => d._id);
    });
    await via('bulkWrite insertOne', async (m) => {
      await Connection.bulkWrite([{ insertOne: { document: { _id: 'cn_leakbulk', name: 'Leak bulk', type: 'S3', config: { ...s3, secretAccessKey: m() } } } }]);
      return ['cn_leakbulk'];
    });
    await via('insertMany of documents', async (m) => {
      const made = [
        new Connection({ name: 'Leak insertMany doc', type: 'HTTP', config: { ...http, headers: { Authorization: m() } } }),
        new Connection({ name: 'Leak insertMany doc', type: 'S3', config: { ...s3, secretAccessKey: m() } }),
      ];
      const docs = await Connection.insertMany(made);
      const one = await Connection.insertMany(new Connection({ name: 'Leak insertMany doc', type: 'S3', config: { ...s3, secretAccessKey: m() } }));
      return [...docs, ...one].map((d) => d._id);
    });
    await via('bulkWrite insertOne of a document', async (m) => {
      const doc = new Connection({ name: 'Leak bulk doc', type: 'S3', config: { ...s3, secretAccessKey: m() } });
      await Connection.bulkWrite([{ insertOne: { document: doc } }]);
      return [doc._id];
    });
    await via('bulkSave (new, then loaded and changed)', async (m) => {
      const fresh = new Connection({ name: 'Leak bulkSave', type: 'HTTP', config: { ...http, headers: { Authorization: m() } } });
      await Connection.bulkSave([fresh]);
      const loaded = (await Connection.findById(await s3conn(m)))!;
      loaded.set('config.secretAccessKey', m());
      await Connection.bulkSave([loaded]);
      return [fresh._id, loaded._id];
    });
    await via('updateOne $set config.secretAccessKey', async (m) => {
      const id = await s3conn(m);
      await Connection.updateOne({ _id: id }, { $set: { 'config.secretAccessKey': m() } });
      return [id];
    });
    await via('updateOne $set config.headers.<name>', async (m) => {
      const id = await httpConn(m);
      await Connection.updateOne({ _id: id }, { 'config.headers.X-New': m() });
      return [id];
    });
    await via('updateOne $set config (filter without _id)', async (m) => {
      const id = await httpConn(m, 'Leak by name');
      await Connection.updateOne({ name: 'Leak by name' }, { $set: { config: { ...http, headers: { Authorization: m() } } } });
      return [id];
    });
    await via('updateOne upsert', async (m) => {
      await Connection.updateOne({ _id: 'cn_leakupsert' }, { $set: { config: { ...s3, secretAccessKey: m() } }, $setOnInsert: { name: 'Leak upsert', type: 'S3' } }, { upsert: true });
      return ['cn_leakupsert'];
    });
    await via('updateMany', async (m) => {
      const ids = [await httpConn(m, 'Leak many'), await httpConn(m, 'Leak many')];
      const result = await Connection.updateMany({ name: 'Leak many' }, { $set: { 'config.headers.Authorization': m() } });
      expect(result.modifiedCount).toBe(2);
      return ids;
    });
    if (findAndModifyWithProjection) await via('findOneAndUpdate', async (m) => {
      const id = await s3conn(m);
      const returned = await Connection.findOneAndUpdate({ _id: id }, { $set: { 'config.secretAccessKey': m() } }, { new: true });
      created.push(returned);
      return [id];
    });
    await via('replaceOne', async (m) => {
      const id = await s3conn(m);
      await Connection.replaceOne({ _id: id }, { name: 'Leak replaced', type: 'S3', config: { ...s3, secretAccessKey: m() } });
      return [id];
    });
    if (findAndModifyWithProjection) await via('findOneAndReplace', async (m) => {
      const id = await httpConn(m);
      created.push(await Connection.findOneAndReplace({ _id: id }, { name: 'Leak replaced', type: 'HTTP', config: { ...http, headers: { Authorization: m() } } }, { new: true }));
      return [id];
    });
    await via('bulkWrite updateOne/updateMany/replaceOne', async (m) => {
      const [a, b, c] = [await s3conn(m), await httpConn(m), await s3conn(m)];
      await Connection.bulkWrite([
        { updateOne: { filter: { _id: a }, update: { $set: { 'config.secretAccessKey': m() } } } },
        { updateMany: { filter: { _id: b }, update: { $set: { 'config.headers.Authorization': m() } } } },
        { replaceOne: { filter: { _id: c }, replacement: { name: 'Leak bulk replaced', type: 'S3', config: { ...s3, secretAccessKey: m() } } as never } },
      ]);
      return [a, b, c];
    });

    // Every write stored what it was given: revealSecrets gives each path's last value back.
    const allIds = paths.flatMap((p) => p.ids);
    const revealed = new Set<string>();
    for (const id of allIds) {
      const secrets = await (await Connection.findById(id))!.revealSecrets();
      for (const value of [secrets.secretAccessKey, ...Object.values(secrets.headers ?? {})]) if (value) revealed.add(value);
    }
    for (const { path, last } of paths) expect(revealed, path).toContain(last);

    // The other secrets of the package: a client secret and its hash, a password and its hash, a session token.
    const { client, secret } = await Client.createWithSecret({ _id: 'cl_leak', name: 'Leak client' });
    markers.push(secret);
    const password = mark('password');
    const user = new User({ workspaceId: 'ws_leak', username: 'leak-user' });
    await user.setPassword(password);
    await user.save();
    const { token } = await Session.issue({ workspaceId: 'ws_leak', principalType: 'client', principalId: client._id, ttlSeconds: 600 });
    markers.push(token);
    await Pipeline.create({
      workspaceId: 'ws_leak',
      name: 'Leak pipeline',
      streams: [{ topic: 'leak.out', type: 'sink' }],
      sinkConnections: allIds.map((connectionId) => ({ connectionId, streamName: 'leak.out' })),
    });

    // The raw database: no plaintext anywhere; what is stored secret is collected to be looked for everywhere else.
    const stored: string[] = [];
    let rawHits = 0;
    for (const { name } of await db.conn.db!.listCollections().toArray()) {
      for (const doc of await db.conn.db!.collection(name).find().toArray()) {
        const json = JSON.stringify(doc);
        rawHits += markers.filter((m) => json.includes(m)).length;
        const secretsOf = (o: Record<string, unknown> | undefined, keys: string[]) => keys.map((k) => o?.[k]).filter((v): v is string => typeof v === 'string');
        stored.push(...secretsOf(doc, ['secretHash', 'secretSalt', 'passwordHash', 'passwordSalt']));
        stored.push(...secretsOf(doc.config, ['secretAccessKey']), ...Object.values((doc.config?.headers ?? {}) as Record<string, string>));
      }
    }
    expect(rawHits).toBe(0);
    expect(stored.filter((v) => v.startsWith('aes256gcm:')).length).toBeGreaterThanOrEqual(paths.length);

    const logged: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logged.push(util.format(...args)));
    const show = (value: unknown) => [JSON.stringify(value) ?? '', util.inspect(value, { depth: 12 })];
    const printed = (value: unknown) => {
      console.log(value);
      return logged.splice(0);
    };
    const refused = async (query: PromiseLike<unknown>) => {
      const error = await errorOf(Promise.resolve(query));
      expect(error, 'expected the query to be refused').toBeInstanceOf(Error);
      return show(error);
    };
    type Form = [string, (id: string) => Promise<string[]>];
    const forms: Form[] = [
      ['find: JSON.stringify', async (id) => [JSON.stringify(await Connection.findById(id))]],
      ['toJSON', async (id) => show((await Connection.findById(id))!.toJSON())],
      ['toObject', async (id) => show((await Connection.findById(id))!.toObject())],
      ['util.inspect(doc)', async (id) => [util.inspect(await Connection.findById(id), { depth: 12 })]],
      ['util.inspect(doc.config) and JSON.stringify(doc.config)', async (id) => show((await Connection.findById(id))!.config)],
      ['console.log(doc)', async (id) => printed(await Connection.findById(id))],
      ['lean()', async (id) => show(await Connection.findById(id).lean())],
      ["select('config') lean and hydrated", async (id) => [...show(await Connection.findById(id).select('config').lean()), ...show(await Connection.findById(id).select('config'))]],
      ['{ config: 1 }', async (id) => show(await Connection.find({ _id: id }, { config: 1 }).lean())],
      ["'name config' lean", async (id) => show(await Connection.find({ _id: id }).select('name config').lean())],
      ["select('+config.secretAccessKey') refused", (id) => refused(Connection.findById(id).select('+config.secretAccessKey').lean())],
      ["select('+config.headers') refused", (id) => refused(Connection.findById(id).select('+config.headers'))],
      ["distinct('config.secretAccessKey') refused", (id) => refused(Connection.distinct('config.secretAccessKey', { _id: id }))],
      ["distinct('config') refused", (id) => refused(Connection.distinct('config', { _id: id }))],
      ['aggregate', async (id) => show(await Connection.aggregate([{ $match: { _id: id } }]))],
      ['aggregate $project config', async (id) => show(await Connection.aggregate([{ $match: { _id: id } }, { $project: { config: 1 } }]))],
      [
        'populate (lean and hydrated)',
        async () => [
          ...show(await Pipeline.findOne({ workspaceId: 'ws_leak' }).populate('sinkConnections.connectionId').lean()),
          ...show(await Pipeline.findOne({ workspaceId: 'ws_leak' }).populate({ path: 'sinkConnections.connectionId', select: 'config' })),
        ],
      ],
    ];
    if (findAndModifyWithProjection) forms.push(['findOneAndUpdate result', async (id) => show(await Connection.findOneAndUpdate({ _id: id }, { $set: { status: 'active' } }, { new: true }))]);
    const note = findAndModifyWithProjection ? '' : `; skipped: ${server.description} lacks findAndModify with a projection (findOneAndUpdate/findOneAndReplace paths and form)`;
    const scan = (outputs: string[]) => outputs.reduce((hits, out) => hits + [...markers, ...stored].filter((s) => out.includes(s)).length, 0);
    let hits = 0;
    let checked = 0;
    try {
      for (const { ids } of paths) {
        for (const [form, run] of forms) {
          const found = scan(await run(ids[0]!));
          expect(found, `${form}`).toBe(0);
          hits += found;
          checked += 1;
        }
      }
      // The documents write paths returned, as they are in memory.
      const inMemory = created.flatMap((doc) => [...show(doc), ...printed(doc), ...show((doc as { toObject(): unknown }).toObject())]);
      hits += scan(inMemory);
      checked += created.length;
      // Errors and their causes: casts and validation of secret values, and duplicate keys carrying the document.
      const failing: Array<[string, () => Promise<unknown>]> = [
        ['cast error on create', () => Connection.create({ name: 'Leak cast', type: 'S3', config: { ...s3, secretAccessKey: { oops: mark('cast') } as unknown as string } })],
        ['cast error on update', () => Connection.updateOne({ _id: allIds[0] }, { $set: { 'config.secretAccessKey': { oops: mark('cast-update') } as unknown as string } })],
        ['validation error on a header', () => Connection.create({ name: 'Leak header', type: 'HTTP', config: { ...http, headers: { 'X-Bad': `${mark('header')}\r\nX-Evil: 1` } } })],
        ['DuplicateKeyError on create', () => Connection.create({ _id: allIds[0], name: 'Leak dup', type: 'HTTP', config: { ...http, headers: { Authorization: mark('dup') } } })],
        ['DuplicateKeyError on insertMany', () => Connection.insertMany([{ _id: allIds[1], name: 'Leak dup', type: 'S3', config: { ...s3, secretAccessKey: mark('dup-many') } }])],
        ['duplicate key error of bulkWrite (the driver error, scrubbed)', () => Connection.bulkWrite([{ insertOne: { document: { _id: allIds[2], name: 'Leak dup', type: 'S3', config: { ...s3, secretAccessKey: mark('dup-bulk') } } } }])],
        ['DuplicateKeyError of a client', () => Client.createWithSecret({ _id: 'cl_leak', name: 'Leak client again' })],
        [
          'aggregate $lookup of a collection holding secrets',
          () => Pipeline.aggregate([{ $match: { workspaceId: 'ws_leak' } }, { $lookup: { from: 'connections', localField: 'sinkConnections.connectionId', foreignField: '_id', as: 'c' } }]).exec(),
        ],
        ["Client select('+secretHash')", () => Client.findById('cl_leak').select('+secretHash').exec()],
        ["User select('+passwordHash')", () => User.findOne({ _id: user._id, workspaceId: 'ws_leak' }).select('+passwordHash').exec()],
      ];
      for (const [name, write] of failing) {
        const error = await errorOf(write());
        expect(error, name).toBeInstanceOf(Error);
        if (name.startsWith('DuplicateKeyError')) expect(error, name).toBeInstanceOf(DuplicateKeyError);
        const found = scan([...show(error), ...show((error as Error).cause), ...printed(error)]);
        expect(found, name).toBe(0);
        hits += found;
        checked += 1;
      }
      // Clients, users and sessions as queries and the package's statics return them.
      const others = [
        ...show(await Client.findById('cl_leak')),
        ...show(await Client.findById('cl_leak').lean()),
        ...show(await Client.authenticate('cl_leak', secret)),
        ...printed(await Client.authenticate('cl_leak', secret)),
        ...show(client),
        ...show(await User.authenticate('leak-user', password)),
        ...show(await User.findOne({ _id: user._id, workspaceId: 'ws_leak' }).lean()),
        ...show(user),
        ...show(await Session.verify(token)),
        ...show(await Session.find({ workspaceId: 'ws_leak' }).lean()),
        ...show(await Client.aggregate([{ $match: { _id: 'cl_leak' } }])),
      ];
      hits += scan(others);
      checked += 11;
    } finally {
      log.mockRestore();
    }
    expect(hits).toBe(0);
    expect(await db.conn.db!.collection('connections').countDocuments({ name: { $in: ['Leak cast', 'Leak header', 'Leak dup'] } })).toBe(0);
    console.log(
      `leak scan: ${paths.length} write paths x ${forms.length} forms = ${paths.length * forms.length} checks, plus ${checked - paths.length * forms.length} ` +
        `in-memory documents, error and other-model forms; ${markers.length} known secrets and ${stored.length} stored secret values looked for; 0 hits${note}`,
    );
  });
});

describe('authenticate and verify under random input', () => {
  it('Client.authenticate, User.authenticate and Session.verify never throw and never accept a wrong secret or token', async () => {
    const { Client, User, Session } = db.models;
    const { client, secret } = await Client.createWithSecret({ name: 'Fuzzed client' });
    const user = new User({ workspaceId: 'ws_fuzz', username: 'fuzzed' });
    await user.setPassword('fuzzed-password');
    await user.save();
    const { token } = await Session.issue({ workspaceId: 'ws_fuzz', principalType: 'client', principalId: client._id, ttlSeconds: 600 });
    const nearly = (value: string) => fc.oneof(fc.string(), fc.anything(), fc.integer({ min: 0, max: value.length - 1 }).map((i) => value.slice(0, i) + (value[i] === 'x' ? 'y' : 'x') + value.slice(i + 1)));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant(client._id), fc.string(), fc.anything()), nearly(secret), async (id, guess) => {
        fc.pre(guess !== secret);
        expect(await Client.authenticate(id, guess)).toBeNull();
      }),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(nearly(token), async (guess) => {
        fc.pre(guess !== token);
        expect(await Session.verify(guess)).toBeNull();
      }),
      { numRuns: 300 },
    );
    // scrypt costs ~0.4 s per call, so fewer runs here.
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant('fuzzed'), fc.string(), fc.anything()), nearly('fuzzed-password'), async (name, guess) => {
        fc.pre(guess !== 'fuzzed-password');
        expect(await User.authenticate(name, guess)).toBeNull();
      }),
      { numRuns: 8 },
    );
    expect((await Client.authenticate(client._id, secret))?._id).toBe(client._id);
    expect(await Session.verify(token)).not.toBeNull();
  }, 60_000);
});
