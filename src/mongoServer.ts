// The one way tests, the demo and the benchmarks get a real MongoDB wire-protocol server:
//   1. MONGODB_URI, when set;
//   2. a real mongod through mongodb-memory-server-core (a system binary, or one it can download);
//   3. FerretDB v1.24.2 with its SQLite backend, built once from ../ferretdb with the Go toolchain into a cache
//      folder, started on 127.0.0.1 on a port the system picks, its data in a temporary folder.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mongoose from 'mongoose';

export interface Capabilities {
  /** `partialFilterExpression` on indexes (Contact's unique email). */
  partialIndexes: boolean;
  /** `expireAfterSeconds` (TTL) indexes. */
  ttlIndexes: boolean;
  /** Index and query collation. */
  collation: boolean;
  /** Multi-document transactions. */
  transactions: boolean;
  /** An update that breaks a unique index fails with E11000 (FerretDB v1 answers with an internal error). */
  duplicateKeyOnUpdate: boolean;
}
export type Capability = keyof Capabilities;

export interface ServerInfo {
  uri: string;
  kind: 'mongod' | 'ferretdb';
  /** Where the server came from and its version, for logs. */
  description: string;
  capabilities: Capabilities;
}

export interface RunningServer extends ServerInfo {
  stop(): Promise<void>;
}

type Log = (line: string) => void;

const FERRETDB_VERSION = 'v1.24.2';
const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const ferretdbModule = join(packageRoot, 'ferretdb');

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return process.env.DATA_MODELS_CACHE_DIR || join(base, 'event-streaming-platform-data-models');
}

/** Starts (or points at) a server, and reports its kind and capabilities. */
export async function startMongoServer(log: Log = (line) => console.error(line)): Promise<RunningServer> {
  const uri = process.env.MONGODB_URI;
  if (uri) {
    const info = await probe(uri);
    return { ...info, description: `MONGODB_URI (${info.description})`, stop: async () => {} };
  }
  const tried: string[] = [];
  const mongod = await startMemoryServer(tried);
  if (mongod) return mongod;
  try {
    return await startFerretDB(log);
  } catch (error) {
    tried.push(`FerretDB ${FERRETDB_VERSION} built with Go: ${(error as Error).message}`);
  }
  throw new Error(
    `No MongoDB server could be had. Tried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
      'Fix one of them: set MONGODB_URI=mongodb://host:port to use a running server, put a mongod binary on PATH ' +
      '(or set MONGOMS_SYSTEM_BINARY), or install Go 1.26+ so FerretDB can be built.',
  );
}

async function startMemoryServer(tried: string[]): Promise<RunningServer | undefined> {
  type Core = typeof import('mongodb-memory-server-core');
  let core: Core;
  try {
    // A CommonJS package: its exports are named exports under Node, and `default` under some loaders.
    const loaded = (await import('mongodb-memory-server-core')) as unknown as Core & { default?: Core };
    core = loaded.MongoMemoryServer ? loaded : loaded.default!;
  } catch {
    tried.push('mongod through mongodb-memory-server-core: the package is not installed');
    return undefined;
  }
  // One download attempt, not four with back-off: on a machine without the download site, fall through at once.
  process.env.MONGOMS_MAX_RETRIES ??= '0';
  let systemBinary: string;
  try {
    systemBinary = process.env.MONGOMS_SYSTEM_BINARY || findOnPath('mongod') || (await core.MongoBinary.getPath());
  } catch (error) {
    tried.push(`mongod through mongodb-memory-server-core: no system binary, and the download failed: ${firstLine(error)}`);
    return undefined;
  }
  try {
    const server = await core.MongoMemoryServer.create({ binary: { systemBinary } });
    const info = await probe(server.getUri());
    return {
      ...info,
      description: `mongod through mongodb-memory-server (${info.description})`,
      stop: async () => {
        await server.stop();
      },
    };
  } catch (error) {
    tried.push(`mongod through mongodb-memory-server-core: ${firstLine(error)}`);
    return undefined;
  }
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n').find((l) => l.trim()) ?? 'unknown error';
}

/** The built binary for the current sources and Go toolchain; builds it when the cache lacks it. */
export async function ferretdbBinary(log: Log): Promise<string> {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) throw new Error('the Go toolchain (`go`) is not on PATH');
  const key = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) key.update(readFileSync(join(ferretdbModule, file)));
  key.update(go.stdout);
  const dir = join(cacheDir(), `ferretdb-${FERRETDB_VERSION}-${key.digest('hex').slice(0, 12)}`);
  const binary = join(dir, 'ferretdb');
  if (existsSync(binary)) return binary;

  mkdirSync(dir, { recursive: true });
  const lock = join(dir, 'build.lock');
  if (!tryLock(lock)) {
    log(`FerretDB: another process is building it into ${dir}; waiting`);
    while (!existsSync(binary)) {
      if (!existsSync(lock)) throw new Error(`the concurrent FerretDB build into ${dir} failed`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    return binary;
  }
  try {
    await buildFerretDB(binary, log);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return binary;
}

function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    return true;
  } catch {
    // A lock left by a build that died more than 20 minutes ago is stale.
    if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 20 * 60_000) {
      rmSync(lock, { recursive: true, force: true });
      return tryLock(lock);
    }
    return false;
  }
}

function buildFerretDB(binary: string, log: Log): Promise<void> {
  const started = Date.now();
  const partial = `${binary}.${process.pid}.partial`;
  log(`FerretDB ${FERRETDB_VERSION}: building with Go into ${binary} (first run only: about 2 minutes on 2 cores)`);
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['build', '-trimpath', '-v', '-o', partial, '.'], {
      cwd: ferretdbModule,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    let packages = 0;
    const output: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      output.push(line);
      if (/^[\w.-]+(\/[\w.@~-]+)*$/.test(line)) packages++;
    });
    const progress = setInterval(() => {
      log(`FerretDB: still building, ${packages} packages compiled, ${Math.round((Date.now() - started) / 1000)} s`);
    }, 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(progress);
      if (code !== 0) {
        rmSync(partial, { force: true });
        reject(new Error(`go build failed (exit ${code}):\n${output.slice(-20).join('\n')}`));
        return;
      }
      renameSync(partial, binary);
      log(`FerretDB: built in ${Math.round((Date.now() - started) / 1000)} s (${packages} packages)`);
      resolve();
    });
  });
}

async function startFerretDB(log: Log): Promise<RunningServer> {
  const binary = await ferretdbBinary(log);
  const dataDir = mkdtempSync(join(tmpdir(), 'data-models-ferretdb-'));
  const child = spawn(binary, ['-listen-addr', '127.0.0.1:0', '-data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  try {
    const uri = await firstStdoutLine(child, 15_000, () => stderr);
    const info = await probe(uri);
    return {
      ...info,
      description: `FerretDB ${FERRETDB_VERSION} (SQLite backend, embedded)`,
      stop: async () => {
        process.removeListener('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          // FerretDB waits for open client connections on SIGTERM; do not let a leftover client hang the caller.
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

function firstStdoutLine(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`FerretDB did not start within ${timeoutMs} ms: ${stderr()}`)), timeoutMs);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`FerretDB exited with code ${code} before it listened: ${stderr()}`));
    });
  });
}

/** Asks the server what it is and tries each optional feature once on a scratch database. */
export async function probe(uri: string): Promise<ServerInfo> {
  const client = new mongoose.mongo.MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  try {
    const build = await client.db('admin').command({ buildInfo: 1 });
    const kind = build.ferretdbVersion ? 'ferretdb' : 'mongod';
    const db = client.db(`capabilities_${process.pid}_${Date.now()}`);
    const collection = db.collection('probe');
    await collection.insertOne({ a: 1 });
    const works = (promise: Promise<unknown>) => promise.then(() => true, () => false);
    const capabilities: Capabilities = {
      partialIndexes: await works(collection.createIndex({ a: 1 }, { partialFilterExpression: { a: { $exists: true } } })),
      ttlIndexes: await works(collection.createIndex({ t: 1 }, { expireAfterSeconds: 60 })),
      collation: await works(collection.createIndex({ c: 1 }, { collation: { locale: 'en', strength: 2 } })),
      transactions: await works(
        (async () => {
          const session = client.startSession();
          try {
            await session.withTransaction(() => collection.insertOne({ b: 1 }, { session }));
          } finally {
            await session.endSession();
          }
        })(),
      ),
      duplicateKeyOnUpdate: await (async () => {
        const unique = db.collection('unique');
        await unique.createIndex({ u: 1 }, { unique: true });
        await unique.insertMany([{ u: 1 }, { u: 2 }]);
        return unique.updateOne({ u: 2 }, { $set: { u: 1 } }).then(() => false, (e: { code?: unknown }) => e.code === 11000);
      })(),
    };
    await db.dropDatabase();
    const version = kind === 'ferretdb' ? `FerretDB ${build.ferretdbVersion}` : `mongod ${build.version}`;
    return { uri, kind, description: version, capabilities };
  } finally {
    await client.close();
  }
}
