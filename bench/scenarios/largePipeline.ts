// 3. The large pipeline: created once, then saved again and again as its owner edits one transform.
import mongoose from 'mongoose';
import { newId } from '../../src/ids.js';
import type { BenchContext, Case, Scenario } from '../harness.js';
import { buildIndexes, largePipeline } from '../fixtures.js';
import { plainModel } from '../plain.js';

const EDITED = 25;
const expression = (i: number) => `$merge([$, { "region": customer.address.country, "edit": ${i} }])`;

export const largePipelineScenario: Scenario = {
  id: 'large-pipeline',
  number: 3,
  title: 'Large pipeline (51 streams, 50 transforms, 49 clients, 50 connections, 200 positions): create, and save after changing one transform',
  target: 'create: package ≤ 1.5x driver wall at p50, and less client CPU than plain mongoose (no target for the save)',
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { Pipeline } = ctx.models;
    // What the package stores for the input: the driver writes this very document.
    const template = await ctx.db.collection('pipelines').findOne({ _id: (await Pipeline.create(largePipeline('ws_template')))._id as never });
    const bytes = mongoose.mongo.BSON.calculateObjectSize(template!);
    const driverPipelines = ctx.db.collection('driver_pipelines');
    await buildIndexes(driverPipelines, Pipeline.schema, ctx.server);
    const Plain = plainModel(ctx.conn, 'Pipeline', 'plain_pipelines');
    await buildIndexes(Plain.collection, Pipeline.schema, ctx.server);
    // Each create goes to a workspace of its own: the pipeline code is unique per workspace.
    const workspace = (i: number) => `ws_create_${i}`;
    const create: Case = {
      name: `create (${(bytes / 1024).toFixed(1)} KB stored)`,
      concurrency: 1,
      ops: ctx.size(30, 2),
      warmup: ctx.size(10, 1),
      contenders: [
        {
          name: 'driver insertOne (same document)',
          role: 'driver',
          op: (i) => driverPipelines.insertOne({ ...template, _id: newId('pl') as never, workspaceId: workspace(i), createdAt: new Date(), updatedAt: new Date() }),
        },
        { name: 'plain mongoose create', role: 'plain', op: (i) => Plain.create(largePipeline(workspace(i))) },
        { name: 'Pipeline.create', role: 'package', op: (i) => Pipeline.create(largePipeline(workspace(i))) },
      ],
      checks: [
        { metric: 'p50', against: 'driver', max: 1.5 },
        { metric: 'cpu', against: 'plain', max: 1 },
      ],
    };

    // One loaded document per contender, edited and saved by every operation.
    const driverDoc = await driverPipelines.insertOne({ ...template, _id: newId('pl') as never, workspaceId: 'ws_save' });
    const plainDoc = await Plain.create(largePipeline('ws_save'));
    const packageDoc = await Pipeline.create(largePipeline('ws_save'));
    const path = `transforms.${EDITED}.expression`;
    const save: Case = {
      name: `save after changing transforms.${EDITED}.expression`,
      concurrency: 1,
      ops: ctx.size(30, 2),
      warmup: ctx.size(10, 1),
      contenders: [
        {
          name: 'driver updateOne $set of the path',
          role: 'driver',
          op: (i) => driverPipelines.updateOne({ _id: driverDoc.insertedId }, { $set: { [path]: expression(i), updatedAt: new Date() } }),
        },
        { name: 'plain mongoose doc.save()', role: 'plain', op: (i) => plainDoc.set(path, expression(i)).save() },
        { name: 'pipeline.save()', role: 'package', op: (i) => packageDoc.set(path, expression(i)).save() },
      ],
      checks: [],
    };
    return [create, save];
  },
};
