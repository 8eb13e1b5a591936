import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModels, releaseTenant, workspaceSchema } from '../../src/index.js';
import { server, useTestDatabase } from '../support/db.js';

const db = useTestDatabase('tenants');

// A full collection on demand, as `node --expose-gc` gives it, without changing how vitest starts the worker.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('many tenants on one connection', () => {
  // A root connection as a many-tenant service opens it, counting the commands its client sends.
  let root: mongoose.Connection;
  let commands: string[];
  const tenantNames: string[] = [];
  const tenant = (label: string) => {
    const name = `${db.conn.name}_${label}`;
    tenantNames.push(name);
    return root.useDb(name, { useCache: true });
  };
  beforeAll(async () => {
    root = await mongoose.createConnection(server.uri, { dbName: db.conn.name, monitorCommands: true }).asPromise();
    root.getClient().on('commandStarted', (event) => commands.push(event.commandName));
  });
  afterAll(async () => {
    for (const name of tenantNames) await root.getClient().db(name).dropDatabase();
    await root.close();
  });

  it('makeModels on a tenant sends no command, and compiles no model until the service first uses one', async () => {
    const conn = tenant('lazy');
    commands = [];
    const models = makeModels(conn);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(commands).toEqual([]);
    expect(Object.keys(models)).toHaveLength(8);
    expect(Object.keys(conn.models)).toEqual([]);
    void models.Workspace;
    expect(Object.keys(conn.models)).toEqual(['Workspace']);
  });

  it('a model is first used with the connection\'s autoCreate and autoIndex: its collection and indexes are built then, on the tenant\'s database only', async () => {
    const conn = tenant('autoindex');
    const { Workspace } = makeModels(conn);
    await Workspace.init();
    const names = (await Workspace.collection.indexes()).map((index) => index.name).sort();
    expect(names).toEqual(['_id_', 'code_1', 'status_1']);
    const collections = (await conn.db!.listCollections().toArray()).map((c) => c.name);
    expect(collections).toEqual(['workspaces']);
  });

  it('a tenant whose service never uses Contact never runs Contact\'s index build (which some servers reject)', async () => {
    const conn = tenant('nocontact');
    commands = [];
    const models = makeModels(conn);
    // User, not Session: Session's TTL index is one that some servers (FerretDB v1) reject under autoIndex.
    await models.User.init();
    const collections = (await conn.db!.listCollections().toArray()).map((c) => c.name);
    expect(collections).toEqual(['users']);
    expect(commands.filter((name) => name === 'createIndexes').length).toBeGreaterThan(0);
  });

  it('tenants keep their data apart and every package rule holds on a tenant\'s models', async () => {
    const a = makeModels(tenant('rules_a'));
    const b = makeModels(tenant('rules_b'));
    const { client } = await a.Client.createWithSecret({ name: 'Shop', allowedScopes: ['events:write'] });
    expect(await b.Client.exists({ _id: client._id })).toBeNull();
    expect(JSON.stringify(await a.Client.findById(client._id).lean())).not.toMatch(/secretHash|secretSalt/);
    await expect(a.Client.find({ nope: 1 } as never)).rejects.toThrow(/nope/);
    await expect(a.Workspace.create({ name: 'Bad', code: 'TOO LONG' })).rejects.toThrow(/code/);
    expect(await a.Workspace.collection.countDocuments()).toBe(0);
  });

  it('each model is compiled once: every connection\'s model is a subclass of it, bound to that connection', () => {
    const conn = tenant('subclass');
    const models = makeModels(conn);
    const parent: unknown = Object.getPrototypeOf(models.Workspace);
    expect(Object.getPrototypeOf(makeModels(db.conn).Workspace)).toBe(parent);
    expect(models.Workspace.schema).toBe(workspaceSchema);
    expect(models.Workspace.db).toBe(conn);
    expect(models.Workspace.collection.conn).toBe(conn);
    expect(new models.Workspace({ name: 'New' }).db).toBe(conn);
  });

  // mongoose marks Model.__subclass private: these fail loudly if mongoose changes what makeModels relies on.
  it('pins mongoose\'s private Model.__subclass and its list of subclasses, which makeModels empties', () => {
    const models = makeModels(tenant('pin'));
    const parent = Object.getPrototypeOf(models.Pipeline) as Record<string | symbol, unknown>;
    expect(typeof parent.__subclass).toBe('function');
    const list = Object.getOwnPropertySymbols(parent).find((symbol) => symbol.description === 'mongoose#Model#subclassed');
    expect(list && parent[list]).toEqual([]);
    expect(Object.hasOwn(parent, '$init')).toBe(false);
  });

  it('releaseTenant lets the tenant\'s connection and models be garbage-collected once their work is done', async () => {
    const names = [1, 2, 3].map((i) => `${db.conn.name}_released_${i}`);
    // In a function of its own, so that no variable of this test still holds a tenant when it is collected.
    const useTenant = async (name: string) => {
      const conn = root.useDb(name, { useCache: true });
      const models = makeModels(conn);
      await models.Pipeline.findOne({ _id: 'none', workspaceId: 'ws_none' }).lean();
      await models.User.init();
      return [new WeakRef(conn), new WeakRef(models), new WeakRef(models.Pipeline), new WeakRef(models.User)];
    };
    const refs: WeakRef<object>[] = [];
    for (const name of names) refs.push(...(await useTenant(name)));
    for (const name of names) releaseTenant(root, name);
    // Under load a driver callback may still hold a tenant for a moment: collect again for up to 2 s.
    for (let tries = 0; tries < 100 && refs.some((ref) => ref.deref() !== undefined); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
    }
    expect(refs.filter((ref) => ref.deref() !== undefined)).toEqual([]);
  });

  it('a released tenant opens again with fresh models that see its data', async () => {
    const conn = tenant('reopen');
    await makeModels(conn).Workspace.create({ _id: 'ws_again', name: 'Again' });
    releaseTenant(root, conn.name);
    const again = makeModels(root.useDb(conn.name, { useCache: true }));
    expect(again).not.toBe(makeModels(conn));
    expect((await again.Workspace.findById('ws_again').lean())?.name).toBe('Again');
  });
});
