// 2. A workspace's pipelines, lean: what the control API and the UI list on every page load.
import { forWorkspace } from '../../src/index.js';
import type { BenchContext, Case, Scenario } from '../harness.js';
import { smallPipeline } from '../fixtures.js';
import { plainModel } from '../plain.js';

export const listPipelines: Scenario = {
  id: 'list-pipelines',
  number: 2,
  title: "List a workspace's pipelines, lean, through forWorkspace: its 50 of 5,000 (100 workspaces of 50 everyday pipelines)",
  target: 'package ≤ 1.10x driver wall at p50',
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { Pipeline } = ctx.models;
    const workspaces = ctx.size(100, 5);
    const perWorkspace = ctx.size(50, 10);
    for (let w = 0; w < workspaces; w++) {
      await Pipeline.insertMany(Array.from({ length: perWorkspace }, (_, k) => smallPipeline(`ws_${w}`, k)));
    }
    const pipelines = ctx.db.collection<{ workspaceId: string }>('pipelines');
    const Plain = plainModel(ctx.conn, 'Pipeline', 'pipelines');
    const workspaceId = (i: number) => `ws_${(i * 37) % workspaces}`;
    return [
      {
        name: `find({ workspaceId }): ${perWorkspace} of ${workspaces * perWorkspace}`,
        concurrency: 1,
        ops: ctx.size(200, 5),
        warmup: ctx.size(50, 2),
        contenders: [
          { name: 'driver find({ workspaceId }).toArray()', role: 'driver', op: (i) => pipelines.find({ workspaceId: workspaceId(i) }).toArray() },
          { name: 'plain mongoose find().lean()', role: 'plain', op: (i) => Plain.find({ workspaceId: workspaceId(i) }).lean() },
          // As a service lists per request: forWorkspace for the request's workspace, then the query.
          { name: 'forWorkspace(ws).Pipeline.find().lean()', role: 'package', op: (i) => forWorkspace(ctx.models, workspaceId(i)).Pipeline.find().lean() },
          { name: 'Pipeline.find({ workspaceId }).lean()', role: 'extra', op: (i) => Pipeline.find({ workspaceId: workspaceId(i) }).lean() },
        ],
        checks: [{ metric: 'p50', against: 'driver', max: 1.1 }],
      },
    ];
  },
};
