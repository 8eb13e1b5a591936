// npm run bench: the package's models against the same work done with the raw MongoDB driver and with plain
// mongoose (same fields, none of this package's rules), on the same server in the same process. Reports each
// case's time per operation and its ratio to the baselines; absolute times depend on the machine, ratios less.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { makeModels, nodeId, validatePipelineGraph } from '../src/index.js';
import { startMongoServer } from '../src/mongoServer.js';

const { values } = parseArgs({ options: { ops: { type: 'string', default: '300' }, rounds: { type: 'string', default: '5' } } });
const OPS = Number(values.ops);
const ROUNDS = Number(values.rounds);

type Case = Record<string, (i: number) => Promise<unknown>>;

/** Runs each variant OPS times per round, variants interleaved round by round; the median round per variant. */
async function measure(name: string, variants: Case) {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const run of Object.values(variants)) for (let i = 0; i < 20; i++) await run(1e6 + i); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [variant, run] of Object.entries(variants)) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < OPS; i++) await run(round * OPS + i);
      times[variant]!.push(Number(process.hrtime.bigint() - start) / 1e3 / OPS);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const result = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, median(xs)]));
  const names = Object.keys(variants);
  console.log(`\n${name}`);
  names.forEach((variant, i) => {
    const us = result[variant]!;
    const ratios = names.slice(0, i).map((b) => `${(us / result[b]!).toFixed(2)}x ${b}`);
    console.log(`  ${variant.padEnd(34)} ${us.toFixed(0).padStart(7)} µs/op   ${ratios.join(', ')}`);
  });
}

const server = await startMongoServer();
console.log(`Server: ${server.description}; ${OPS} ops x ${ROUNDS} rounds per variant, median round`);
const conn = await mongoose.createConnection(server.uri, { dbName: `bench_${Date.now()}`, autoIndex: false }).asPromise();
try {
  const models = makeModels(conn);
  await models.Workspace.collection.createIndex({ code: 1 }, { unique: true });
  await models.Pipeline.collection.createIndex({ workspaceId: 1, code: 1 }, { unique: true });
  const raw = conn.db!.collection('raw_workspaces');
  const Plain = conn.model('PlainWorkspace', new mongoose.Schema({ _id: String, name: String, code: String, status: String, allowedOrigins: [String] }, { timestamps: true }));
  const code = (i: number) => (i + 26 ** 3).toString(26).replace(/\d/g, (d) => 'qrstuvwxyz'[Number(d)]!).slice(-4);

  await measure('create a workspace', {
    'raw driver insertOne': (i) => raw.insertOne({ _id: `r${i}` as never, name: 'Acme', code: code(i), status: 'active', allowedOrigins: [], createdAt: new Date(), updatedAt: new Date() }),
    'plain mongoose create': (i) => Plain.create({ _id: `p${i}`, name: 'Acme', code: code(i), status: 'active' }),
    'Workspace.create (code given)': (i) => models.Workspace.create({ _id: `w${i}`, name: 'Acme', code: code(i) }),
  });
  await measure('read a workspace by id (lean)', {
    'raw driver findOne': (i) => raw.findOne({ _id: `r${i % OPS}` as never }),
    'plain mongoose findById': (i) => Plain.findById(`p${i % OPS}`).lean(),
    'Workspace.findById': (i) => models.Workspace.findById(`w${i % OPS}`).lean(),
  });

  const streams = Array.from({ length: 20 }, (_, i) => ({ topic: `s${i}.${i === 0 ? 'source' : i % 5 === 0 ? 'dlq' : 'sink'}`, type: (i === 0 ? 'source' : i % 5 === 0 ? 'dlq' : 'sink') as 'source' | 'sink' | 'dlq' }));
  const graph = {
    streams,
    sourceClients: [{ clientId: 'cl_1', streamName: streams[0]!.topic }],
    sinkConnections: streams.slice(1).map((s, i) => ({ connectionId: `cn_${i}`, streamName: s.topic })),
    transforms: streams.slice(1).filter((s) => s.type === 'sink').map((s) => ({ type: 'map', sourceStream: streams[0]!.topic, targetStream: s.topic, failureQueue: streams[5]!.topic })),
    nodePositions: Object.fromEntries(streams.map((s, i) => [nodeId('stream', s.topic), { x: i, y: i }])),
  };
  const rawPipelines = conn.db!.collection('raw_pipelines');
  const PlainPipeline = conn.model('PlainPipeline', new mongoose.Schema({ _id: String, workspaceId: String, name: String, code: String, streams: [{ topic: String, type: { type: String } }], sourceClients: [{ clientId: String, streamName: String }], sinkConnections: [{ connectionId: String, streamName: String }], transforms: [{ type: { type: String }, sourceStream: String, targetStream: String, failureQueue: String }], nodePositions: { type: Map, of: { x: Number, y: Number } } }, { timestamps: true }));
  await measure(`create a pipeline (${graph.streams.length} streams, ${graph.transforms.length} transforms)`, {
    'raw driver insertOne': (i) => rawPipelines.insertOne({ _id: randomUUID() as never, workspaceId: 'ws_1', name: 'P', code: code(i), ...graph }),
    'plain mongoose create': (i) => PlainPipeline.create({ _id: randomUUID(), workspaceId: 'ws_1', name: 'P', code: code(i), ...graph }),
    'Pipeline.create (graph checked)': (i) => models.Pipeline.create({ workspaceId: `ws_${i}`, name: 'P', code: 'pipe', ...graph }),
  });

  let sink = 0;
  await measure('pipeline graph rules alone (no database)', {
    'structuredClone of the graph': async () => void (sink += structuredClone(graph).streams.length),
    'validatePipelineGraph': async () => void (sink += validatePipelineGraph(graph).length),
  });
  if (sink < 0) console.log(sink);
} finally {
  await conn.dropDatabase();
  await conn.close();
  await server.stop();
}
