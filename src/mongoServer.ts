// The one way tests, the demo and the benchmarks get a real MongoDB wire-protocol server, in this order:
//   1. MONGODB_URI, when set;
//   2. a real mongod through mongodb-memory-server-core (a system binary, or one it can download);
//   3. SecantusDB 0.7.0b3 (WiredTiger, mongod's storage engine), installed with the machine's python3 into a venv in
//      the cache folder on first use, pinned with hashes by ../secantusdb/requirements.txt;
//   4. FerretDB v1.24.2 with its SQLite backend, built once from ../ferretdb with the Go toolchain into the cache.
// DATA_MODELS_SERVER=mongod|secantus|ferretdb forces one. The embedded servers listen on 127.0.0.1 on a port the
// system picks and tell it, so there is no free-port race.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mongoose from 'mongoose';
import { probeServer, type ServerFacts, type ServerKind } from './capabilities.js';

export type { Capabilities, Capability, ServerFacts, ServerKind } from './capabilities.js';

/** The embedded servers, in the order they are tried. */
export const SERVER_KINDS: readonly ServerKind[] = ['mongod', 'secantus', 'ferretdb'];

export interface ServerInfo extends ServerFacts {
  uri: string;
}

export interface RunningServer extends ServerInfo {
  /** Stops the server this process started and removes its data (nothing for MONGODB_URI). */
  stop(): Promise<void>;
  /**
   * Stops the server and starts it again on the same port with the same data. Present only when
   * `startMongoServer({ persistent: true })` started the server; never for MONGODB_URI, a server this process does
   * not own.
   */
  restart?: () => Promise<void>;
}

type Log = (line: string) => void;

export interface StartOptions {
  /** Start this embedded server only (default: DATA_MODELS_SERVER, else the first of the order that starts). */
  kind?: ServerKind;
  /** Keep the data on disk, not in memory, so that `restart()` can bring the server back with it. */
  persistent?: boolean;
  /** Progress of a first-run install or build (default: stderr). */
  log?: Log;
}

const FERRETDB_VERSION = 'v1.24.2';
const SECANTUS_VERSION = '0.7.0b3';
const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const ferretdbModule = join(packageRoot, 'ferretdb');
const secantusRequirements = join(packageRoot, 'secantusdb', 'requirements.txt');

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return process.env.DATA_MODELS_CACHE_DIR || join(base, 'event-streaming-platform-data-models');
}

/** DATA_MODELS_SERVER, checked. */
export function forcedServerKind(): ServerKind | undefined {
  const forced = process.env.DATA_MODELS_SERVER;
  if (!forced) return undefined;
  if (!(SERVER_KINDS as readonly string[]).includes(forced)) {
    throw new Error(`DATA_MODELS_SERVER="${forced}" is none of ${SERVER_KINDS.join(', ')}`);
  }
  return forced as ServerKind;
}

interface Embedded {
  /** How the server is had, for the message that lists every way tried. */
  label: string;
  /** Why this machine cannot start it (a missing tool), or undefined when it can; installs and builds nothing. */
  missing(): Promise<string | undefined>;
  start(options: StartOptions, log: Log): Promise<RunningServer>;
}

const EMBEDDED: Record<ServerKind, Embedded> = {
  mongod: {
    label: 'mongod through mongodb-memory-server-core',
    missing: async () => (await mongodBinary()).missing,
    start: startMemoryServer,
  },
  secantus: {
    label: `SecantusDB ${SECANTUS_VERSION} in a Python venv`,
    missing: async () => python().missing,
    start: startSecantus,
  },
  ferretdb: {
    label: `FerretDB ${FERRETDB_VERSION} built with Go`,
    missing: async () => goVersion().missing,
    start: startFerretDB,
  },
};

/**
 * The embedded servers this machine has the tools for (the order's, or the forced one), and why the others are out.
 * The test run starts each of them; a server whose tools are here but which fails to start is an error there.
 */
export async function embeddedServers(): Promise<{ kinds: ServerKind[]; missing: string[] }> {
  const forced = forcedServerKind();
  const kinds: ServerKind[] = [];
  const missing: string[] = [];
  for (const kind of forced ? [forced] : SERVER_KINDS) {
    const why = await EMBEDDED[kind].missing();
    if (why) missing.push(`${EMBEDDED[kind].label}: ${why}`);
    else kinds.push(kind);
  }
  return { kinds, missing };
}

/** Starts (or points at) a server, and reports its kind and capabilities. */
export async function startMongoServer(options: StartOptions = {}): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => console.error(line));
  const uri = process.env.MONGODB_URI;
  if (uri) {
    const info = await probe(uri);
    return { ...info, description: `MONGODB_URI (${info.description})`, stop: async () => {} };
  }
  const forced = options.kind ?? forcedServerKind();
  const tried: string[] = [];
  for (const kind of forced ? [forced] : SERVER_KINDS) {
    const { label, missing, start } = EMBEDDED[kind];
    try {
      const why = await missing();
      if (why) throw new Error(why);
      return await start(options, log);
    } catch (error) {
      tried.push(`${label}: ${kind === 'mongod' ? firstLine(error) : (error as Error).message}`);
    }
  }
  throw new Error(
    `No MongoDB server could be had${forced ? ` (DATA_MODELS_SERVER=${forced})` : ''}. Tried:\n` +
      `${tried.map((t) => `  - ${t}`).join('\n')}\n` +
      'Fix one of them: set MONGODB_URI=mongodb://host:port to use a running server, put a mongod binary on PATH ' +
      '(or set MONGOMS_SYSTEM_BINARY), install Python 3.10+ with its venv module (e.g. apt-get install python3-venv) ' +
      'so SecantusDB can be installed, or install Go 1.26+ so FerretDB can be built.',
  );
}

// ---- mongod -------------------------------------------------------------------------------------------------------

type MemoryServerCore = typeof import('mongodb-memory-server-core');

async function memoryServerCore(): Promise<MemoryServerCore | undefined> {
  try {
    // A CommonJS package: its exports are named exports under Node, and `default` under some loaders.
    const loaded = (await import('mongodb-memory-server-core')) as unknown as MemoryServerCore & { default?: MemoryServerCore };
    return loaded.MongoMemoryServer ? loaded : loaded.default!;
  } catch {
    return undefined;
  }
}

async function mongodBinary(): Promise<{ binary?: string; missing?: string }> {
  const core = await memoryServerCore();
  if (!core) return { missing: 'the package is not installed' };
  // One download attempt, not four with back-off: on a machine without the download site, fall through at once.
  process.env.MONGOMS_MAX_RETRIES ??= '0';
  try {
    return { binary: process.env.MONGOMS_SYSTEM_BINARY || findOnPath('mongod') || (await core.MongoBinary.getPath()) };
  } catch (error) {
    return { missing: `no system binary, and the download failed: ${firstLine(error)}` };
  }
}

async function startMemoryServer(options: StartOptions): Promise<RunningServer> {
  const core = (await memoryServerCore())!;
  const { binary } = await mongodBinary();
  const server = await core.MongoMemoryServer.create({ binary: { systemBinary: binary } });
  const info = await probe(server.getUri()).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
  return {
    ...info,
    description: `mongod through mongodb-memory-server (${info.description})`,
    stop: async () => {
      await server.stop();
    },
    // The memory server keeps its port and dbPath when it is stopped without cleanup and started with forceSamePort.
    restart: options.persistent
      ? async () => {
          await server.stop({ doCleanup: false });
          await server.start(true);
        }
      : undefined,
  };
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

// ---- installs and builds into the cache ---------------------------------------------------------------------------

/**
 * Runs `build` once for `dir` across processes: a `build.lock` folder keeps a second process waiting until `done`
 * exists (or the lock is gone: that build failed). A lock left by a build that died 20 minutes ago is stale.
 */
async function buildOnce(dir: string, done: string, what: string, log: Log, build: () => Promise<void>): Promise<void> {
  if (existsSync(done)) return;
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, 'build.lock');
  if (!tryLock(lock)) {
    log(`${what}: another process is installing it into ${dir}; waiting`);
    while (!existsSync(done)) {
      if (!existsSync(lock)) throw new Error(`the concurrent install of ${what} into ${dir} failed`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    return;
  }
  try {
    await build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    return true;
  } catch {
    const since = statSync(lock, { throwIfNoEntry: false });
    if (!since || Date.now() - since.mtimeMs > 20 * 60_000) {
      rmSync(lock, { recursive: true, force: true });
      return tryLock(lock);
    }
    return false;
  }
}

/**
 * Runs a long command for a first-run install, saying so every 10 s with `progress()`, and fails with the end of its
 * output. `count` sees each output line.
 */
function runLogged(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, count: (line: string) => void, progress: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
    const output: string[] = [];
    const onLine = (line: string) => {
      output.push(line);
      if (output.length > 40) output.shift();
      count(line);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    const timer = setInterval(progress, 10_000);
    child.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(new Error(`\`${[command, ...args].join(' ')}\` failed (exit ${code}):\n${output.slice(-20).join('\n')}`));
    });
  });
}

const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)} s`;

// ---- SecantusDB ---------------------------------------------------------------------------------------------------

/** The machine's python3, if it is 3.10+ with venv. */
function python(): { version?: string; missing?: string } {
  const check = spawnSync(
    'python3',
    ['-c', 'import sys, ensurepip, venv; print(sys.version.split()[0], sys.version_info >= (3, 10), sys.executable)'],
    { encoding: 'utf8' },
  );
  if (check.error) return { missing: '`python3` is not on PATH' };
  if (check.status !== 0) {
    return { missing: `python3 cannot make a venv (${firstLine(check.stderr)}; on Debian/Ubuntu: apt-get install python3-venv)` };
  }
  const [version, recent, executable] = check.stdout.trim().split(' ');
  if (recent !== 'True') return { missing: `python3 is ${version}; SecantusDB needs Python 3.10 or newer` };
  return { version: `${version} ${executable}` };
}

/** SecantusDB's server command, installed into a venv in the cache on first use. */
export async function secantusExecutable(log: Log): Promise<string> {
  const { version, missing } = python();
  if (missing) throw new Error(missing);
  const key = createHash('sha256').update(readFileSync(secantusRequirements)).update(version!).digest('hex').slice(0, 12);
  const dir = join(cacheDir(), `secantusdb-${SECANTUS_VERSION}-${key}`);
  const venv = join(dir, 'venv');
  const installed = join(dir, 'installed');
  await buildOnce(dir, installed, `SecantusDB ${SECANTUS_VERSION}`, log, async () => {
    const started = Date.now();
    log(`SecantusDB ${SECANTUS_VERSION}: installing with Python ${version!.split(' ')[0]} into ${venv} (first run only: about 15 s)`);
    rmSync(venv, { recursive: true, force: true });
    let packages = 0;
    const progress = () => log(`SecantusDB: still installing, ${packages} packages fetched, ${seconds(started)}`);
    try {
      await runLogged('python3', ['-m', 'venv', venv], dir, process.env, () => {}, progress);
      const pip = ['-m', 'pip', 'install', '--require-hashes', '--no-deps', '--no-input', '--disable-pip-version-check', '--progress-bar', 'off'];
      await runLogged(join(venv, 'bin', 'python'), [...pip, '-r', secantusRequirements], dir, process.env, (line) => {
        if (line.startsWith('Collecting ')) packages++;
      }, progress);
    } catch (error) {
      rmSync(venv, { recursive: true, force: true });
      throw error;
    }
    writeFileSync(installed, `${new Date().toISOString()}\n`);
    log(`SecantusDB: installed in ${seconds(started)} (${packages} packages)`);
  });
  return join(venv, 'bin', 'secantusd-py');
}

async function startSecantus(options: StartOptions, log: Log): Promise<RunningServer> {
  const command = await secantusExecutable(log);
  // Its own folder: the working directory (where it would look for a secantusd.toml), the temporary folder of its
  // `:memory:` store (so that stop() removes it even after a SIGKILL) and, persistent, its data.
  const home = mkdtempSync(join(tmpdir(), 'data-models-secantus-'));
  const storage = options.persistent ? join(home, 'data') : ':memory:';
  return supervise(
    'secantus',
    `SecantusDB ${SECANTUS_VERSION} (WiredTiger)`,
    (port) =>
      launch(command, ['--host', '127.0.0.1', '--port', String(port), '--storage-path', storage], home, { TMPDIR: home }, 'stderr', (line) => {
        const listening = /listening on (127\.0\.0\.1:\d+)/.exec(line);
        return listening ? `mongodb://${listening[1]}/` : undefined;
      }),
    home,
    options,
  );
}

// ---- FerretDB -----------------------------------------------------------------------------------------------------

function goVersion(): { version?: string; missing?: string } {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) return { missing: 'the Go toolchain (`go`) is not on PATH' };
  return { version: go.stdout };
}

/** The built binary for the current sources and Go toolchain; builds it when the cache lacks it. */
export async function ferretdbBinary(log: Log): Promise<string> {
  const { version, missing } = goVersion();
  if (missing) throw new Error(missing);
  const key = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) key.update(readFileSync(join(ferretdbModule, file)));
  key.update(version!);
  const dir = join(cacheDir(), `ferretdb-${FERRETDB_VERSION}-${key.digest('hex').slice(0, 12)}`);
  const binary = join(dir, 'ferretdb');
  await buildOnce(dir, binary, `FerretDB ${FERRETDB_VERSION}`, log, async () => {
    const started = Date.now();
    const partial = `${binary}.${process.pid}.partial`;
    log(`FerretDB ${FERRETDB_VERSION}: building with Go into ${binary} (first run only: about 2 minutes on 2 cores)`);
    let packages = 0;
    try {
      await runLogged(
        'go',
        ['build', '-trimpath', '-v', '-o', partial, '.'],
        ferretdbModule,
        { ...process.env, CGO_ENABLED: '0' },
        (line) => {
          if (/^[\w.-]+(\/[\w.@~-]+)*$/.test(line)) packages++;
        },
        () => log(`FerretDB: still building, ${packages} packages compiled, ${seconds(started)}`),
      );
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
    renameSync(partial, binary);
    log(`FerretDB: built in ${seconds(started)} (${packages} packages)`);
  });
  return binary;
}

async function startFerretDB(options: StartOptions, log: Log): Promise<RunningServer> {
  const binary = await ferretdbBinary(log);
  const dataDir = mkdtempSync(join(tmpdir(), 'data-models-ferretdb-'));
  return supervise(
    'ferretdb',
    `FerretDB ${FERRETDB_VERSION} (SQLite backend, embedded)`,
    // It prints its URI as its first line on stdout once it listens.
    (port) => launch(binary, ['-listen-addr', `127.0.0.1:${port}`, '-data-dir', dataDir], dataDir, {}, 'stdout', (line) => line.trim()),
    dataDir,
    options,
  );
}

// ---- server processes ---------------------------------------------------------------------------------------------

interface Launched {
  uri: string;
  stop(): Promise<void>;
}

/** Probes a launched server; stop() ends it and removes `folder`; restart() launches it again on the same port. */
async function supervise(
  kind: ServerKind,
  description: string,
  start: (port: number) => Promise<Launched>,
  folder: string,
  options: StartOptions,
): Promise<RunningServer> {
  let current: Launched | undefined;
  try {
    current = await start(0);
    const info = await probe(current.uri);
    const port = Number(new URL(current.uri).port);
    return {
      ...info,
      kind,
      description,
      stop: async () => {
        await current?.stop();
        rmSync(folder, { recursive: true, force: true });
      },
      restart: options.persistent
        ? async () => {
            await current!.stop();
            current = undefined;
            current = await start(port);
          }
        : undefined,
    };
  } catch (error) {
    await current?.stop();
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Spawns a server and waits until `ready` finds its URI in a line of `stream`. Its stop() sends SIGTERM and, after 3 s,
 * SIGKILL (FerretDB waits for open client connections on SIGTERM; a leftover client must not hang the caller).
 */
function launch(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  stream: 'stdout' | 'stderr',
  ready: (line: string) => string | undefined,
): Promise<Launched> {
  const name = command.split('/').pop();
  const child: ChildProcess = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  // Both streams are read to the end, whatever the server logs: a full pipe would stall it.
  const lines = createInterface({ input: child[stream]! });
  const other = stream === 'stdout' ? child.stderr! : child.stdout!;
  other.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  return new Promise((resolve, reject) => {
    let uri: string | undefined;
    let failed = false;
    const fail = (why: string) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      void stop().then(() => reject(new Error(`${name} ${why}: ${output.trim().split('\n').slice(-10).join('\n')}`)));
    };
    const timer = setTimeout(() => fail('did not start within 30 s'), 30_000);
    lines.on('line', (line) => {
      if (uri) return;
      output = (output + line + '\n').slice(-4000);
      uri = ready(line);
      if (uri) {
        clearTimeout(timer);
        resolve({ uri, stop });
      }
    });
    child.once('error', (error) => fail(`could not be started (${error.message})`));
    child.once('exit', (code, signal) => {
      if (!uri) fail(`exited (${signal ?? `code ${code}`}) before it listened`);
    });
  });
}

/** Probes the server at `uri` (see capabilities.ts). */
export async function probe(uri: string): Promise<ServerInfo> {
  const client = new mongoose.mongo.MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  try {
    return { uri, ...(await probeServer(client)) };
  } finally {
    await client.close();
  }
}
