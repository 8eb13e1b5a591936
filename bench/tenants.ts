// Many tenants on one process: what `makeModels(conn.useDb(name, { useCache: true }))` costs per tenant database
// (time, retained heap, commands sent to the server), and how much heap `releaseTenant(root, name)` gives back.
//
//   node --expose-gc --import tsx bench/tenants.ts [--tenants 10000] [--use Pipeline,Session] [--mongoose-defaults]
//
// The root connection is opened with autoIndex and autoCreate off (the setting README recommends for many
// tenants); --mongoose-defaults leaves both on, to see what mongoose then sends for every tenant.
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { makeModels, releaseTenant, type ModelName } from '../src/index.js';
import { startMongoServer } from '../src/mongoServer.js';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '10000' },
    use: { type: 'string', default: 'Pipeline,Session' },
    'mongoose-defaults': { type: 'boolean', default: false },
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

const server = await startMongoServer();
const options = values['mongoose-defaults'] ? {} : { autoIndex: false, autoCreate: false };
const root = await mongoose.createConnection(server.uri, { dbName: `tenants_root_${Date.now()}`, monitorCommands: true, ...options }).asPromise();
let commands = 0;
root.getClient().on('commandStarted', () => commands++);
console.log(`Server: ${server.description}; ${N} tenants, each using ${used.join(' and ')}; root connection ${JSON.stringify(options)}`);

/** Opens `count` tenants, uses the models a service would use, and waits until mongoose has sent what it sends. */
async function openTenants(prefix: string, count: number) {
  const names: string[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const name = `${prefix}_${i}`;
    names.push(name);
    const models = makeModels(root.useDb(name, { useCache: true }));
    for (const model of used) void models[model].modelName;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  // Model.init() (collection and index builds when autoCreate/autoIndex are on) runs after registration.
  await Promise.all(names.flatMap((name) => used.map((model) => makeModels(root.useDb(name, { useCache: true }))[model].init().catch(() => undefined))));
  return { names, elapsed };
}

function release(names: string[]) {
  for (const name of names) releaseTenant(root, name);
}

try {
  // Warm-up: the first tenant compiles what later tenants share.
  release((await openTenants('warmup', 50)).names);

  const heapBefore = await heapAfterGc();
  const commandsBefore = commands;
  const { names, elapsed } = await openTenants('tenant', N);
  const sent = commands - commandsBefore;
  const heapOpen = await heapAfterGc();

  // The first query of a tenant, on a sample: what it sends beyond the query itself.
  const sample = names.slice(0, Math.min(100, N));
  const commandsBeforeQuery = commands;
  for (const name of sample) {
    const model = makeModels(root.useDb(name, { useCache: true }))[used[0] ?? 'Workspace'] as unknown as mongoose.Model<unknown>;
    await model.findOne({ _id: 'none' }).lean();
  }
  const queryCommands = (commands - commandsBeforeQuery) / sample.length;

  release(names);
  const heapReleased = await heapAfterGc();

  console.log(`per tenant: ${(elapsed / N).toFixed(3)} ms, ${kib((heapOpen - heapBefore) / N)} retained, ${(sent / N).toFixed(2)} commands`);
  console.log(`first query of a tenant: ${queryCommands.toFixed(2)} commands`);
  console.log(
    `after releaseTenant: ${kib((heapOpen - heapReleased) / N)} per tenant returned, ${kib((heapReleased - heapBefore) / N)} per tenant still retained`,
  );
} finally {
  await root.close();
  await server.stop();
}
