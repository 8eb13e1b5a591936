// 1. The authorizer's session check: on every request, the live session for the caller's token.
import type { BenchContext, Case, Contender, Scenario } from '../harness.js';
import { session } from '../fixtures.js';
import { plainModel } from '../plain.js';

export const sessionCheck: Scenario = {
  id: 'session-check',
  number: 1,
  title: 'Session check: Session.verify(token) vs the driver findOne({ _id }), over 10,000 stored sessions',
  target: 'package ≤ 1.10x driver wall at p50 and p99, ≤ 1.3x driver client CPU, sequential and at concurrency 64',
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { Session } = ctx.models;
    const count = ctx.size(10_000, 200);
    const stored: Array<{ _id: string; token: string }> = [];
    for (let k = 0; k < count; k += 100) {
      const batch = Array.from({ length: Math.min(100, count - k) }, (_, n) => {
        const { expiresAt, ...fields } = session(k + n);
        return Session.issue({ ...fields, ttlSeconds: Math.round((expiresAt.getTime() - Date.now()) / 1000) });
      });
      for (const { session: doc, token } of await Promise.all(batch)) stored.push({ _id: doc._id, token });
    }
    const sessions = ctx.db.collection<{ _id: string }>('sessions');
    const Plain = plainModel(ctx.conn, 'Session', 'sessions');
    // A fixed stride through the sessions (coprime with the count), so consecutive checks hit different documents.
    const pick = (i: number) => stored[(i * 7919) % stored.length]!;
    const contenders: Contender[] = [
      { name: 'driver findOne({ _id })', role: 'driver', op: (i) => sessions.findOne({ _id: pick(i)._id }) },
      { name: 'plain mongoose findOne({ _id }).lean()', role: 'plain', op: (i) => Plain.findOne({ _id: pick(i)._id }).lean() },
      { name: 'Session.verify(token)', role: 'package', op: (i) => Session.verify(pick(i).token) },
      { name: 'Session.findLive(id) (hydrated)', role: 'extra', op: (i) => Session.findLive(pick(i)._id) },
    ];
    const checks: Case['checks'] = [
      { metric: 'p50', against: 'driver', max: 1.1 },
      { metric: 'p99', against: 'driver', max: 1.1 },
      { metric: 'cpu', against: 'driver', max: 1.3 },
    ];
    return [
      { name: 'sequential', concurrency: 1, ops: ctx.size(500, 20), warmup: ctx.size(200, 5), contenders, checks },
      { name: 'concurrency 64', concurrency: 64, ops: ctx.size(2000, 64), warmup: ctx.size(500, 64), contenders, checks },
    ];
  },
};
