// Per-call client CPU of the credential checks (issue 9): Client.authenticate, Session.verify and User.authenticate,
// beside the driver's findOne by _id that each needs at least. A measurement, not a test: figures vary with load.
//   node --import tsx bench/secretCosts.ts            (MONGODB_URI when set, else the test server)
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { makeModels } from '../src/index.js';
import { startMongoServer } from '../src/mongoServer.js';

const server = await startMongoServer();
const conn = await mongoose.createConnection(server.uri, { dbName: `secret_costs_${Date.now()}` }).asPromise();
const { Client, Session, User } = makeModels(conn, { secretKeys: { current: 'k1', keys: { k1: randomBytes(32).toString('base64') } } });

const clients = await Promise.all(Array.from({ length: 50 }, (_, k) => Client.createWithSecret({ name: `Client ${k}` })));
const sessions = await Promise.all(
  Array.from({ length: 1000 }, (_, k) => Session.issue({ workspaceId: 'ws_bench', principalType: 'client', principalId: clients[k % 50]!.client._id, ttlSeconds: 3600 })),
);
const user = new User({ workspaceId: 'ws_bench', username: 'bench-user' });
await user.setPassword('bench-password');
await user.save();

type Contender = [name: string, op: (i: number) => Promise<unknown>];

/** Runs the contenders round by round (interleaved, so load changes hit all alike); prints median per-call figures. */
async function compare(title: string, calls: number, rounds: number, contenders: Contender[]) {
  const cpu = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  const wall = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  for (const [, op] of contenders) for (let i = 0; i < Math.max(3, calls / 5); i++) await op(i);
  for (let round = 0; round < rounds; round++) {
    for (const [name, op] of contenders) {
      const before = process.cpuUsage();
      const start = performance.now();
      for (let i = 0; i < calls; i++) await op(round * calls + i);
      const used = process.cpuUsage(before);
      cpu.get(name)!.push((used.user + used.system) / calls);
      wall.get(name)!.push(((performance.now() - start) * 1000) / calls);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(cpu.get(contenders[0]![0])!);
  console.log(`\n${title} (${rounds} rounds of ${calls} sequential calls, medians)`);
  for (const [name] of contenders) {
    const c = median(cpu.get(name)!);
    console.log(`  ${name.padEnd(44)} client CPU ${c.toFixed(0).padStart(7)} µs/call (${(c / base).toFixed(2)}x)  wall ${median(wall.get(name)!).toFixed(0).padStart(7)} µs/call`);
  }
}

console.log(`Server: ${server.description}; one process`);
const clientsRaw = conn.db!.collection('clients');
const sessionsRaw = conn.db!.collection('sessions');
const client = (i: number) => clients[i % clients.length]!;
const session = (i: number) => sessions[(i * 7) % sessions.length]!;
await compare('Client.authenticate', 500, 5, [
  ['driver findOne({ _id })', (i) => clientsRaw.findOne({ _id: client(i).client._id as never })],
  ['Client.authenticate(id, secret)', (i) => Client.authenticate(client(i).client._id, client(i).secret)],
  ['Client.authenticate, wrong secret', (i) => Client.authenticate(client(i).client._id, client(i + 1).secret)],
]);
await compare('Session.verify', 500, 5, [
  ['driver findOne({ _id })', (i) => sessionsRaw.findOne({ _id: session(i).session._id as never })],
  ['Session.verify(token)', (i) => Session.verify(session(i).token)],
  ['Session.verify(malformed token): no query', () => Session.verify('esps_not-a-token')],
]);
await compare('User.authenticate (scrypt N=2^17)', 4, 3, [
  ["driver findOne({ username, status: 'active' })", () => conn.db!.collection('users').findOne({ username: 'bench-user', status: 'active' })],
  ['User.authenticate(username, password)', () => User.authenticate('bench-user', 'bench-password')],
  ['User.authenticate, unknown user', () => User.authenticate('nobody', 'bench-password')],
]);

await conn.dropDatabase();
await conn.close();
await server.stop();
