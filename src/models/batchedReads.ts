import type { Collection, mongo } from 'mongoose';

/** Reads by `_id` that one collection may have on the wire at once before later ones wait and go together. */
export const MAX_READS_IN_FLIGHT = 4;
/** The most ids one batched read asks for. */
export const MAX_BATCH = 500;

type Stored = Record<string, unknown> & { _id: unknown };
interface Waiter {
  resolve(stored: Stored | null): void;
  reject(error: unknown): void;
}
interface Lane {
  inFlight: number;
  waiting: Map<string, Waiter[]>;
}
const lanes = new WeakMap<Collection, Lane>();

/**
 * The stored document with this `_id`, read through the driver, or null. A call sends its own `findOne` unless
 * the collection already has MAX_READS_IN_FLIGHT reads on the wire; then it waits, and every call waiting goes
 * as one `find({ _id: { $in } })` when a read returns. Under load one round trip serves many callers (the
 * authorizer's throughput is no longer one read per check), and a call never shares a read sent before it was
 * made, so it sees every write that finished before it. Each caller gets its own copy of the document.
 */
export function readById(collection: Collection, id: string): Promise<Stored | null> {
  let lane = lanes.get(collection);
  if (!lane) lanes.set(collection, (lane = { inFlight: 0, waiting: new Map() }));
  if (lane.inFlight < MAX_READS_IN_FLIGHT && lane.waiting.size === 0) {
    return run(collection, lane, () => collection.findOne<Stored>({ _id: id as never }));
  }
  return new Promise((resolve, reject) => {
    const waiters = lane.waiting.get(id);
    if (waiters) waiters.push({ resolve, reject });
    else lane.waiting.set(id, [{ resolve, reject }]);
  });
}

async function run<T>(collection: Collection, lane: Lane, read: () => Promise<T>): Promise<T> {
  lane.inFlight++;
  try {
    return await read();
  } finally {
    lane.inFlight--;
    sendWaiting(collection, lane);
  }
}

function sendWaiting(collection: Collection, lane: Lane): void {
  while (lane.inFlight < MAX_READS_IN_FLIGHT && lane.waiting.size > 0) {
    const batch = new Map<string, Waiter[]>();
    for (const [id, waiters] of lane.waiting) {
      if (batch.size === MAX_BATCH) break;
      batch.set(id, waiters);
      lane.waiting.delete(id);
    }
    run(collection, lane, async () => {
      // While mongoose buffers commands (not yet connected) its collection gives a promise of the cursor.
      const cursor = await (collection.find({ _id: { $in: [...batch.keys()] as never[] } }) as mongo.FindCursor<Stored> | Promise<mongo.FindCursor<Stored>>);
      return cursor.toArray();
    }).then(
      (found) => {
        const byId = new Map(found.map((stored) => [String(stored._id), stored]));
        for (const [id, waiters] of batch) {
          const stored = byId.get(id) ?? null;
          waiters.forEach((waiter, k) => waiter.resolve(stored && k > 0 ? structuredClone(stored) : stored));
        }
      },
      (error: unknown) => {
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}
