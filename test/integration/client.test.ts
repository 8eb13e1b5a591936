import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { makeModels, UnsafeQueryError } from '../../src/index.js';
import { MAX_READS_IN_FLIGHT } from '../../src/models/batchedReads.js';
import { server, TEST_SECRET_KEYS, useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('client');

function newClient(name: string) {
  return db.models.Client.createWithSecret({ name, allowedScopes: ['events:write'], allowedTopics: ['orders.in'] });
}

describe('Client', () => {
  it('stores name, status, scopes and topics, with a cl_ id', async () => {
    const { client } = await newClient('Shop');
    const stored = await db.models.Client.findById(client._id).lean();
    expect(stored).toMatchObject({ name: 'Shop', status: 'active', allowedScopes: ['events:write'], allowedTopics: ['orders.in'] });
    expect(client._id).toMatch(/^cl_[0-9a-f]{32}$/);
  });

  it('createWithSecret makes a 256-bit secret with the espc_ prefix and a checksum, returned once', async () => {
    const { client, secret } = await newClient('Made');
    expect(secret).toMatch(/^espc_[0-9A-Za-z]{49}$/);
    expect(client.secretHash).toBeUndefined();
    expect(JSON.stringify(client)).not.toContain(secret);
    expect((await newClient('Other')).secret).not.toBe(secret);
  });

  it('the secret is stored only as an HMAC-SHA-256 keyed by a per-client salt', async () => {
    const { client, secret } = await newClient('Hashed');
    const raw = await db.conn.db!.collection('clients').findOne({ _id: client._id as never });
    expect(raw!.secretHash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(raw!.secretSalt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(raw)).not.toContain(secret.slice(5, 30));
  });

  it('secretHash and secretSalt are hidden from queries, lean() and JSON by default', async () => {
    const { client } = await newClient('Hidden');
    const found = await db.models.Client.findById(client._id);
    expect(found!.secretHash).toBeUndefined();
    const lean = await db.models.Client.findById(client._id).lean();
    expect(lean).not.toHaveProperty('secretHash');
    expect(lean).not.toHaveProperty('secretSalt');
    // Selecting a secret through the model is refused (it would be an oracle); the authenticate statics read it
    // through the driver.
    await expect(db.models.Client.findById(client._id).select('+secretHash').exec()).rejects.toThrow(UnsafeQueryError);
  });

  it('distinct of a secret path is refused, and an aggregate never sees the secret fields', async () => {
    const { client } = await newClient('Aggregated');
    const { Client } = db.models;
    for (const path of ['secretHash', 'secretSalt', 'previousSecretHash']) await expect(Client.distinct(path, { _id: client._id }).exec()).rejects.toThrow(UnsafeQueryError);
    const [found] = await Client.aggregate<Record<string, unknown>>([{ $match: { _id: client._id } }]);
    expect(found).toMatchObject({ _id: client._id, name: 'Aggregated' });
    expect(Object.keys(found!).filter((key) => /secret/i.test(key))).toEqual([]);
    // Later stages cannot reach them either: the secrets are removed right after the leading $match.
    const { secretHash } = (await Client.collection.findOne({ _id: client._id as never }))!;
    const copied = await Client.aggregate([{ $match: { _id: client._id } }, { $addFields: { copy: '$secretHash' } }]);
    expect(JSON.stringify(copied)).not.toContain(secretHash);
  });

  it('authenticate returns the active client for the right secret, and null otherwise', async () => {
    const { client, secret } = await newClient('Auth');
    const { Client } = db.models;
    const found = await Client.authenticate(client._id, secret);
    expect(found?._id).toBe(client._id);
    expect(found).toBeInstanceOf(Client);
    expect(found!.secretHash).toBeUndefined();
    expect(JSON.stringify(found)).not.toMatch(/secret(Hash|Salt)/);
    expect(await Client.authenticate(client._id, (await newClient('Else')).secret)).toBeNull();
    expect(await Client.authenticate('cl_missing', secret)).toBeNull();
    // One character changed (a secret may already end in x).
    expect(await Client.authenticate(client._id, `${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`)).toBeNull();
    await Client.updateOne({ _id: client._id }, { status: 'inactive' });
    expect(await Client.authenticate(client._id, secret)).toBeNull();
  });

  it('concurrent authentications share reads, and each gets its own answer', async () => {
    // A connection of its own, to count the reads it sends.
    const conn = await mongoose.createConnection(server.uri, { dbName: db.conn.name, autoIndex: false, autoCreate: false, monitorCommands: true }).asPromise();
    try {
      const reads: string[] = [];
      conn.getClient().on('commandStarted', (event) => {
        if (event.commandName === 'find' && event.command.find === 'clients') reads.push(event.commandName);
      });
      const { Client } = makeModels(conn, { secretKeys: TEST_SECRET_KEYS });
      const made = await Promise.all(['One', 'Two', 'Three'].map((name) => newClient(name)));
      await Client.updateOne({ _id: made[2]!.client._id }, { status: 'inactive' });
      const [one, two, three] = made.map(({ client, secret }) => ({ id: client._id, secret }));
      // Each call with what it must give: its client, or null.
      const calls: Array<[string, string, string | null]> = [];
      for (let k = 0; k < 12; k++) {
        calls.push([one!.id, one!.secret, one!.id], [two!.id, two!.secret, two!.id]);
        calls.push([one!.id, two!.secret, null], [three!.id, three!.secret, null], ['cl_missing', one!.secret, null]);
      }
      const found = await Promise.all(calls.map(([id, secret]) => Client.authenticate(id, secret)));
      expect(found.map((client) => client?._id ?? null)).toEqual(calls.map(([, , expected]) => expected));
      // One answer per caller: changing one caller's document changes no other's.
      const ofOne = found.filter((client) => client?._id === one!.id);
      expect(new Set(ofOne).size).toBe(ofOne.length);
      ofOne[0]!.allowedScopes.push('changed');
      expect(ofOne[1]!.allowedScopes).toEqual(['events:write']);
      expect(reads.length).toBeLessThan(calls.length / 4);
    } finally {
      await conn.close();
    }
  });

  it('an authentication never gets a read sent before it was called', async () => {
    const { Client } = db.models;
    const { client, secret } = await newClient('Suspended');
    // Reads on the wire and waiting when the client is suspended; a check made after that must see it.
    const before = Array.from({ length: 2 * MAX_READS_IN_FLIGHT }, () => Client.authenticate(client._id, secret));
    await db.conn.db!.collection('clients').updateOne({ _id: client._id as never }, { $set: { status: 'inactive' } });
    const after = Array.from({ length: 2 * MAX_READS_IN_FLIGHT }, () => Client.authenticate(client._id, secret));
    await Promise.all(before);
    expect(await Promise.all(after)).toEqual(after.map(() => null));
  });

  it('when a shared read fails, every authentication waiting on it fails', async () => {
    const conn = await mongoose.createConnection(server.uri, { dbName: db.conn.name, autoCreate: false, autoIndex: false, bufferCommands: false }).asPromise();
    const { Client } = makeModels(conn, { secretKeys: TEST_SECRET_KEYS });
    const { client, secret } = await newClient('Closed');
    await conn.close();
    const results = await Promise.allSettled(Array.from({ length: 3 * MAX_READS_IN_FLIGHT }, () => Client.authenticate(client._id, secret)));
    expect(results.map((result) => result.status)).toEqual(results.map(() => 'rejected'));
  });

  it('the clients createWithSecret and authenticate return can be changed and saved; the secret stays', async () => {
    const { Client } = db.models;
    const { client, secret } = await newClient('Returned');
    client.name = 'Returned renamed';
    await client.save();
    const found = (await Client.authenticate(client._id, secret))!;
    found.allowedTopics.push('orders.out');
    await found.save();
    expect((await Client.authenticate(client._id, secret))?.allowedTopics).toEqual(['orders.in', 'orders.out']);
    found.status = 'inactive';
    await found.save();
    expect(await Client.authenticate(client._id, secret)).toBeNull();
  });

  it('rotateSecret: the previous secret works during the grace period, then never', async () => {
    const { client, secret: first } = await newClient('Rotating');
    const { secret: second } = await client.rotateSecret({ graceSeconds: 3600 });
    expect(second).not.toBe(first);
    expect((await db.models.Client.authenticate(client._id, first))?._id).toBe(client._id);
    expect((await db.models.Client.authenticate(client._id, second))?._id).toBe(client._id);
    // The grace period ends: simulated by moving its end into the past.
    await db.conn.db!.collection('clients').updateOne({ _id: client._id as never }, { $set: { previousSecretExpiresAt: new Date(Date.now() - 1) } });
    expect(await db.models.Client.authenticate(client._id, first)).toBeNull();
    expect((await db.models.Client.authenticate(client._id, second))?._id).toBe(client._id);
    const { secret: third } = await client.rotateSecret({ graceSeconds: 0 });
    expect(await db.models.Client.authenticate(client._id, second)).toBeNull();
    expect((await db.models.Client.authenticate(client._id, third))?._id).toBe(client._id);
  });

  it('rotateSecret refuses a grace period that is not 0 to 30 days, and changes nothing', async () => {
    const { client, secret } = await newClient('Bad grace');
    const before = await db.conn.db!.collection('clients').findOne({ _id: client._id as never });
    await expectInvalid(client.rotateSecret({ graceSeconds: -1 }), 'graceSeconds');
    await expectInvalid(client.rotateSecret({ graceSeconds: Number.NaN }), 'graceSeconds');
    await expectInvalid(client.rotateSecret({ graceSeconds: 31 * 24 * 3600 }), 'graceSeconds');
    expect(await db.conn.db!.collection('clients').findOne({ _id: client._id as never })).toEqual(before);
    expect((await db.models.Client.authenticate(client._id, secret))?._id).toBe(client._id);
  });

  it("a caller cannot write a client's secret fields: create, insertMany, save, updateOne, bulkWrite and replaceOne are refused on the path, and the secret still works", async () => {
    const { Client } = db.models;
    const { client, secret } = await newClient('Victim');
    const raw = () => db.conn.db!.collection('clients').findOne({ _id: client._id as never });
    const before = await raw();
    const chosen = { secretHash: 'A'.repeat(43), secretSalt: 'A'.repeat(22) };
    const hidden = { previousSecretHash: 'A'.repeat(43), previousSecretSalt: 'A'.repeat(22), previousSecretExpiresAt: new Date('2999-01-01') };
    const loaded = (await Client.findById(client._id))!;
    loaded.set(chosen);
    for (const [write, path] of [
      [() => Client.create({ name: 'Chosen', ...chosen }), 'secretHash'],
      [() => Client.insertMany([{ name: 'Chosen', ...chosen }]), 'secretHash'],
      [() => loaded.save(), 'secretHash'],
      [() => Client.updateOne({ _id: client._id }, { $set: chosen }).exec(), 'secretHash'],
      [() => Client.updateOne({ _id: client._id }, { $set: hidden }).exec(), 'previousSecretHash'],
      [() => Client.bulkWrite([{ updateOne: { filter: { _id: client._id }, update: { $set: chosen } } }]), 'secretHash'],
      [() => Client.replaceOne({ _id: client._id }, { ...before, ...chosen } as never).exec(), 'secretHash'],
    ] as const) {
      await expectInvalid(write(), path, /set only by Client\.createWithSecret/);
    }
    expect(await raw()).toEqual(before);
    expect(await Client.countDocuments({ name: 'Chosen' })).toBe(0);
    expect((await Client.authenticate(client._id, secret))?._id).toBe(client._id);
  });

  it('a client cannot be saved without a secret, and createWithSecret ignores given secret fields', async () => {
    await expectInvalid(db.models.Client.create({ name: 'No secret' }), 'secretHash', /createWithSecret/);
    expect(await db.models.Client.countDocuments({ name: 'No secret' })).toBe(0);
    const fields = { name: 'Sneaky', secretHash: 'chosen', secretSalt: 'chosen' } as { name: string };
    const { client } = await db.models.Client.createWithSecret(fields);
    const raw = await db.conn.db!.collection('clients').findOne({ _id: client._id as never });
    expect(raw!.secretHash).not.toBe('chosen');
  });

  it('status is active or inactive and indexed', async () => {
    await expectInvalid(db.models.Client.createWithSecret({ name: 'Bad status', status: 'gone' as 'active' }), 'status');
    expect(await db.models.Client.countDocuments({ name: 'Bad status' })).toBe(0);
    expect((await db.models.Client.collection.indexes()).map((i) => i.key)).toContainEqual({ status: 1 });
  });
});
