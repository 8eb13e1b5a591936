import { setTimeout as sleep } from 'node:timers/promises';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { makeModels } from '../../src/index.js';
import { startMongoServer, type RunningServer } from '../../src/mongoServer.js';
import { server } from '../support/db.js';
import { reliabilityTable } from './table.js';

const table = reliabilityTable('faults');

/**
 * A server of the run's kind (SecantusDB when the run uses MONGODB_URI, a server this process cannot restart) that
 * keeps its data on disk, so that restart() brings it back on the same port with the same data.
 */
async function restartableServer(): Promise<RunningServer> {
  const external = process.env.MONGODB_URI;
  delete process.env.MONGODB_URI;
  try {
    return await startMongoServer({ kind: external ? 'secantus' : server.kind, persistent: true, log: () => {} });
  } finally {
    if (external !== undefined) process.env.MONGODB_URI = external;
  }
}

/** Four letters a-z, one set per number. */
const lettersOf = (n: number) => Array.from({ length: 4 }, (_, k) => String.fromCharCode(97 + (Math.floor(n / 26 ** k) % 26))).join('');

/** Errors that say the server cannot be reached, as the driver reports them during an outage. */
const isOutage = (error: unknown) =>
  error instanceof Error && /MongoServerSelectionError|MongoNetworkError|MongoNetworkTimeoutError|MongoPoolClearedError|MongoNotConnectedError/.test(error.name);

describe('Faults', () => {
  it('the server stops in the middle of a write workload and starts again: clear errors meanwhile, then work resumes on the same models, every document whole or absent', async (ctx) => {
    const db = await restartableServer();
    if (!db.restart) {
      await db.stop();
      ctx.skip(`${db.description} cannot be restarted by this process`);
    }
    // Bounded outage errors: no command buffering by mongoose, and server selection gives up after 0.1 s (shorter than a restart).
    const conn = await mongoose.createConnection(db.uri, { dbName: 'faults', serverSelectionTimeoutMS: 100, bufferCommands: false }).asPromise();
    try {
      const { Workspace } = makeModels(conn);
      await Workspace.createCollection();
      await Workspace.syncIndexes();
      const acknowledged = new Set<string>();
      const settled: PromiseSettledResult<unknown>[] = [];
      const outageMs: number[] = [];
      let phase: 'before' | 'outage' | 'after' = 'before';
      let running = true;
      const writer = async (w: number) => {
        for (let i = 0; running; i++) {
          const id = `ws_fault_${w}_${i}`;
          const started = performance.now();
          // An explicit code: concurrent creates that derive one code from one name race on it (see freeCode).
          const write = Workspace.create({ _id: id, name: `Fault ${w} ${i}`, code: lettersOf(w * 10_000 + i), allowedOrigins: ['https://app.example.com'] });
          const [result] = await Promise.allSettled([write]);
          settled.push(result!);
          if (result!.status === 'fulfilled') acknowledged.add(id);
          else {
            if (phase === 'outage') outageMs.push(performance.now() - started);
            await sleep(50);
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await sleep(300);
      phase = 'outage';
      // restart() stops the server, then starts it again on the same port and data: the outage lasts as long as
      // its start (1-2 s for SecantusDB); the writers keep writing all along.
      await db.restart!();
      phase = 'after';
      const before = acknowledged.size;
      for (let waited = 0; acknowledged.size === before && waited < 60_000; waited += 100) await sleep(100);
      await sleep(300);
      running = false;
      await Promise.all(writers);

      const stored = await Workspace.collection.find({ _id: { $regex: /^ws_fault_/ } as never }).toArray();
      const whole = (d: Record<string, unknown>) => typeof d.name === 'string' && typeof d.code === 'string' && d.status === 'active' && Array.isArray(d.allowedOrigins) && d.createdAt instanceof Date;
      const lost = [...acknowledged].filter((id) => !stored.some((d) => d._id === (id as never))).length;
      const halfWritten = stored.filter((d) => !whole(d)).length;
      console.log(`outage: ${outageMs.length} writes failed, the slowest after ${Math.max(0, ...outageMs).toFixed(0)} ms; ${acknowledged.size} acknowledged, ${stored.length} stored`);
      const row = table.count('writes across a server restart', settled, isOutage, lost + halfWritten);
      for (const failed of settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected' && !isOutage(s.reason))) console.log('unexpected:', failed.reason);
      expect(row.unexpectedErrors).toBe(0);
      expect(row.lostOrHalfWritten).toBe(0);
      // How many writes fail depends on how long the restart takes (a write may wait it out); each failure is an
      // outage error (unexpectedErrors above), none lost an acknowledged write.
      expect(acknowledged.size).toBeGreaterThan(before);
    } finally {
      await conn.close();
      await db.stop();
    }
  }, 120_000);
});
