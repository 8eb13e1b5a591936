import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { UnsafeQueryError } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('client');

async function newClient(name: string, secret = 'correct horse battery') {
  const client = new db.models.Client({ name, allowedScopes: ['events:write'], allowedTopics: ['orders.in'] });
  await client.setSecret(secret);
  await client.save();
  return client;
}

describe('Client', () => {
  it('stores name, status, scopes and topics, with a cl_ id', async () => {
    const client = await newClient('Shop');
    const stored = await db.models.Client.findById(client._id).lean();
    expect(stored).toMatchObject({ name: 'Shop', status: 'active', allowedScopes: ['events:write'], allowedTopics: ['orders.in'] });
    expect(client._id).toMatch(/^cl_[0-9a-f]{32}$/);
  });

  it('the secret is stored only as a scrypt hash and salt, never in plain text', async () => {
    const client = await newClient('Hashed', 's3cret-value!');
    const raw = await db.conn.db!.collection('clients').findOne({ _id: client._id as never });
    expect(raw!.secretHash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(raw!.secretSalt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(raw)).not.toContain('s3cret-value!');
  });

  it('secretHash and secretSalt are hidden from queries, lean() and JSON by default', async () => {
    const client = await newClient('Hidden');
    expect(JSON.parse(JSON.stringify(client))).not.toHaveProperty('secretHash');
    expect(client.toObject()).not.toHaveProperty('secretSalt');
    const found = await db.models.Client.findById(client._id);
    expect(found!.secretHash).toBeUndefined();
    const lean = await db.models.Client.findById(client._id).lean();
    expect(lean).not.toHaveProperty('secretHash');
    expect(lean).not.toHaveProperty('secretSalt');
    // Selecting a secret through the model is refused (it would be an oracle); the authenticate statics read it
    // through the driver.
    await expect(db.models.Client.findById(client._id).select('+secretHash').exec()).rejects.toThrow(UnsafeQueryError);
  });

  it('authenticate returns the active client for the right secret, and null otherwise', async () => {
    const client = await newClient('Auth', 'right-secret-1');
    const { Client } = db.models;
    expect((await Client.authenticate(client._id, 'right-secret-1'))?._id).toBe(client._id);
    expect(await Client.authenticate(client._id, 'wrong-secret-1')).toBeNull();
    expect(await Client.authenticate('cl_missing', 'right-secret-1')).toBeNull();
    await Client.updateOne({ _id: client._id }, { status: 'inactive' });
    expect(await Client.authenticate(client._id, 'right-secret-1')).toBeNull();
  });

  it('a client cannot be saved without a secret, nor with one shorter than 8 characters', async () => {
    await expectInvalid(db.models.Client.create({ name: 'No secret' }), 'secretHash', /setSecret/);
    await expect(new db.models.Client({ name: 'Short' }).setSecret('short')).rejects.toThrow(/at least 8/);
    expect(await db.models.Client.countDocuments({ name: mongoose.trusted({ $in: ['No secret', 'Short'] }) })).toBe(0);
  });

  it('status is active or inactive and indexed', async () => {
    const client = new db.models.Client({ name: 'Bad status', status: 'gone' as 'active' });
    await client.setSecret('long enough secret');
    await expectInvalid(client.save(), 'status');
    expect(await db.models.Client.countDocuments({ name: 'Bad status' })).toBe(0);
    expect((await db.models.Client.collection.indexes()).map((i) => i.key)).toContainEqual({ status: 1 });
  });
});
