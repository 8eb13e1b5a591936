import type { Model, Query, Schema } from 'mongoose';
import { validatePipelineGraph, type GraphProblem, type PipelineGraph } from '../contracts/pipelineGraph.js';
import { updatedPaths, validationError } from './updateGuards.js';

const GRAPH_FIELDS = ['streams', 'sourceClients', 'sinkConnections', 'transforms', 'nodePositions'] as const;
type GraphDocument = PipelineGraph & { nodePositions?: Record<string, unknown> | null };

function isGraphPath(path: string): boolean {
  return (GRAPH_FIELDS as readonly string[]).includes(path.split('.')[0]!);
}

/**
 * Keeps query updates from bypassing the pipeline graph rules. A replacement is checked as it is. An update may
 * `$set` whole graph fields, and `$set` or `$unset` single layout entries (`nodePositions.<node id>`); each
 * matched pipeline is read, the update applied to it in memory, and the result checked: any problem refuses the
 * whole update with a ValidationError that lists every problem, and nothing is written. Any other change to a
 * graph field (`$push`, `$pull`, positional paths...) is refused: load the pipeline, change it, and `save()` it.
 * The check reads before the write: a concurrent writer can still interleave between the two.
 */
export function guardPipelineGraphUpdates(schema: Schema): void {
  schema.pre(['replaceOne', 'findOneAndReplace'], function (this: Query<unknown, unknown>) {
    const replacement = this.getUpdate() as PipelineGraph | null;
    if (replacement) refuseProblems(validatePipelineGraph(replacement));
  });
  schema.pre(['updateOne', 'findOneAndUpdate'], function (this: Query<unknown, unknown>) {
    return checkGraphUpdate(this, 'one');
  });
  schema.pre('updateMany', function (this: Query<unknown, unknown>) {
    return checkGraphUpdate(this, 'many');
  });

  // bulkWrite runs no query middleware: refuse its updates of graph fields outright.
  schema.pre('bulkWrite', function (ops) {
    for (const op of ops) {
      const write = 'updateOne' in op ? op.updateOne : 'updateMany' in op ? op.updateMany : 'replaceOne' in op ? op.replaceOne : undefined;
      const update = write && ('update' in write ? write.update : write.replacement);
      const path = updatedPaths(update).find(isGraphPath);
      if (path) throw validationError([{ path, message: `bulkWrite cannot change ${path}: the pipeline graph rules are checked on save(), create() and single updates` }]);
    }
  });
}

async function checkGraphUpdate(query: Query<unknown, unknown>, matches: 'one' | 'many'): Promise<void> {
  const update = query.getUpdate() as Record<string, unknown> | null;
  if (!update || !updatedPaths(update).some(isGraphPath)) return;
  const model = query.model as Model<GraphDocument>;
  const sets: Record<string, unknown> = {};
  const unsets: string[] = [];
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) sets[key] = value;
    else if (key === '$set') Object.assign(sets, value);
    else if (key === '$unset') unsets.push(...Object.keys(value as object));
    else {
      for (const path of Object.keys(value as object).filter(isGraphPath)) {
        throw validationError([{ path, message: `${key} on ${path} is not checked against the pipeline graph rules: $set the whole field, or load the pipeline and save() it` }]);
      }
    }
  }
  for (const path of [...Object.keys(sets), ...unsets].filter(isGraphPath)) {
    const [field, key, more] = path.split('.');
    const layoutEntry = field === 'nodePositions' && key !== undefined && more === undefined;
    if ((key !== undefined && !layoutEntry) || (unsets.includes(path) && !layoutEntry)) {
      throw validationError([{ path, message: `${path} cannot be changed on its own by an update: $set the whole ${field}, or load the pipeline and save() it` }]);
    }
  }
  const projection = Object.fromEntries(GRAPH_FIELDS.map((f) => [f, 1]));
  const current =
    matches === 'many'
      ? await model.find(query.getFilter(), projection).lean<GraphDocument[]>()
      : [await model.findOne(query.getFilter(), projection, { sort: query.getOptions().sort }).lean<GraphDocument>()].filter((d) => d !== null);
  if (current.length === 0 && query.getOptions().upsert) current.push({});
  for (const doc of current) {
    const next: GraphDocument = { ...doc, nodePositions: { ...(doc.nodePositions ?? {}) } };
    for (const [path, value] of Object.entries(sets)) {
      if (!isGraphPath(path)) continue;
      const [field, key] = path.split('.') as [keyof GraphDocument, string | undefined];
      if (key === undefined) (next as Record<string, unknown>)[field] = value;
      else next.nodePositions![key] = value;
    }
    for (const path of unsets.filter(isGraphPath)) delete next.nodePositions![path.split('.')[1]!];
    refuseProblems(validatePipelineGraph(next));
  }
}

function refuseProblems(problems: GraphProblem[]): void {
  if (problems.length > 0) throw validationError(problems);
}
