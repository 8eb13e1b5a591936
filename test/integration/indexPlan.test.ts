// The index plan of a deploy, through the built command line (`npm run build` first; the test command does it)
// and through planIndexes/applyIndexes, against the run's server.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyIndexes, makeModels, planIndexes, type IndexApplyResult, type IndexPlan, type IndexProgress, type ModelName } from '../../src/index.js';
import { INDEX_OPTION_NEEDS } from '../../src/indexes.js';
import { server } from '../support/db.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

type Report = { server: string; apply: boolean; drop: boolean; databases: Array<{ database: string; plan: IndexPlan; applied?: IndexApplyResult }> };

/** Runs `data-models indexes --json` and returns its exit code and report. */
async function indexes(...args: string[]): Promise<{ code: number; report: Report; stderr: string }> {
  const result = await run(process.execPath, [cli, 'indexes', '--uri', server.uri, '--json', ...args], { env: { ...process.env, MONGODB_URI: '' } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  return { code: result.code, report: JSON.parse(result.stdout) as Report, stderr: result.stderr };
}

/** Every index the server lists, per model, without `_id_`. */
async function onServer(conn: mongoose.Connection) {
  const models = makeModels(conn);
  const names = {} as Record<ModelName, string[]>;
  for (const name of Object.keys(models) as ModelName[]) {
    const listed = await models[name].collection.indexes().catch(() => []);
    names[name] = listed.map((index) => index.name!).filter((index) => index !== '_id_').sort();
  }
  return names;
}

/** The indexes each schema declares that this server can build, and the ones it cannot. */
function declared() {
  const models = makeModels(mongoose.createConnection());
  const buildable = {} as Record<ModelName, string[]>;
  const lacking: string[] = [];
  for (const name of Object.keys(models) as ModelName[]) {
    buildable[name] = [];
    for (const [key, options] of models[name].schema.indexes()) {
      const index = Object.entries(key).map(([path, order]) => `${path}_${String(order)}`).join('_');
      const needs = Object.keys(options ?? {}).map((option) => INDEX_OPTION_NEEDS[option]).filter((c) => c !== undefined);
      if (needs.every((capability) => server.capabilities[capability])) buildable[name].push(index);
      else lacking.push(`${name}.${index}`);
    }
    buildable[name].sort();
  }
  return { buildable, lacking };
}

const changes = (plan: IndexPlan) => Object.values(plan.models).flatMap((entry) => [...entry.create, ...entry.change, ...entry.drop]);

describe('index plans (data-models indexes, planIndexes, applyIndexes)', () => {
  const database = `indexplan_${randomUUID().slice(0, 8)}`;
  let root: mongoose.Connection;
  let conn: mongoose.Connection;
  beforeAll(async () => {
    root = await mongoose.createConnection(server.uri, { autoIndex: false, autoCreate: false }).asPromise();
    conn = root.useDb(database, { useCache: true });
  });
  afterAll(async () => {
    for (const name of [database, `${database}_b`, `${database}_c`]) await root.useDb(name).dropDatabase();
    await root.close();
  });

  it('a dry run plans every declared index on a fresh database and changes nothing', async () => {
    const { code, report } = await indexes('--db', database);
    expect(code).toBe(0);
    const { plan } = report.databases[0]!;
    const { buildable, lacking } = declared();
    for (const [name, entry] of Object.entries(plan.models)) {
      expect(entry.create.map((index) => index.name).sort(), name).toEqual(buildable[name as ModelName]);
      expect(entry.drop).toEqual([]);
    }
    expect(Object.entries(plan.models).flatMap(([name, entry]) => entry.cannotBuild.map((index) => `${name}.${index.name}`))).toEqual(lacking);
    expect((await root.getClient().db(database).listCollections().toArray()).length).toBe(0);
  });

  it('--apply builds on a fresh database every index the server can build, and names the others with the reason', async () => {
    const { code, report, stderr } = await indexes('--db', database, '--apply');
    expect(code).toBe(0);
    expect(await onServer(conn)).toEqual(declared().buildable);
    const { plan, applied } = report.databases[0]!;
    for (const [name, entry] of Object.entries(plan.models)) {
      for (const index of entry.cannotBuild) {
        expect(index.reason, `${name}.${index.name}`).toMatch(/lacks (partialIndexes|ttlIndexes|collation)/);
        expect(applied![name as ModelName].notBuilt.map((n) => n.index)).toContain(index.name);
      }
    }
    expect(stderr).toMatch(/\[\d+\/\d+\] Workspace create code_1: done/);
  });

  it('a second --apply changes nothing', async () => {
    const before = await onServer(conn);
    const { report } = await indexes('--db', database, '--apply', '--drop');
    const { plan, applied } = report.databases[0]!;
    expect(changes(plan)).toEqual([]);
    expect(Object.values(applied!).flatMap((result) => [...result.created, ...result.dropped, ...result.kept])).toEqual([]);
    expect(await onServer(conn)).toEqual(before);
  });

  it('a changed schema shows the right plan: new indexes to create, undeclared ones to drop and changed ones to rebuild, both only with --drop', async () => {
    const models = makeModels(conn);
    await models.Workspace.collection.dropIndex('status_1');
    await models.Workspace.collection.createIndex({ name: 1 }, { name: 'name_1', unique: true });
    await models.Client.collection.dropIndex('status_1');
    await models.Client.collection.createIndex({ status: -1 }, { name: 'status_1' });

    const plan = await planIndexes(models, { server });
    expect(plan.models.Workspace.create.map((index) => index.name)).toEqual(['status_1']);
    expect(plan.models.Workspace.drop).toEqual([{ name: 'name_1', key: { name: 1 }, options: { unique: true } }]);
    expect(plan.models.Client.change).toEqual([{ name: 'status_1', key: { status: 1 }, options: {} }]);
    expect(changes(plan)).toHaveLength(3);

    const withoutDrop = (await indexes('--db', database, '--apply')).report.databases[0]!.applied!;
    expect(withoutDrop.Workspace).toMatchObject({ created: ['status_1'], dropped: [] });
    expect(withoutDrop.Client).toMatchObject({ created: [], kept: ['status_1'] });
    expect((await onServer(conn)).Workspace).toContain('name_1');

    const withDrop = (await indexes('--db', database, '--apply', '--drop')).report.databases[0]!.applied!;
    expect(withDrop.Workspace.dropped).toEqual(['name_1']);
    expect(withDrop.Client).toMatchObject({ dropped: ['status_1'], created: ['status_1'] });
    expect(await onServer(conn)).toEqual(declared().buildable);
    expect((await models.Client.collection.indexes()).find((index) => index.name === 'status_1')?.key).toEqual({ status: 1 });
  });

  it('--json prints one report that parses, for every --db given', async () => {
    const { report } = await indexes('--db', database, '--db', `${database}_b`);
    expect(report).toMatchObject({ server: expect.any(String), apply: false, drop: false });
    expect(report.databases.map((entry) => entry.database)).toEqual([database, `${database}_b`]);
    expect(changes(report.databases[1]!.plan).length).toBeGreaterThan(0);
  });

  it('--strict exits 1 exactly when the server cannot build a declared index', async () => {
    const { code } = await indexes('--db', database, '--apply', '--strict');
    expect(code).toBe(declared().lacking.length > 0 ? 1 : 0);
  });

  it('an index kept with other options than declared (a non-unique username_1) makes --apply exit 1 and name it; --apply --drop rebuilds it', async () => {
    const other = `${database}_c`;
    const users = makeModels(root.useDb(other, { useCache: true })).User.collection;
    await users.createIndex({ username: 1 }, { name: 'username_1' });

    const kept = await indexes('--db', other, '--apply');
    expect(kept.code).toBe(1);
    expect(kept.report.databases[0]!.applied!.User.kept).toEqual(['username_1']);
    expect(kept.stderr).toMatch(/Not in sync: User\.username_1 differ from the schemas and were kept; rebuild them with --apply --drop/);
    expect((await users.indexes()).find((index) => index.name === 'username_1')?.unique).toBeUndefined();

    const rebuilt = await indexes('--db', other, '--apply', '--drop');
    expect(rebuilt.code).toBe(0);
    expect((await users.indexes()).find((index) => index.name === 'username_1')?.unique).toBe(true);
  });

  it('--drop without --apply is refused: a dry run already lists what it would drop', async () => {
    const error = await run(process.execPath, [cli, 'indexes', '--uri', server.uri, '--drop']).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 1, stderr: expect.stringMatching(/--drop only acts with --apply/) });
  });

  it('applyIndexes reports every step to onProgress, started then done or skipped', async () => {
    const models = makeModels(root.useDb(`${database}_b`, { useCache: true }));
    const events: IndexProgress[] = [];
    const plan = await planIndexes(models, { server });
    await applyIndexes(models, plan, { onProgress: (event) => events.push(event) });
    const finished = events.filter((event) => event.state !== 'started');
    expect(finished.map((event) => event.done)).toEqual(finished.map((_, i) => i + 1));
    expect(finished.at(-1)!.done).toBe(finished.at(-1)!.total);
    expect(changes(await planIndexes(models, { server }))).toEqual([]);
  });
});
