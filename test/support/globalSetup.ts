import type { TestProject } from 'vitest/node';
import { startMongoServer, type ServerInfo } from '../../src/mongoServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    server: ServerInfo;
  }
}

// One server for the whole run (MONGODB_URI, mongod or embedded FerretDB); every test file gets its own database.
export default async function setup(project: TestProject) {
  const started = Date.now();
  const server = await startMongoServer();
  const missing = Object.entries(server.capabilities).filter(([, has]) => !has).map(([name]) => name);
  console.log(
    `Test server: ${server.description}, ready in ${Date.now() - started} ms` +
      (missing.length ? `; lacks ${missing.join(', ')}: tests that need them are skipped with the reason` : ''),
  );
  const { uri, kind, description, capabilities, missing: reasons } = server;
  project.provide('server', { uri, kind, description, capabilities, missing: reasons });
  return () => server.stop();
}
