import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { INPUT_LIMITS, makeModels, type Limit } from '../../src/index.js';
import { SCHEMAS } from '../../src/makeModels.js';
import { updatedPaths } from '../../src/models/updateGuards.js';

// Models on a connection that never connects: validation runs without a server.
const models = makeModels(mongoose.createConnection());

// Validation only (codes given, so no hook needs to look for a free code in the database).
async function errorsOf(doc: { validate(): Promise<void> }) {
  const error = await doc.validate().then(() => undefined, (e: mongoose.Error.ValidationError) => e);
  return Object.keys(error?.errors ?? {}).sort();
}

describe('schemas without a server', () => {
  it('every enum of the seed refuses values outside its list', async () => {
    expect(await errorsOf(new models.Workspace({ name: 'a', code: 'abcd', status: 'paused' as 'active' }))).toEqual(['status']);
    expect(await errorsOf(new models.Pipeline({ workspaceId: 'ws_1', name: 'p', code: 'pipe', streams: [{ topic: 't', type: 'x' as 'source' }] }))).toEqual(['streams.0.type']);
    expect(await errorsOf(new models.Notification({ channel: 'fax' as 'email', type: 't', correlationId: 'c', target: {} }))).toContain('channel');
    expect(await errorsOf(new models.Contact({ role: 'owner' as 'admin', status: 'gone' as 'active' }))).toEqual(['role', 'status']);
  });

  it('the seed\'s required fields are required', async () => {
    expect(await errorsOf(new models.Session({}))).toEqual(['expiresAt', 'principalId', 'principalType', 'workspaceId']);
    expect(await errorsOf(new models.Connection({}))).toEqual(['config', 'name', 'type']);
  });

  it('defaults: statuses, empty lists, generated ids', () => {
    const ws = new models.Workspace({ name: 'a' });
    expect(ws.status).toBe('active');
    expect(ws.allowedOrigins).toEqual([]);
    expect(ws._id).toMatch(/^ws_[0-9a-f]{32}$/);
    expect(new models.Pipeline({ workspaceId: 'w', name: 'p' }).status).toBe('inactive');
    expect(new models.Notification({}).status).toBe('queued');
    expect(new models.Session({})._id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an unknown field throws at once', () => {
    expect(() => new models.Workspace({ name: 'a', bogus: 1 } as never)).toThrow(/bogus/);
  });

  it('updatedPaths reads plain, operator and rename updates', () => {
    expect(updatedPaths({ name: 'x', $set: { 'config.url': 'u' }, $unset: { code: 1 }, $rename: { a: 'b' } }).sort()).toEqual(['a', 'b', 'code', 'config.url', 'name']);
    expect(updatedPaths(null)).toEqual([]);
  });
});

describe('Input limits table', () => {
  /** Every String path of a schema, through sub-documents, lists of sub-documents and maps (`config.headers.$*`). */
  function stringPaths(schema: mongoose.Schema, prefix = ''): Array<{ path: string; enumerated: boolean }> {
    const found: Array<{ path: string; enumerated: boolean }> = [];
    schema.eachPath((path, type) => {
      const sub = (type as mongoose.SchemaType & { schema?: mongoose.Schema }).schema;
      if (sub) found.push(...stringPaths(sub, `${prefix}${path}.`));
      else if (type.instance === 'String') found.push({ path: prefix + path, enumerated: ((type as mongoose.SchemaType & { enumValues?: string[] }).enumValues?.length ?? 0) > 0 });
    });
    return found;
  }

  it('every free-form String path of every model has a length limit in the one table', () => {
    for (const [model, schema] of Object.entries(SCHEMAS) as Array<[keyof typeof INPUT_LIMITS, mongoose.Schema]>) {
      const limits: Readonly<Record<string, Limit>> = INPUT_LIMITS[model];
      const unbounded = stringPaths(schema).filter(({ path, enumerated }) => !enumerated && !(limits[path] && 'chars' in limits[path]));
      expect(unbounded.map((p) => `${model}.${p.path}`)).toEqual([]);
    }
  });
});
