import mongoose, { type Model, type Query, type Schema, type UpdateWriteOpResult } from 'mongoose';
import { isLayoutKey, parseNodeId, positionProblems, validatePipelineGraph, type GraphProblem, type NodeKind, type PipelineGraph } from '../contracts/pipelineGraph.js';
import { limitProblems } from '../contracts/limits.js';
import { ConflictError, validationErrorOf as validationError } from '../errors.js';
import { updatedPaths } from './updateGuards.js';

const GRAPH_FIELDS = ['streams', 'sourceClients', 'sinkConnections', 'transforms', 'nodePositions'] as const;
type GraphDocument = PipelineGraph & { _id?: unknown; __v?: number; nodePositions?: Record<string, unknown> | null };
type GraphQuery = Query<unknown, unknown>;

/** How often a checked update re-reads and re-checks the pipeline after another writer changed it first. */
export const GRAPH_UPDATE_ATTEMPTS = 5;

/** The graph field that holds each kind of node's key: a layout entry may only be written for a node that exists. */
const NODE_FIELD: Record<NodeKind, string> = {
  stream: 'streams.topic',
  client: 'sourceClients.clientId',
  connection: 'sinkConnections.connectionId',
  transform: 'transforms.targetStream',
};

/** The operation a query runs (mongoose's types leave it out). */
function opOf(query: GraphQuery): string {
  return (query as unknown as { op: string }).op;
}

function isGraphPath(path: string): boolean {
  return (GRAPH_FIELDS as readonly string[]).includes(path.split('.')[0]!);
}

// The queries this guard has checked itself (its own versioned writes): they pass through it unchanged.
const checked = new WeakSet<GraphQuery>();
// Layout drags sent in one round trip, with the filter they were given (to explain a miss).
const drags = new WeakMap<GraphQuery, Record<string, unknown>>();

/**
 * Keeps query updates from bypassing the pipeline graph rules, and from losing a race. A replacement is checked as
 * it is. An update may `$set` whole graph fields, and `$set` or `$unset` single layout entries
 * (`nodePositions.<node id>`); any other change to a graph field (`$push`, `$pull`, positional paths...) is
 * refused: load the pipeline, change it, and `save()` it.
 *
 * - A layout drag (only `nodePositions.<node id>` entries) is one round trip: the node's existence is a condition
 *   of the update's filter, and the version is bumped, so a drag never lands on a node another writer removed.
 *   Drags of different nodes never conflict; of one node, the last write wins.
 * - Any other graph update reads each matched pipeline, applies the update in memory and checks the result; the
 *   write then requires the version it read and bumps it. When another writer got there first, it reads and
 *   checks again, up to GRAPH_UPDATE_ATTEMPTS times, then fails with a ConflictError. Any problem refuses the
 *   whole update with a ValidationError listing every problem, and nothing is written.
 */
export function guardPipelineGraphUpdates(schema: Schema): void {
  schema.pre(['replaceOne', 'findOneAndReplace'], function (this: GraphQuery) {
    const replacement = this.getUpdate() as PipelineGraph | null;
    if (replacement) refuseProblems(validatePipelineGraph(replacement));
  });
  schema.pre(['updateOne', 'findOneAndUpdate', 'updateMany'], async function (this: GraphQuery) {
    if (checked.has(this)) return;
    const update = this.getUpdate() as Record<string, unknown> | null;
    if (!update || Array.isArray(update) || !updatedPaths(update).some(isGraphPath)) return;
    const { sets, unsets } = graphChanges(update);
    if (opOf(this) !== 'updateMany' && !this.getOptions().upsert && isLayoutDrag(sets, unsets)) return sendDrag(this, sets);
    throw mongoose.skipMiddlewareFunction(await writeChecked(this, sets, unsets));
  });
  schema.post(['updateOne', 'findOneAndUpdate'], async function (this: GraphQuery, result: unknown) {
    const filter = drags.get(this);
    const missed = opOf(this) === 'updateOne' ? (result as UpdateWriteOpResult | null)?.matchedCount === 0 : result == null;
    if (!filter || !missed) return;
    // The drag matched nothing: say why when the pipeline exists (a node it does not have).
    const current = await (this.model as Model<GraphDocument>).findOne(filter, GRAPH_PROJECTION).setOptions(scopeOf(this)).lean<GraphDocument>();
    const { sets, unsets } = graphChanges(this.getUpdate() as Record<string, unknown>);
    if (current) refuseProblems(validatePipelineGraph(applied(current, sets, unsets)));
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

const GRAPH_PROJECTION = Object.fromEntries([...GRAPH_FIELDS, '__v'].map((f) => [f, 1]));

/** The graph paths an update sets and unsets; refuses every other operator on a graph field, and partial paths. */
function graphChanges(update: Record<string, unknown>): { sets: Record<string, unknown>; unsets: string[] } {
  const sets: Record<string, unknown> = {};
  const unsets: string[] = [];
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) {
      if (isGraphPath(key)) sets[key] = value;
    } else if (key === '$setOnInsert') {
      // Written only when an upsert inserts: updateGuards' checkedUpsert validates the document it would create.
      continue;
    } else if (key === '$set' || key === '$unset') {
      for (const [path, v] of Object.entries(value as object)) {
        if (isGraphPath(path)) key === '$set' ? (sets[path] = v) : unsets.push(path);
      }
    } else {
      for (const path of Object.keys(value as object).filter(isGraphPath)) {
        throw validationError([{ path, message: `${key} on ${path} is not checked against the pipeline graph rules: $set the whole field, or load the pipeline and save() it` }]);
      }
    }
  }
  for (const path of [...Object.keys(sets), ...unsets]) {
    const [field, key, more] = path.split('.');
    const layoutEntry = field === 'nodePositions' && key !== undefined && more === undefined;
    if ((key !== undefined && !layoutEntry) || (unsets.includes(path) && !layoutEntry)) {
      throw validationError([{ path, message: `${path} cannot be changed on its own by an update: $set the whole ${field}, or load the pipeline and save() it` }]);
    }
    // A stored key that is no node id (`__proto__`...) would break every later save() of the pipeline.
    if (layoutEntry && !unsets.includes(path) && !isLayoutKey(key)) {
      throw validationError([{ path, message: `"${key}" is not a node id (nodeId(kind, key) makes one)` }]);
    }
  }
  // Bounded before anything costly (reading, checking, casting) is done with the values.
  const whole = Object.fromEntries(Object.entries(sets).filter(([path]) => !path.includes('.')));
  const over = limitProblems('Pipeline', whole);
  if (over.length > 0) throw validationError(over);
  return { sets, unsets };
}

function isLayoutDrag(sets: Record<string, unknown>, unsets: string[]): boolean {
  return [...Object.keys(sets), ...unsets].every((path) => path.startsWith('nodePositions.'));
}

/** One round trip: each dragged node must exist (a filter condition), and the version moves on. */
function sendDrag(query: GraphQuery, sets: Record<string, unknown>): void {
  refuseProblems(Object.entries(sets).flatMap(([path, position]) => positionProblems(path.slice('nodePositions.'.length), position)));
  // A copy: and() below adds to the query's own filter.
  const filter = { ...query.getFilter() };
  if (Array.isArray(filter.$and)) filter.$and = [...filter.$and];
  drags.set(query, filter);
  // A condition goes beside the caller's when its field is free there, else under an `$and`: with an `$and`,
  // SecantusDB scans the collection instead of using the `_id` index (42 ms instead of 7 ms per drag beside
  // 5,000 pipelines; bench scenario 4). `$all` over a list of sub-documents' field matches nothing on SecantusDB
  // and FerretDB, so a second node of one kind goes under the `$and` too.
  const beside: Record<string, string> = {};
  const under: Array<Record<string, string>> = [];
  for (const path of Object.keys(sets)) {
    const node = parseNodeId(path.slice('nodePositions.'.length))!;
    const field = NODE_FIELD[node.kind];
    if (field in filter || field in beside) under.push({ [field]: node.key });
    else beside[field] = node.key;
  }
  query.merge(beside);
  if (under.length > 0) query.and(under);
  bumpVersion(query);
}

function bumpVersion(query: GraphQuery): void {
  // This write never inserts: an upsert's $setOnInsert (where mongoose puts `__v: 0`) does nothing here, and would
  // conflict with the $inc.
  const { $setOnInsert: _inserts, ...update } = query.getUpdate() as Record<string, Record<string, unknown> | undefined>;
  query.setUpdate({ ...update, $inc: { ...update.$inc, __v: 1 } });
}

/** The pipeline as the update would leave it. */
function applied(doc: GraphDocument, sets: Record<string, unknown>, unsets: string[]): GraphDocument {
  const next: GraphDocument = { ...doc, nodePositions: { ...(doc.nodePositions ?? {}) } };
  for (const [path, value] of Object.entries(sets)) {
    const [field, key] = path.split('.') as [keyof GraphDocument, string | undefined];
    if (key === undefined) (next as Record<string, unknown>)[field] = value;
    else next.nodePositions![key] = value;
  }
  for (const path of unsets) delete next.nodePositions![path.split('.')[1]!];
  return next;
}

/**
 * Reads, checks and writes each matched pipeline, the write conditional on the version read. Returns what the
 * query would have returned (the update result, or the document for findOneAndUpdate). An updateMany is all or
 * nothing: when one pipeline can no longer take the update (another writer changed it since the check), the
 * pipelines already written are put back as they were.
 */
async function writeChecked(query: GraphQuery, sets: Record<string, unknown>, unsets: string[]): Promise<unknown> {
  const model = query.model as Model<GraphDocument>;
  const filter = query.getFilter();
  if (opOf(query) !== 'updateMany') return writeOne(query, filter, sets, unsets);
  const matched = await model.find(filter, GRAPH_PROJECTION).setOptions(scopeOf(query)).lean<GraphDocument[]>();
  if (matched.length === 0) return writeOne(query, filter, sets, unsets);
  // Every pipeline is checked before any is written.
  for (const doc of matched) refuseProblems(validatePipelineGraph(applied(doc, sets, unsets)));
  const total = { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null };
  const written: GraphDocument[] = [];
  try {
    for (const doc of matched) {
      const one = model.updateOne({}, query.getUpdate() ?? {}).setOptions({ ...query.getOptions(), upsert: false });
      const result = (await writeOne(one, { ...filter, _id: doc._id }, sets, unsets, doc, (over) => written.push(over))) as UpdateWriteOpResult;
      total.matchedCount += result.matchedCount;
      total.modifiedCount += result.modifiedCount;
    }
  } catch (error) {
    await putBack(model, written, error);
  }
  return total;
}

/**
 * Writes back the graph of each pipeline as it was before the update, if it is still at the version the update
 * gave it, and rethrows `error`. A pipeline changed again meanwhile keeps the update: a ConflictError names it.
 */
async function putBack(model: Model<GraphDocument>, written: readonly GraphDocument[], error: unknown): Promise<never> {
  const kept: string[] = [];
  for (const doc of written) {
    const graph = Object.fromEntries(GRAPH_FIELDS.filter((field) => doc[field] !== undefined).map((field) => [field, doc[field]]));
    const missing = Object.fromEntries(GRAPH_FIELDS.filter((field) => doc[field] === undefined).map((field) => [field, 1]));
    // The stored graph as read, valid then: written as it is, past the rules (and the version moves on again).
    const back = await model.collection.updateOne(
      { _id: doc._id as never, __v: (doc.__v ?? 0) + 1 },
      { $set: graph, ...(Object.keys(missing).length > 0 ? { $unset: missing } : {}), $inc: { __v: 1 } },
    );
    if (back.matchedCount === 0) kept.push(String(doc._id));
  }
  if (kept.length > 0) {
    throw new ConflictError(model.modelName, kept[0], { cause: new Error(`updateMany failed part-way and could not be undone on ${kept.join(', ')} (changed again meanwhile)`, { cause: error }) });
  }
  throw error;
}

async function writeOne(
  query: GraphQuery,
  filter: Record<string, unknown>,
  sets: Record<string, unknown>,
  unsets: string[],
  first?: GraphDocument,
  onWritten?: (over: GraphDocument) => void,
): Promise<unknown> {
  const model = query.model as Model<GraphDocument>;
  let doc = first;
  let lastId: string | undefined;
  for (let attempt = 0; attempt < GRAPH_UPDATE_ATTEMPTS; attempt++) {
    doc ??= (await model.findOne(filter, GRAPH_PROJECTION, { sort: query.getOptions().sort, ...scopeOf(query) }).lean<GraphDocument>()) ?? undefined;
    const write = query.clone();
    checked.add(write);
    if (!doc) {
      // Nothing matches: an upsert creates the pipeline (validated whole by updateGuards' checkedUpsert).
      return write.exec();
    }
    refuseProblems(validatePipelineGraph(applied(doc, sets, unsets)));
    write.setQuery({ ...filter, _id: doc._id, __v: doc.__v ?? mongoose.trusted({ $exists: false }) });
    write.setOptions({ upsert: false });
    bumpVersion(write);
    const result = await write.exec();
    const won = opOf(write) === 'updateOne' ? (result as UpdateWriteOpResult).matchedCount > 0 : result != null;
    if (won) {
      onWritten?.(doc);
      return result;
    }
    lastId = String(doc._id);
    doc = undefined;
  }
  throw new ConflictError(model.modelName, lastId, { cause: new Error(`the pipeline changed during ${GRAPH_UPDATE_ATTEMPTS} checked attempts`) });
}

/** A cross-workspace update (`allWorkspaces: true`) reads the pipelines it checks across workspaces too. */
function scopeOf(query: GraphQuery): { allWorkspaces?: boolean } {
  return query.getOptions().allWorkspaces === true ? { allWorkspaces: true } : {};
}

function refuseProblems(problems: GraphProblem[]): void {
  if (problems.length > 0) throw validationError(problems);
}
