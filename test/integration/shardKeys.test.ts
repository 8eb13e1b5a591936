import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forWorkspace, makeModels, type Models } from '../../src/index.js';
import { server, useTestDatabase } from '../support/db.js';

const db = useTestDatabase('shardkeys');

// The plan, read from docs/SCALING.md so that the test and the document cannot drift apart.
const plan = readFileSync(new URL('../../docs/SCALING.md', import.meta.url), 'utf8');
const SHARD_KEYS = new Map(
  [...plan.matchAll(/^\| `(\w+)` \| (\w+) \| ([^|]+) \|/gm)].map(([, collection, model, key]) => [collection!, { model: model!, field: /\{ (\w+):/.exec(key!)?.[1] }]),
);
const scatterSection = plan.slice(plan.indexOf('## Deliberate scatter-gather queries'), plan.indexOf('\n## ', plan.indexOf('## Deliberate scatter-gather queries') + 1));
const SCATTER_GATHER = new Map([...scatterSection.matchAll(/^- `([\w.]+)`: (.+)$/gm)].map(([, label, reason]) => [label!, reason!]));

type Sent = { command: string; collection: string; filter: unknown; label: string };

/** The filters a command carries (for an insert, the documents: they must carry the key too). */
function filtersOf(name: string, command: Record<string, unknown>): unknown[] {
  const list = (key: string, field: string) => ((command[key] as Array<Record<string, unknown>>) ?? []).map((entry) => entry[field]);
  switch (name) {
    case 'find':
      return [command.filter ?? {}];
    case 'count':
    case 'distinct':
    case 'findAndModify':
      return [command.query ?? {}];
    case 'aggregate': {
      const first = (command.pipeline as Array<Record<string, unknown>>)[0];
      return [first?.$match ?? {}];
    }
    case 'update':
      return list('updates', 'q');
    case 'delete':
      return list('deletes', 'q');
    case 'insert':
      return (command.documents as unknown[]) ?? [];
    default:
      return [];
  }
}

/** Whether mongos could send the filter to the shards that own some key values only: equality or $in on the key. */
function carriesKey(filter: unknown, field: string): boolean {
  if (!filter || typeof filter !== 'object') return false;
  const value = (filter as Record<string, unknown>)[field];
  if (value === undefined) {
    const and = (filter as { $and?: unknown[] }).$and;
    return Array.isArray(and) && and.some((part) => carriesKey(part, field));
  }
  if (value === null || typeof value !== 'object' || value instanceof Date) return true;
  const operators = value as Record<string, unknown>;
  return '$eq' in operators || Array.isArray(operators.$in);
}

describe('shard keys (docs/SCALING.md)', () => {
  let conn: mongoose.Connection;
  let models: Models;
  let sent: Sent[] = [];
  let label = '';
  const fixtures = { workspaceId: '', clientId: '', clientSecret: '', connectionId: '', pipelineId: '', sessionId: '', token: '', userId: '' };

  /** What `run` sends, each command labelled with the static that sent it. */
  async function record(name: string, run: () => Promise<unknown>): Promise<Sent[]> {
    label = name;
    sent = [];
    await run();
    label = '';
    return sent;
  }

  beforeAll(async () => {
    conn = await mongoose.createConnection(server.uri, { dbName: db.conn.name, autoIndex: false, autoCreate: false, monitorCommands: true }).asPromise();
    conn.getClient().on('commandStarted', (event) => {
      if (!label || event.databaseName !== conn.name) return;
      const command = event.command as Record<string, unknown>;
      const collection = command[event.commandName];
      if (typeof collection !== 'string') return;
      for (const filter of filtersOf(event.commandName, command)) sent.push({ command: event.commandName, collection, filter, label });
    });
    models = makeModels(conn);
    const workspace = await models.Workspace.create({ name: 'Sharded' });
    const { client, secret } = await models.Client.createWithSecret({ name: 'Shop', allowedScopes: ['events:write'] });
    const connection = await models.Connection.create({ name: 'Hook', type: 'HTTP', config: { url: 'https://hooks.example.com/x', method: 'POST' } });
    const pipeline = await models.Pipeline.create({
      workspaceId: workspace._id,
      name: 'Orders',
      streams: [{ topic: 'orders.raw', type: 'source' }],
      sourceClients: [{ clientId: client._id, streamName: 'orders.raw' }],
    });
    const user = new models.User({ workspaceId: workspace._id, username: 'sharded' });
    await user.setPassword('a long enough password');
    await user.save();
    const { session, token } = await models.Session.issue({ workspaceId: workspace._id, principalId: user._id, principalType: 'user', ttlSeconds: 60 });
    Object.assign(fixtures, { workspaceId: workspace._id, clientId: client._id, clientSecret: secret, connectionId: connection._id, pipelineId: pipeline._id, sessionId: session._id, token, userId: user._id });
  });
  afterAll(() => conn.close());

  // Every static and hook of the package that queries, with what it is given in a service.
  const STATICS: Record<string, () => Promise<unknown>> = {
    'Workspace.create': () => models.Workspace.create({ name: 'Another' }),
    'Pipeline.create': () => models.Pipeline.create({ workspaceId: fixtures.workspaceId, name: 'Refunds' }),
    'Pipeline.checkLinks': () => models.Pipeline.checkLinks({ sourceClients: [{ clientId: fixtures.clientId, streamName: 'orders.raw' }], sinkConnections: [{ connectionId: fixtures.connectionId, streamName: 'orders.out' }] }),
    'Pipeline.updateOne (graph update guard)': () =>
      models.Pipeline.updateOne({ _id: fixtures.pipelineId, workspaceId: fixtures.workspaceId }, { $set: { streams: [{ topic: 'orders.raw', type: 'source' }, { topic: 'orders.out', type: 'sink' }] } }),
    'DuplicateKeyError (a pipeline code taken in its workspace)': () =>
      models.Pipeline.create({ workspaceId: fixtures.workspaceId, name: 'Orders', code: 'orde' }).catch((error: unknown) => error),
    'Client.authenticate': () => models.Client.authenticate(fixtures.clientId, fixtures.clientSecret),
    'User.authenticate': () => models.User.authenticate('sharded', 'a long enough password'),
    // A user session's principal must be a user of its workspace (the check reads users by _id and workspaceId).
    'Session.issue': () => models.Session.issue({ workspaceId: fixtures.workspaceId, principalId: fixtures.userId, principalType: 'user', ttlSeconds: 60 }),
    'Session.verify': () => models.Session.verify(fixtures.token),
    'Session.revoke': () => models.Session.revoke(randomUUID()),
    'Session.findLive': () => models.Session.findLive(fixtures.sessionId),
    'Session.revokeAllFor': () => models.Session.revokeAllFor('user', 'usr_nobody'),
    'forWorkspace(...).Pipeline.findById': () => forWorkspace(models, fixtures.workspaceId).Pipeline.findById(fixtures.pipelineId),
    'forWorkspace(...).Pipeline.updateOne': () => forWorkspace(models, fixtures.workspaceId).Pipeline.updateOne({ _id: fixtures.pipelineId }, { $set: { name: 'Orders again' } }),
  };

  it('every collection of the package has a row in the plan, under its model', () => {
    const planned = Object.fromEntries([...SHARD_KEYS].map(([collection, { model }]) => [model, collection]));
    for (const [name, model] of Object.entries(db.models)) expect(planned[name], name).toBe(model.collection.collectionName);
  });

  it('every unique index of a sharded collection starts with its shard key, so it holds across shards', () => {
    for (const model of Object.values(db.models)) {
      const field = SHARD_KEYS.get(model.collection.collectionName)?.field;
      if (!field) continue;
      for (const [keys, options] of model.schema.indexes()) {
        if (options?.unique) expect(Object.keys(keys)[0], `${model.modelName} ${JSON.stringify(keys)}`).toBe(field);
      }
    }
  });

  it.each(Object.keys(STATICS))('%s sends only filters that carry the shard key, or is a listed scatter-gather', async (name) => {
    const commands = await record(name, STATICS[name]!);
    expect(commands.length, 'the static sent nothing: the case no longer exercises it').toBeGreaterThan(0);
    const scattered = commands.filter(({ collection, filter }) => {
      const field = SHARD_KEYS.get(collection)?.field;
      return field !== undefined && !carriesKey(filter, field);
    });
    if (SCATTER_GATHER.has(name)) expect(scattered.length, `${name} is listed as a scatter-gather but carries the key: remove it from the list`).toBeGreaterThan(0);
    else expect(scattered.map(({ command, collection, filter }) => `${command} ${collection} ${JSON.stringify(filter)}`)).toEqual([]);
  });

  it('every deliberate scatter-gather of SCALING.md is a static this test runs, with its reason', () => {
    expect(SCATTER_GATHER.size).toBeGreaterThan(0);
    for (const [name, reason] of SCATTER_GATHER) {
      expect(Object.keys(STATICS), name).toContain(name);
      expect(reason.length, name).toBeGreaterThan(20);
    }
  });
});
