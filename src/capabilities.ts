// What a MongoDB wire-protocol server really enforces. Each check proves a feature on a scratch collection; a
// server that accepts an option and ignores it (as some do) is found out, not trusted.
import mongoose from 'mongoose';

export interface Capabilities {
  /** A unique partial index lets documents without the field coexist and refuses a duplicate with it (Contact's email). */
  partialIndexes: boolean;
  /** A TTL index is built and listed with its `expireAfterSeconds` (the deletion itself takes up to a minute). */
  ttlIndexes: boolean;
  /** A unique index with a case-insensitive collation makes "A" and "a" collide. */
  collation: boolean;
  /** An aborted transaction leaves nothing, another session does not see uncommitted writes, a commit keeps them. */
  transactions: boolean;
  /** An update that breaks a unique index fails with E11000 (FerretDB v1 answers with an internal error). */
  duplicateKeyOnUpdate: boolean;
  /** Concurrent updates of one document are all kept (FerretDB v1 loses most of them). */
  atomicUpdates: boolean;
  /**
   * findAndModify with a projection returns the updated document without the projected-out fields (mongoose sends one
   * for every model with `select: false` paths: Client, User, Connection; FerretDB v1 does not implement it).
   */
  findAndModifyProjection: boolean;
}
export type Capability = keyof Capabilities;

export type ServerKind = 'mongod' | 'secantus' | 'ferretdb';

/** What the probe found: the server's kind and version, what it enforces, and why each missing feature is missing. */
export interface ServerFacts {
  kind: ServerKind;
  /** The server and its version, for logs. */
  description: string;
  capabilities: Capabilities;
  /** For each missing capability, the server's own error, or what it accepted but did not enforce. */
  missing: Partial<Record<Capability, string>>;
}

type Db = mongoose.mongo.Db;
type MongoClient = mongoose.mongo.MongoClient;
/** `true`, or what went wrong. */
type Check = (db: Db, client: MongoClient) => Promise<true | string>;

/** True when `write` fails with E11000, else what happened instead. */
const refused = (write: Promise<unknown>, what: string): Promise<true | string> =>
  write.then(
    () => `${what} was accepted`,
    (e: { code?: unknown; message?: string }) => e.code === 11000 || `${what} failed with ${serverError(e)} instead of E11000`,
  );

function serverError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: string };
  return `${message ?? String(error)}${code === undefined ? '' : ` (code ${String(code)})`}`;
}

const CHECKS: Record<Capability, Check> = {
  async partialIndexes(db) {
    const c = db.collection('partial');
    await c.createIndex({ p: 1 }, { unique: true, partialFilterExpression: { p: { $type: 'string' } } });
    await c.insertMany([{ q: 1 }, { q: 2 }]);
    await c.insertOne({ p: 'x' });
    return refused(c.insertOne({ p: 'x' }), 'a duplicate under a unique partial index');
  },
  async ttlIndexes(db) {
    const c = db.collection('ttl');
    await c.createIndex({ t: 1 }, { expireAfterSeconds: 60 });
    const listed = (await c.indexes()).find((i) => i.key.t === 1);
    return listed?.expireAfterSeconds === 60 || 'the TTL index is not listed with its expireAfterSeconds';
  },
  async collation(db) {
    const c = db.collection('collation');
    await c.createIndex({ c: 1 }, { unique: true, collation: { locale: 'en', strength: 2 } });
    await c.insertOne({ c: 'A' });
    return refused(c.insertOne({ c: 'a' }), '"a" beside "A" under a case-insensitive unique index');
  },
  async transactions(db, client) {
    const c = db.collection('transactions');
    await c.insertOne({ x: 'outside' });
    const session = client.startSession();
    try {
      session.startTransaction();
      await c.insertOne({ x: 'aborted' }, { session });
      if ((await c.countDocuments({ x: 'aborted' })) !== 0) return 'another session sees an uncommitted write';
      await session.abortTransaction();
      if ((await c.countDocuments({ x: 'aborted' })) !== 0) return 'an aborted transaction left its write';
      session.startTransaction();
      await c.insertOne({ x: 'committed' }, { session });
      await session.commitTransaction();
      return (await c.countDocuments({ x: 'committed' })) === 1 || 'a committed transaction lost its write';
    } finally {
      await session.endSession();
    }
  },
  async duplicateKeyOnUpdate(db) {
    const c = db.collection('unique');
    await c.createIndex({ u: 1 }, { unique: true });
    await c.insertMany([{ u: 1 }, { u: 2 }]);
    return refused(c.updateOne({ u: 2 }, { $set: { u: 1 } }), 'an update to a taken unique value');
  },
  async atomicUpdates(db) {
    // 16 concurrent updates of one document, three rounds: each sets a field of its own and increments a counter.
    const c = db.collection<{ _id: string; n: number }>('atomic');
    await c.insertOne({ _id: 'one', n: 0 });
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        Array.from({ length: 16 }, (_, i) => c.updateOne({ _id: 'one' }, { $inc: { n: 1 }, $set: { [`f${round}_${i}`]: i } })),
      );
    }
    const doc = await c.findOne({ _id: 'one' });
    const kept = doc ? Object.keys(doc).length - 2 : 0;
    return (doc?.n === rounds * 16 && kept === rounds * 16) || `kept ${kept} of ${rounds * 16} concurrent updates of one document`;
  },
  async findAndModifyProjection(db) {
    const c = db.collection<{ _id: string; shown: number; hidden: string }>('projection');
    await c.insertOne({ _id: 'one', shown: 1, hidden: 'secret' });
    const found = await c.findOneAndUpdate({ _id: 'one' }, { $set: { shown: 2 } }, { projection: { hidden: 0 }, returnDocument: 'after' });
    return (found?.shown === 2 && !('hidden' in found)) || `findAndModify with a projection returned ${JSON.stringify(found)}`;
  },
};

/**
 * A check that never answers counts as missing, with the reason, instead of hanging every test run: a long-lived
 * shared SecantusDB was seen stalling here for minutes while it still answered `ping`.
 */
export const CHECK_TIME_LIMIT_MS = 10_000;

/** `check`, or after `limitMs` the reason it counts as missing. */
export function withinTime(check: Promise<true | string>, name: Capability, limitMs = CHECK_TIME_LIMIT_MS): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the ${name} check did not finish within ${limitMs / 1000} s`), limitMs);
  });
  return Promise.race([check, late]).finally(() => clearTimeout(timer));
}

/** Asks the server behind `client` what it is and proves each optional feature on a scratch database it drops. */
export async function probeServer(client: MongoClient): Promise<ServerFacts> {
  const build = await client.db('admin').command({ buildInfo: 1 });
  const kind: ServerKind = build.ferretdbVersion ? 'ferretdb' : build.secantusVersion ? 'secantus' : 'mongod';
  const db = client.db(`capabilities_${process.pid}_${Date.now()}`);
  const capabilities = {} as Capabilities;
  const missing: ServerFacts['missing'] = {};
  try {
    for (const [name, check] of Object.entries(CHECKS) as [Capability, Check][]) {
      const found = await withinTime(check(db, client), name).catch(serverError);
      capabilities[name] = found === true;
      if (found !== true) missing[name] = found;
    }
  } finally {
    await db.dropDatabase();
  }
  const description =
    kind === 'ferretdb'
      ? `FerretDB ${build.ferretdbVersion}`
      : kind === 'secantus'
        ? `SecantusDB ${build.secantusVersion} (WiredTiger)`
        : `mongod ${build.version}`;
  return { kind, description, capabilities, missing };
}
