// 6. The authorizer checks a client's secret: Client.authenticate per second.
import type { BenchContext, Case, Contender, Scenario } from '../harness.js';
import { plainModel } from '../plain.js';

export const authenticate: Scenario = {
  id: 'authenticate',
  number: 6,
  title: 'Client.authenticate(id, secret) vs the one read it needs (driver findOne({ _id }); the status is checked in the client)',
  target: 'package ≥ 5,000 authentications per second, sequential and at concurrency 32',
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { Client } = ctx.models;
    const clients: Array<{ id: string; secret: string }> = [];
    for (let k = 0; k < ctx.size(8, 2); k++) {
      const { client, secret } = await Client.createWithSecret({ name: `Shop front ${k}` });
      clients.push({ id: client._id, secret });
    }
    const collection = ctx.db.collection<{ _id: string; status: string }>('clients');
    const Plain = plainModel(ctx.conn, 'Client', 'clients');
    const pick = (i: number) => clients[i % clients.length]!;
    const contenders: Contender[] = [
      { name: 'driver findOne({ _id })', role: 'driver', op: (i) => collection.findOne({ _id: pick(i).id }) },
      { name: 'plain mongoose findOne({ _id }) (hydrated)', role: 'plain', op: (i) => Plain.findOne({ _id: pick(i).id }) },
      { name: 'Client.authenticate', role: 'package', op: (i) => Client.authenticate(pick(i).id, pick(i).secret) },
    ];
    const checks: Case['checks'] = [{ metric: 'opsPerSec', against: 'absolute', min: 5000 }];
    return [
      { name: 'sequential', concurrency: 1, ops: ctx.size(2000, 20), warmup: ctx.size(200, 5), contenders, checks },
      { name: 'concurrency 32', concurrency: 32, ops: ctx.size(4000, 64), warmup: ctx.size(200, 32), contenders, checks },
    ];
  },
};
