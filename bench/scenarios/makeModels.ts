// 7. A service meets a new tenant: makeModels on a fresh `useDb` connection, then uses two of the eight models.
import { makeModels, releaseTenant } from '../../src/index.js';
import type { BenchContext, Case, Scenario } from '../harness.js';
import { MODEL_NAMES, plainSchemaOf } from '../plain.js';

export const makeModelsScenario: Scenario = {
  id: 'make-models',
  number: 7,
  title: 'makeModels(conn.useDb(tenant)) and first use of Pipeline and Session (autoIndex and autoCreate off)',
  target: '≤ 1 ms per tenant at p50 (issue 12; its many-tenant run measures heap and commands per tenant)',
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { conn } = ctx;
    const client = conn.getClient();
    // Tenant connections are released after each batch, outside the measurement, so the heap does not grow.
    const opened: string[] = [];
    const tenant = (role: string, i: number) => {
      const name = `${conn.name}_${role}_${i}`;
      opened.push(name);
      return conn.useDb(name);
    };
    const release = () => {
      for (const name of opened.splice(0)) releaseTenant(conn, name);
    };
    return [
      {
        name: 'one new tenant',
        concurrency: 1,
        ops: ctx.size(100, 5),
        warmup: ctx.size(20, 2),
        contenders: [
          {
            name: 'driver client.db() + 2 collections',
            role: 'driver',
            op: async (i) => {
              const db = client.db(`${conn.name}_driver_${i}`);
              return [db.collection('pipelines'), db.collection('sessions')];
            },
          },
          {
            name: 'plain mongoose useDb + 8 models',
            role: 'plain',
            op: async (i) => {
              const db = tenant('plain', i);
              return MODEL_NAMES.map((name) => db.model(name, plainSchemaOf(name)));
            },
            afterBatch: release,
          },
          {
            name: 'makeModels(useDb) + Pipeline, Session',
            role: 'package',
            op: async (i) => {
              const models = makeModels(tenant('package', i));
              return [models.Pipeline, models.Session];
            },
            afterBatch: release,
          },
        ],
        checks: [{ metric: 'p50', against: 'absolute', max: 1000 }],
      },
    ];
  },
};
