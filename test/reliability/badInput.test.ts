import fc from 'fast-check';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { INPUT_LIMITS, validatePipelineGraph, type Limit } from '../../src/index.js';
import type { Models } from '../../src/makeModels.js';
import { userWithPassword, useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';
import { reliabilityTable } from './table.js';

const db = useTestDatabase('badinput');
const table = reliabilityTable('bad input');

type ModelName = keyof typeof INPUT_LIMITS & keyof Models;

/** A valid document of each model, to which one bad value is added. */
export const validDocument: Record<ModelName, () => Record<string, unknown>> = {
  Workspace: () => ({ name: 'Acme' }),
  Pipeline: () => ({ workspaceId: 'ws_1', name: 'Orders' }),
  Client: () => ({ name: 'Shop' }),
  Connection: () => ({ name: 'Hook', type: 'HTTP', config: { url: 'https://hooks.example.com', method: 'POST' } }),
  User: () => ({ workspaceId: 'ws_1', username: `ann${Math.random().toString(36).slice(2, 8)}` }),
  Session: () => ({ workspaceId: 'ws_1', principalId: 'cl_1', principalType: 'client', expiresAt: new Date(Date.now() + 3_600_000) }),
  Notification: () => ({ channel: 'email', type: 'welcome', correlationId: 'req_1', target: { email: 'ann@example.com' } }),
  Contact: () => ({}),
};

const TEN_MB = 10 * 1024 * 1024;

/** A value just over `limit`, or of about `bytes` bytes as JSON when given. */
function over(limit: Limit, bytes?: number): unknown {
  if ('items' in limit) return Array(bytes ? bytes / 10 : limit.items + 1).fill('12345678');
  if ('keys' in limit) return Object.fromEntries(Array.from({ length: bytes ? bytes / 32 : limit.keys + 1 }, (_, i) => [`key${i}`, { x: 1, y: 1 }]));
  if ('chars' in limit) return 'a'.repeat(bytes ?? limit.chars + 1);
  return { text: 'a'.repeat(bytes ?? limit.bytes) };
}

/**
 * The input that puts `value` at `path` (in a list's first element for `streams.topic`, as a map's entry for
 * `config.headers.$*`), where the error names it, and the update that writes it.
 */
function withValue(model: ModelName, path: string, value: unknown): { input: Record<string, unknown>; at: string; update: Record<string, unknown> } {
  const input = validDocument[model]();
  const [head, field, each] = path.split('.') as [string, string?, string?];
  if (!field) return { input: { ...input, [head]: value }, at: head, update: { $set: { [head]: value } } };
  const isList = (db.models[model].schema as mongoose.Schema).path<mongoose.SchemaType>(head)?.instance === 'Array';
  const inner = { [field]: each ? { h: value } : value };
  const top = isList ? [inner] : { ...(input[head] as object | undefined), ...inner };
  const at = `${head}${isList ? '.0' : ''}.${field}${each ? '.h' : ''}`;
  return { input: { ...input, [head]: top }, at, update: { $set: { [head]: top } } };
}

const limited = (Object.entries(INPUT_LIMITS) as Array<[ModelName, Record<string, Limit>]>).flatMap(([model, limits]) =>
  Object.entries(limits).map(([path, limit]) => ({ model, path, limit })),
);

/** Stores a valid document of the model; a user's and a client's hashes are set the package's way, as only it may. */
async function storeValid(model: ModelName): Promise<{ _id: unknown; get(path: string): unknown }> {
  if (model === 'User') return userWithPassword(db.models, validDocument.User()).save();
  if (model === 'Client') return (await db.models.Client.createWithSecret(validDocument.Client() as { name: string })).client;
  return (db.models[model] as unknown as mongoose.Model<unknown>).create(validDocument[model]());
}

const rawCount = (models: Models, model: ModelName) => models[model].collection.countDocuments();

describe('Input limits', () => {
  it('every value over its limit is refused on create and on update with a ValidationError naming the path and the limit, and nothing is written', async () => {
    const slowest = { ms: 0, what: '' };
    const settled: PromiseSettledResult<unknown>[] = [];
    let changed = 0;
    for (const { model, path, limit } of limited) {
      const Model = db.models[model] as unknown as import('mongoose').Model<unknown>;
      const existing = await storeValid(model);
      const before = await rawCount(db.models, model);
      const stored = JSON.stringify(await Model.collection.findOne({ _id: existing._id as never }));
      for (const bytes of [undefined, TEN_MB]) {
        const { input, at, update } = withValue(model, path, over(limit, bytes));
        for (const [how, write] of [
          ['create', () => Model.create(input)],
          // The document's own filter: its id, and its workspace where it has one (the tenant guard).
          ['updateOne', () => Model.updateOne(existing.get('workspaceId') ? { _id: existing._id, workspaceId: existing.get('workspaceId') } : { _id: existing._id }, update).exec()],
        ] as const) {
          const started = performance.now();
          const result = write();
          await expectInvalid(result, at, /too large: at most \d+/);
          const ms = performance.now() - started;
          if (bytes && ms > slowest.ms) Object.assign(slowest, { ms, what: `${model}.${path} ${how}` });
          settled.push(...(await Promise.allSettled([result])));
        }
      }
      if ((await rawCount(db.models, model)) !== before || JSON.stringify(await Model.collection.findOne({ _id: existing._id as never })) !== stored) changed++;
    }
    console.log(`slowest refusal of a 10 MB input: ${slowest.ms.toFixed(1)} ms (${slowest.what})`);
    const row = table.count(`${settled.length} oversize creates and updates`, settled, (e) => e instanceof Error && /too large/.test(e.message), changed);
    expect(row).toMatchObject({ succeeded: 0, unexpectedErrors: 0, lostOrHalfWritten: 0 });
  });

  it('a pipeline at every maximum count validates and saves', async () => {
    const limits = INPUT_LIMITS.Pipeline;
    const n = Math.min(limits.streams.items, limits.transforms.items, limits.sourceClients.items, limits.sinkConnections.items);
    const streams = Array.from({ length: n }, (_, i) => ({ topic: `s${i}`, type: i === 0 ? ('source' as const) : ('sink' as const) }));
    const pipeline = {
      workspaceId: 'ws_1',
      name: 'Largest',
      streams,
      sourceClients: streams.map((_, i) => ({ clientId: `cl_${i}`, streamName: 's0' })),
      sinkConnections: streams.map((s, i) => ({ connectionId: `cn_${i}`, streamName: s.topic })),
      // A chain s0 -> s1 -> ... and one more transform into the last stream from s0 would be a second writer.
      transforms: streams.slice(1).map((s, i) => ({ type: 'map', sourceStream: `s${i}`, targetStream: s.topic })),
      nodePositions: Object.fromEntries(streams.map((s, i) => [`stream:${s.topic}`, { x: i, y: i }])),
    };
    expect(validatePipelineGraph(pipeline)).toEqual([]);
    const cpu = process.cpuUsage();
    const saved = await db.models.Pipeline.create(pipeline);
    const used = process.cpuUsage(cpu);
    console.log(`a pipeline of ${n} streams, ${n} clients, ${n} connections, ${n - 1} transforms, ${n} positions: create() used ${((used.user + used.system) / 1000).toFixed(1)} ms of CPU`);
    expect(await db.models.Pipeline.collection.countDocuments({ _id: saved._id as never })).toBe(1);
  });
});

/** CPU milliseconds `work` takes (reported, never asserted: the machine is shared). */
async function cpuOf(work: () => Promise<unknown>): Promise<string> {
  const started = process.cpuUsage();
  await work();
  const used = process.cpuUsage(started);
  return ((used.user + used.system) / 1000).toFixed(1);
}

describe('The inputs that used to cost seconds', () => {
  it('unknown layout keys, huge graphs, a 5-million-character name and a 15 MiB context are refused naming the path, by validate() and by the update guard', async () => {
    const { Pipeline, Session, Workspace } = db.models;
    const positions = (n: number, prefix = 'ghost') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`stream:${prefix}${i}`, { x: i, y: i }]));
    const streams = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: `ghost${i}`, type: 'sink' }));
    const stored = await Pipeline.create({ workspaceId: 'ws_1', name: 'Target' });
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['4,000 unknown layout keys', 'nodePositions', { nodePositions: positions(4_000) }],
      ['10,000 unknown layout keys', 'nodePositions', { nodePositions: positions(10_000) }],
      ['8,000 streams and 8,000 positions', 'streams', { streams: streams(8_000), nodePositions: positions(8_000) }],
      ['100,000 positions', 'nodePositions', { nodePositions: positions(100_000) }],
    ];
    const figures: string[] = [];
    for (const [what, path, fields] of cases) {
      const document = new Pipeline({ workspaceId: 'ws_1', name: 'Big', ...fields });
      const validateCpu = await cpuOf(() => expectInvalid(document.validate(), path, /too large/));
      const updateCpu = await cpuOf(() => expectInvalid(() => Pipeline.updateOne({ _id: stored._id, workspaceId: stored.workspaceId }, { $set: fields }).exec(), path, /too large/));
      figures.push(`${what}: validate() ${validateCpu} ms, updateOne ${updateCpu} ms of CPU`);
    }
    const name = 'a'.repeat(5_000_000);
    figures.push(`5-million-character name: create() ${await cpuOf(() => expectInvalid(() => Workspace.create({ name }), 'name', /too large/))} ms of CPU`);
    const context = { blob: 'x'.repeat(15 * 1024 * 1024) };
    const session = { workspaceId: 'ws_1', principalId: 'cl_1', principalType: 'client' as const, expiresAt: new Date(Date.now() + 60_000), context };
    figures.push(`15 MiB Session.context: create() ${await cpuOf(() => expectInvalid(() => Session.create(session), 'context', /too large/))} ms of CPU`);
    // Within the limits, every unknown key is still reported, each on its own path.
    const within = new Pipeline({ workspaceId: 'ws_1', name: 'Within', nodePositions: positions(INPUT_LIMITS.Pipeline.nodePositions.keys) });
    figures.push(`${INPUT_LIMITS.Pipeline.nodePositions.keys} unknown layout keys (the limit): validate() ${await cpuOf(() => expectInvalid(within.validate(), 'nodePositions.stream:ghost0', /not a node/))} ms of CPU`);
    console.log(figures.join('\n'));
    expect(await Pipeline.collection.countDocuments({ name: { $in: ['Big', 'Within'] } })).toBe(0);
    expect(await Session.collection.countDocuments({ 'context.blob': { $exists: true } })).toBe(0);
  });
});

describe('Pipeline graph rules at scale', () => {
  it('a chain of 8,000 transforms, and a cycle through all of them, give the right problems (the check is linear)', () => {
    for (const n of [4_000, 8_000]) {
      const streams = Array.from({ length: n + 1 }, (_, i) => ({ topic: `s${i}`, type: i === 0 ? ('source' as const) : ('sink' as const) }));
      const chain = streams.slice(1).map((s, i) => ({ sourceStream: `s${i}`, targetStream: s.topic }));
      let started = performance.now();
      expect(validatePipelineGraph({ streams, transforms: chain })).toEqual([]);
      const chainMs = performance.now() - started;
      const cycle = [...chain.slice(1), { sourceStream: `s${n}`, targetStream: 's1' }];
      started = performance.now();
      const problems = validatePipelineGraph({ streams, transforms: cycle });
      const cycleMs = performance.now() - started;
      expect(problems.filter((p) => p.code === 'transform-cycle')).toHaveLength(n);
      console.log(`validatePipelineGraph, ${n} transforms: chain ${chainMs.toFixed(1)} ms, one cycle through all ${cycleMs.toFixed(1)} ms`);
    }
  });
});

const notIn = (allowed: readonly string[]) => fc.string().filter((v) => !allowed.includes(v));
const blank = fc.constantFrom('', '   ');
// Not numbers or booleans: mongoose casts those to strings (`name: 12` is stored as "12").
const notString = fc.oneof(fc.constant({ $gt: '' }), fc.dictionary(fc.string(), fc.string(), { minKeys: 1 }), fc.array(fc.string(), { minLength: 2 }));

/** Per model, paths and values that break one rule each (the rest of the document stays valid). */
const invalidValues: Record<ModelName, Array<[string, fc.Arbitrary<unknown>]>> = {
  Workspace: [['name', blank], ['code', fc.string().filter((v) => !/^[a-z]{4}$/.test(v.trim()) && v.trim() !== '')], ['status', notIn(['active', 'inactive'])], ['allowedOrigins', fc.constant(['not an origin'])]],
  Pipeline: [['workspaceId', fc.constantFrom('', 'has space', 'x'.repeat(129))], ['status', notIn(['active', 'inactive'])], ['streams', fc.constant([{ topic: 'bad topic!', type: 'sink' }])], ['name', notString]],
  Client: [['name', blank], ['status', notIn(['active', 'inactive'])], ['allowedScopes', fc.constant([''])]],
  Connection: [['type', notIn(['HTTP', 'S3'])], ['config.url', fc.constantFrom('ftp://x', 'not a url')], ['config.method', notIn(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])]],
  User: [['username', fc.constantFrom('has space', 'semi;colon', '')], ['roles', fc.constant([''])], ['status', notIn(['active', 'inactive'])]],
  Session: [['principalType', notIn(['client', 'user'])], ['principalId', fc.constantFrom('', 'a b')], ['expiresAt', fc.constantFrom('not a date', 'tomorrow-ish')], ['_id', fc.constantFrom('not-a-uuid', '123')]],
  Notification: [['channel', notIn(['slack', 'email'])], ['target.email', fc.constantFrom('nobody', 'a@b')], ['status', notIn(['queued', 'sent', 'failed'])]],
  Contact: [['email', fc.constantFrom('nobody', 'a@@example.com')], ['phone', fc.constantFrom('12', 'call me')], ['role', notIn(['admin', 'member', 'agent', 'viewer'])]],
};

function setAt(input: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.');
  if (rest.length === 0) return { ...input, [head!]: value };
  return { ...input, [head!]: setAt({ ...(input[head!] as Record<string, unknown>) }, rest.join('.'), value) };
}

describe('Invalid documents of every model', () => {
  it('fast-check: every invalid document, and every unknown field, is refused with a ValidationError naming the path, and the collection is unchanged', async () => {
    const settled: PromiseSettledResult<unknown>[] = [];
    let changed = 0;
    for (const model of Object.keys(invalidValues) as ModelName[]) {
      const Model = db.models[model] as unknown as mongoose.Model<unknown>;
      const cases = fc.oneof(
        fc.constantFrom(...invalidValues[model]).chain(([path, value]) => value.map((v) => [path, v] as const)),
        fc.string({ minLength: 1 }).filter((k) => /^[a-z]+$/i.test(k) && !(k in Model.schema.paths)).map((k) => [`x${k}`, 'unknown'] as const),
      );
      const before = await Model.collection.countDocuments();
      await fc.assert(
        fc.asyncProperty(cases, async ([path, value]) => {
          const write = Model.create(setAt(validDocument[model](), path, value));
          settled.push(...(await Promise.allSettled([write])));
          const error = (await write.then(() => undefined, (e: unknown) => e)) as mongoose.Error.ValidationError | undefined;
          expect(error, `${model} ${path} = ${JSON.stringify(value)}`).toBeInstanceOf(mongoose.Error.ValidationError);
          expect(Object.keys(error!.errors).some((p) => p === path || p.startsWith(`${path}.`)), `${model}: ${Object.keys(error!.errors)} should name ${path}`).toBe(true);
        }),
        { numRuns: 25 },
      );
      if ((await Model.collection.countDocuments()) !== before) changed++;
    }
    const row = table.count(`${settled.length} invalid documents, 8 models`, settled, (e) => e instanceof mongoose.Error.ValidationError, changed);
    expect(row).toMatchObject({ succeeded: 0, unexpectedErrors: 0, lostOrHalfWritten: 0 });
  });
});
