// Many tenants on one process: what `makeModels(conn.useDb(name, { useCache: true }))` costs per tenant database
// (time, retained heap, commands sent to the server), and how much heap `releaseTenant(root, name)` gives back.
//
//   node --expose-gc --import tsx bench/tenants.ts [--tenants 10000] [--use Pipeline,Session] [--mongoose-defaults]
//                                                 [--compile-per-tenant]
//
// The root connection is opened with autoIndex and autoCreate off (the setting README recommends for many
// tenants); --mongoose-defaults leaves both on, to see what mongoose then sends for every tenant.
// --compile-per-tenant measures the way before models were compiled once: mongoose's public
// `conn.model(name, schema)` on every tenant connection, for the models used only.
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { makeModels, releaseTenant, type ModelName } from '../src/index.js';
import { SCHEMAS } from '../src/makeModels.js';
import { startMongoServer } from '../src/mongoServer.js';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '10000' },
    use: { type: 'string', default: 'Pipeline,Session' },
    'mongoose-defaults': { type: 'boolean', default: false },
    'compile-per-tenant': { type: 'boolean', default: false },
  },
});
const N = Number(values.tenants);
const used = values.use.split(',').filter(Boolean) as ModelName[];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc --import tsx bench/tenants.ts');

/** Heap in use after a full collection (twice: the first may only queue finalizers). */
async function heapAfterGc(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

const run = `tenants_${Date.now().toString(36)}`;
const server = await startMongoServer();
const options = values['mongoose-defaults'] ? {} : { autoIndex: false, autoCreate: false };
const root = await mongoose.createConnection(server.uri, { dbName: run, monitorCommands: true, ...options }).asPromise();
let commands = 0;
root.getClient().on('commandStarted', () => commands++);
const way = values['compile-per-tenant'] ? 'conn.model(name, schema) per tenant' : 'makeModels';
console.log(`Server: ${server.description}; ${N} tenants through ${way}, each using ${used.join(' and ')}; root connection ${JSON.stringify(options)}`);

/** A tenant as a service holds it: its connection, and its models on first use. */
function openTenant(name: string): { use(model: ModelName): mongoose.Model<unknown> } {
  const conn = root.useDb(name, { useCache: true });
  if (values['compile-per-tenant']) return { use: (model) => conn.model(model, SCHEMAS[model] as mongoose.Schema) as unknown as mongoose.Model<unknown> };
  const models = makeModels(conn);
  return { use: (model) => models[model] as unknown as mongoose.Model<unknown> };
}

/** Opens `count` tenants and uses the models a service would use; returns the time and commands of each step. */
async function openTenants(prefix: string, count: number) {
  const names = Array.from({ length: count }, (_, i) => `${prefix}_${i}`);
  const before = commands;
  const start = process.hrtime.bigint();
  const tenants = names.map(openTenant);
  const made = process.hrtime.bigint();
  // Commands are sent asynchronously: let the event loop run before counting what makeModels alone sent.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const byMakeModels = commands - before;
  const beforeUse = commands;
  const used0 = process.hrtime.bigint();
  for (const tenant of tenants) for (const model of used) void tenant.use(model).modelName;
  const usedAt = process.hrtime.bigint();
  // Model.init() (collection and index builds when autoCreate/autoIndex are on) runs when a model is first used.
  await Promise.all(tenants.flatMap((tenant) => used.map((model) => tenant.use(model).init().catch(() => undefined))));
  return {
    names,
    makeMs: Number(made - start) / 1e6,
    useMs: Number(usedAt - used0) / 1e6,
    byMakeModels,
    atFirstUse: commands - beforeUse,
  };
}

function release(names: string[]) {
  for (const name of names) releaseTenant(root, name);
}

const perTenant = (value: number) => (value / N).toFixed(3);
try {
  // Warm-up: the first tenant compiles what later tenants share.
  const warmup = await openTenants(`${run}_warmup`, 50);
  release(warmup.names);

  const heapBefore = await heapAfterGc();
  const opened = await openTenants(`${run}_tenant`, N);
  const heapOpen = await heapAfterGc();

  // The first query of a tenant, on a sample: what it sends beyond the query itself.
  const sample = opened.names.slice(0, Math.min(100, N));
  const commandsBeforeQuery = commands;
  for (const name of sample) {
    const model = openTenant(name).use(used[0] ?? 'Workspace');
    await model.findOne({ _id: 'none' }).lean();
  }
  const queryCommands = (commands - commandsBeforeQuery) / sample.length;

  release(opened.names);
  const heapReleased = await heapAfterGc();

  console.log(
    `per tenant: ${perTenant(opened.makeMs + opened.useMs)} ms (opening ${perTenant(opened.makeMs)} ms, first use of ` +
      `${used.length} models ${perTenant(opened.useMs)} ms), ${kib((heapOpen - heapBefore) / N)} retained`,
  );
  console.log(
    `commands per tenant: ${perTenant(opened.byMakeModels)} sent on opening, ${perTenant(opened.atFirstUse)} when the models are ` +
      `first used (autoCreate/autoIndex), ${queryCommands.toFixed(2)} for a first findOne`,
  );
  console.log(
    `after releaseTenant: ${kib((heapOpen - heapReleased) / N)} per tenant returned, ${kib((heapReleased - heapBefore) / N)} per tenant still retained`,
  );
  if (values['mongoose-defaults']) {
    // autoCreate made the tenants' databases: drop them (the development server is shared).
    for (const name of [...warmup.names, ...opened.names]) await root.getClient().db(name).dropDatabase();
  }
} finally {
  await root.close();
  await server.stop();
}
