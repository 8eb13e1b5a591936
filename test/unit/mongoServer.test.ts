import { afterEach, describe, expect, it, vi } from 'vitest';
import { embeddedServers, forcedServerKind, SERVER_KINDS } from '../../src/mongoServer.js';
import { withinTime } from '../../src/capabilities.js';

describe('choosing the test server', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('tries mongod, then SecantusDB, then FerretDB', () => {
    expect(SERVER_KINDS).toEqual(['mongod', 'secantus', 'ferretdb']);
  });

  it('DATA_MODELS_SERVER forces one embedded server, and an unknown one is an error naming the choices', async () => {
    vi.stubEnv('DATA_MODELS_SERVER', 'ferretdb');
    expect(forcedServerKind()).toBe('ferretdb');
    const { kinds, missing } = await embeddedServers();
    expect([...kinds, ...missing.map((m) => m.split(' ')[0]!.toLowerCase())]).toEqual(['ferretdb']);
    vi.stubEnv('DATA_MODELS_SERVER', 'mongo');
    expect(() => forcedServerKind()).toThrow('DATA_MODELS_SERVER="mongo" is none of mongod, secantus, ferretdb');
  });
});

describe('the capability probe', () => {
  it('counts a check that never answers as missing, with the reason, instead of hanging the run', async () => {
    const never = new Promise<true>(() => {});
    await expect(withinTime(never, 'transactions', 20)).resolves.toBe('the transactions check did not finish within 0.02 s');
  });

  it('keeps the answer of a check that finishes in time', async () => {
    await expect(withinTime(Promise.resolve(true), 'transactions', 1000)).resolves.toBe(true);
    await expect(withinTime(Promise.resolve('no'), 'transactions', 1000)).resolves.toBe('no');
  });
});
