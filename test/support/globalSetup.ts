import mongoose from 'mongoose';
import type { TestProject } from 'vitest/node';
import { SERVER_KINDS, startMongoServer, type RunningServer, type ServerInfo } from '../../src/mongoServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    server: ServerInfo;
    /** A database with a TTL index and an expired document, made when the server started (see seedExpiry). */
    ttlDatabase: string | undefined;
  }
}

// Every project of the run (see vitest.config.ts) runs this in the one main process, each with its own module
// instance: the servers live on globalThis so that a server two projects need is started once.
const shared = globalThis as { dataModelsServers?: Map<string, { server: Promise<RunningServer>; users: number }> };
const servers = (shared.dataModelsServers ??= new Map());
const ttlDatabases = new Map<string, Promise<string | undefined>>();

/**
 * A TTL monitor pass comes every 60 s (mongod's default; SecantusDB 0.7.0b3's too, and its launcher ignores the
 * `ttl_sweep_seconds` of its config file): the expired document is written as soon as the server is up, so that the
 * test of its deletion (server.test.ts) waits only for what is left of that minute, while the rest of the suite runs.
 */
async function seedExpiry(running: RunningServer): Promise<string | undefined> {
  if (!running.capabilities.ttlIndexes) return undefined;
  const name = `ttl_${process.pid}_${Date.now()}`;
  const client = await mongoose.mongo.MongoClient.connect(running.uri);
  try {
    const expiring = client.db(name).collection('ttl');
    await expiring.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
    await expiring.insertMany([{ at: new Date(Date.now() - 1000) }, { at: 'not a date, never expires' }]);
    return name;
  } finally {
    await client.close();
  }
}

/**
 * Gives the project its server: an integration project is named after its server's kind (or MONGODB_URI); the unit
 * project (package tests need a server for the CLI and consumers) gets the first server of the order.
 */
export default async function setup(project: TestProject) {
  const kind = SERVER_KINDS.find((k) => k === project.name);
  const key = kind ?? 'first';
  // The unit project takes the first server of the order that an integration project already started, if any.
  let entry = servers.get(key) ?? (kind ? undefined : SERVER_KINDS.map((k) => servers.get(k)).find(Boolean));
  if (!entry) {
    const started = Date.now();
    const server = startMongoServer({ kind });
    entry = { server, users: 0 };
    servers.set(key, entry);
    const running = await server;
    servers.set(running.kind, entry);
    const missing = Object.entries(running.capabilities).filter(([, has]) => !has).map(([name]) => name);
    console.log(
      `Test server (${project.name}): ${running.description}, ready in ${Date.now() - started} ms` +
        (missing.length ? `; lacks ${missing.join(', ')}: tests that need them are skipped with the reason` : ''),
    );
  }
  entry.users++;
  const { uri, kind: serverKind, description, capabilities, missing } = await entry.server;
  project.provide('server', { uri, kind: serverKind, description, capabilities, missing });
  if (project.name !== 'unit') {
    // The integration project of a server (named after its kind, or MONGODB_URI).
    if (!ttlDatabases.has(serverKind)) ttlDatabases.set(serverKind, seedExpiry(await entry.server));
    project.provide('ttlDatabase', await ttlDatabases.get(serverKind));
  }
  const held = entry;
  return async () => {
    if (--held.users === 0) await (await held.server).stop();
  };
}
