// 4. One layout drag in the UI: `$set` of one node's position on the large pipeline, checked by the package.
import { forWorkspace } from '../../src/index.js';
import { newId } from '../../src/ids.js';
import type { BenchContext, Case, Scenario } from '../harness.js';
import { largePipeline, largePipelineNodes } from '../fixtures.js';
import { plainModel } from '../plain.js';

export const layoutDrag: Scenario = {
  id: 'layout-drag',
  number: 4,
  title: "Layout drag: $set of one nodePositions entry of the large pipeline, through forWorkspace(ws).Pipeline.updateOne (checked)",
  target: "package ≤ 1.2x the driver's updateOne wall at p50",
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { Pipeline } = ctx.models;
    const workspaceId = 'ws_drag';
    const stored = await Pipeline.create(largePipeline(workspaceId));
    const pipelines = ctx.db.collection<{ _id: string; workspaceId: string; code: string }>('pipelines');
    const template = await pipelines.findOne({ _id: stored._id });
    // The driver and plain mongoose move nodes of copies of the same stored document, in the same collection.
    const driverId = newId('pl');
    await pipelines.insertOne({ ...template!, _id: driverId, code: 'drvr' });
    const plainId = newId('pl');
    await pipelines.insertOne({ ...template!, _id: plainId, code: 'plan' });
    const Plain = plainModel(ctx.conn, 'Pipeline', 'pipelines');
    const nodes = largePipelineNodes();
    const move = (i: number) => ({ [`nodePositions.${nodes[i % nodes.length]!}`]: { x: i % 1000, y: (i * 7) % 1000 } });
    return [
      {
        name: 'one node moved',
        concurrency: 1,
        ops: ctx.size(200, 5),
        warmup: ctx.size(50, 2),
        contenders: [
          {
            name: 'driver updateOne',
            role: 'driver',
            op: (i) => pipelines.updateOne({ _id: driverId, workspaceId }, { $set: { ...move(i), updatedAt: new Date() } }),
          },
          { name: 'plain mongoose updateOne', role: 'plain', op: (i) => Plain.updateOne({ _id: plainId, workspaceId }, { $set: move(i) }) },
          // The checked drag, one round trip, as a service sends it for the request's workspace.
          { name: 'forWorkspace(ws).Pipeline.updateOne (checked)', role: 'package', op: (i) => forWorkspace(ctx.models, workspaceId).Pipeline.updateOne({ _id: stored._id }, { $set: move(i) }) },
        ],
        checks: [{ metric: 'p50', against: 'driver', max: 1.2 }],
      },
    ];
  },
};
