import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { forWorkspace, makeModels } from '../../src/index.js';
import { server, useTestDatabase } from '../support/db.js';

const db = useTestDatabase('makemodels');

describe('makeModels', () => {
  // useDb connections share db.conn's client: drop their databases before the file's own hook closes it.
  const opened: mongoose.Connection[] = [];
  afterAll(async () => {
    for (const conn of opened) await conn.dropDatabase();
    await Promise.all(opened.map((c) => c.getClient() === db.conn.getClient() ? undefined : c.close()));
  });

  it('registers the eight models of the seed on the given connection', () => {
    expect(Object.keys(db.models).sort()).toEqual(['Client', 'Connection', 'Contact', 'Notification', 'Pipeline', 'Session', 'User', 'Workspace']);
    for (const [name, model] of Object.entries(db.models)) {
      expect(model.db).toBe(db.conn);
      expect(db.conn.models[name]).toBe(model);
    }
  });

  it('calling it again on the same connection returns the same models', () => {
    const again = makeModels(db.conn);
    expect(again).toBe(db.models);
    expect(again.Workspace).toBe(db.models.Workspace);
  });

  it('never registers anything on mongoose\'s default connection', () => {
    expect(Object.keys(mongoose.connection.models)).toEqual([]);
    expect(mongoose.modelNames()).toEqual([]);
  });

  it('models made on two useDb connections keep their data apart', async () => {
    const tenantA = db.conn.useDb(`${db.conn.name}_a`);
    const tenantB = db.conn.useDb(`${db.conn.name}_b`);
    opened.push(tenantA, tenantB);
    const a = makeModels(tenantA);
    const b = makeModels(tenantB);
    expect(a).not.toBe(b);
    expect(a.Workspace).not.toBe(b.Workspace);
    await a.Workspace.create({ _id: 'ws_same', name: 'Tenant A', code: 'tena' });
    await b.Workspace.create({ _id: 'ws_same', name: 'Tenant B', code: 'tena' });
    expect((await a.Workspace.findById('ws_same').lean())!.name).toBe('Tenant A');
    expect((await b.Workspace.findById('ws_same').lean())!.name).toBe('Tenant B');
    expect(await db.models.Workspace.exists({ _id: 'ws_same' })).toBeNull();
  });

  it('populate resolves refs on the document\'s own connection', async () => {
    const tenant = db.conn.useDb(`${db.conn.name}_pop`);
    opened.push(tenant);
    const models = makeModels(tenant);
    await models.Workspace.create({ _id: 'ws_p', name: 'Only here', code: 'onlh' });
    await db.models.Workspace.create({ _id: 'ws_p', name: 'Main db', code: 'maid' });
    const user = new models.User({ workspaceId: 'ws_p', username: 'pop' });
    await user.setPassword('population');
    await user.save();
    const populated = await forWorkspace(models, 'ws_p').User.findById(user._id).populate<{ workspace: { name: string } }>('workspace');
    expect(populated!.workspace.name).toBe('Only here');
  });

  it('leaves index builds to the connection: with autoIndex off, registering builds no index', async () => {
    const conn = await mongoose.createConnection(server.uri, { dbName: `${db.conn.name}_noidx`, autoIndex: false, autoCreate: false }).asPromise();
    opened.push(conn);
    const models = makeModels(conn);
    await models.Workspace.create({ name: 'No index', code: 'noix' });
    const names = (await models.Workspace.collection.indexes()).map((i) => i.name);
    expect(names).toEqual(['_id_']);
  });

  it('refuses a value that is not a connection, the mongoose module itself included, with a clear error', () => {
    expect(() => makeModels(undefined as never)).toThrow(/needs a mongoose Connection/);
    expect(() => makeModels(mongoose as never)).toThrow(/needs a mongoose Connection/);
    expect(mongoose.modelNames()).toEqual([]);
  });

  it('a connection that already has a model of the same name from another schema gets a clear error', async () => {
    const conn = db.conn.useDb(`${db.conn.name}_clash`);
    conn.model('User', new mongoose.Schema({ email: String }));
    expect(() => makeModels(conn)).toThrow(/User/);
  });
});
