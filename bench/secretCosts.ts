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

async function measure(name: string, calls: number, op: (i: number) => Promise<unknown>) {
  for (let i = 0; i < Math.max(3, calls / 10); i++) await op(i);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < calls; i++) await op(i);
  const wall = (performance.now() - start) / calls;
  const used = process.cpuUsage(cpu);
  const perCall = (used.user + used.system) / calls;
  console.log(`${name.padEnd(46)} ${String(calls).padStart(6)} calls  client CPU ${perCall.toFixed(0).padStart(7)} µs/call  wall ${(wall * 1000).toFixed(0).padStart(7)} µs/call`);
  return perCall;
}

console.log(`Server: ${server.description}; sequential calls, one process\n`);
const clientsRaw = conn.db!.collection('clients');
const sessionsRaw = conn.db!.collection('sessions');
await measure('driver findOne({ _id }) on clients', 2000, (i) => clientsRaw.findOne({ _id: clients[i % 50]!.client._id as never }));
await measure('Client.authenticate(id, secret)', 2000, (i) => Client.authenticate(clients[i % 50]!.client._id, clients[i % 50]!.secret));
await measure('Client.authenticate, wrong secret', 2000, (i) => Client.authenticate(clients[i % 50]!.client._id, clients[(i + 1) % 50]!.secret));
await measure('driver findOne({ _id }) on sessions', 2000, (i) => sessionsRaw.findOne({ _id: sessions[(i * 7) % 1000]!.session._id as never }));
await measure('Session.verify(token)', 2000, (i) => Session.verify(sessions[(i * 7) % 1000]!.token));
await measure('Session.verify(malformed token): no query', 2000, () => Session.verify('esps_not-a-token'));
await measure('User.authenticate(username, password)', 10, () => User.authenticate('bench-user', 'bench-password'));
await measure('User.authenticate, unknown user', 10, () => User.authenticate('nobody', 'bench-password'));

await conn.dropDatabase();
await conn.close();
await server.stop();
