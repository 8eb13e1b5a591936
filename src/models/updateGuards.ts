import mongoose, { type Model, type Query, type Schema } from 'mongoose';
import { UnsafeQueryError, validationErrorOf as validationError } from '../errors.js';
import { equalities, findKey, isPlainObject, isReservedKey, type PlainObject } from './querySafety.js';
import { allWorkspaces, TENANT_PATH, workspaceOf } from './tenancy.js';

/** The paths an update document writes: every operator's keys, both sides of `$rename`, and plain keys. */
export function updatedPaths(update: unknown): string[] {
  if (!isPlainObject(update)) return [];
  const paths: string[] = [];
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) paths.push(key);
    else if (isPlainObject(value)) {
      paths.push(...Object.keys(value));
      if (key === '$rename') paths.push(...Object.values(value).filter((v): v is string => typeof v === 'string'));
    }
  }
  return paths;
}

/** The values an update sets by path: `$set` and plain keys (mongoose reads them as `$set`). */
export function setValues(update: PlainObject): PlainObject {
  const sets: PlainObject = {};
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) sets[key] = value;
    else if (key === '$set' && isPlainObject(value)) Object.assign(sets, value);
  }
  return sets;
}

type Write = { filter?: unknown; update?: unknown; replacement?: unknown; upsert?: unknown; sort?: unknown; collation?: unknown; hint?: unknown };
/** The options of a write that choose which document it hits. */
type ReadOptions = { allWorkspaces?: unknown; sort?: unknown; collation?: unknown; hint?: unknown };

/** The update and replace writes of a bulkWrite. */
function bulkWrites(ops: readonly unknown[]): Array<{ kind: 'updateOne' | 'updateMany' | 'replaceOne'; write: Write }> {
  return ops.flatMap((op) => {
    if (!isPlainObject(op)) return [];
    return (['updateOne', 'updateMany', 'replaceOne'] as const).flatMap((kind) => (isPlainObject(op[kind]) ? [{ kind, write: op[kind] as Write }] : []));
  });
}

const pipelineRefused = (modelName: string) =>
  new UnsafeQueryError(modelName, 'update', 'update pipelines (arrays) are refused: their stages are not validated; use update operators such as $set');

function refusePipeline(modelName: string, update: unknown): asserts update is PlainObject | null | undefined {
  if (Array.isArray(update)) throw pipelineRefused(modelName);
}

/**
 * Refuses an update that writes an immutable path (a document's tenant, a connection's type, a session's
 * principal), by any operator or either side of `$rename`; `$setOnInsert` may give one only to the document an
 * upsert creates, and never a workspace other than the filter's. Mongoose alone would drop such a change silently.
 * A replacement may keep an immutable value, never change or drop it; it gets the filter's workspace when it
 * names none. The same holds in bulkWrite.
 */
export function refuseImmutableUpdates(schema: Schema): void {
  const immutable = Object.entries(schema.paths)
    .filter(([, type]) => (type.options as { immutable?: unknown }).immutable === true)
    .map(([path]) => path);
  if (immutable.length === 0) return;
  const refuse = (path: string, why = 'it cannot be changed once the document exists') => validationError([{ path, message: `${path} is immutable: ${why}` }]);

  const checkUpdate = (filter: unknown, update: unknown) => {
    if (!isPlainObject(update)) return;
    const { $setOnInsert: onInsert, ...changes } = update;
    for (const path of updatedPaths(changes)) {
      const root = immutable.find((p) => path === p || path.startsWith(`${p}.`));
      if (root) throw refuse(root);
    }
    const tenant = isPlainObject(onInsert) ? onInsert[TENANT_PATH] : undefined;
    if (tenant !== undefined && tenant !== workspaceOf(filter)) throw refuse(TENANT_PATH, 'an upsert takes it from the filter');
  };

  // The check reads the document with the write's own filter and options; the write is then pinned to the document
  // read and to the immutable values of the replacement (mongoose.trusted $eq: cast, never an operator), so a
  // collation, sort or hint that makes the server pick another document, or a race, replaces nothing.
  const checkReplacement = async (model: Model<unknown>, filter: unknown, replacement: unknown, options: ReadOptions) => {
    if (!isPlainObject(replacement)) return { replacement, pins: undefined };
    const pinned = workspaceOf(filter);
    const checked: PlainObject = { ...replacement, ...(immutable.includes(TENANT_PATH) && pinned !== undefined && replacement[TENANT_PATH] === undefined ? { [TENANT_PATH]: pinned } : {}) };
    if (pinned !== undefined && checked[TENANT_PATH] !== undefined && checked[TENANT_PATH] !== pinned) throw refuse(TENANT_PATH);
    const projection = Object.fromEntries(immutable.map((p) => [p, 1]));
    const { allWorkspaces: crossWorkspace, sort, collation, hint } = options;
    const read = model.findOne(filter as PlainObject, projection).setOptions({ allWorkspaces: crossWorkspace === true });
    if (sort !== undefined) read.sort(sort as Parameters<typeof read.sort>[0]);
    if (collation !== undefined) read.collation(collation as Parameters<typeof read.collation>[0]);
    if (hint !== undefined) read.hint(hint as Parameters<typeof read.hint>[0]);
    const current = await read.lean<PlainObject>();
    // A replacement keeps the stored createdAt, as an update does (mongoose sets `now` when the caller leaves it out).
    for (const path of immutable.filter((p) => TIMESTAMPS.has(p))) if (current?.[path] !== undefined) checked[path] = current[path];
    for (const path of immutable) {
      if (current && !sameValue(current[path], checked[path])) throw refuse(path);
    }
    // A value the filter already names by equality is not pinned twice (an upsert could not insert: "matched twice").
    const named = equalities(filter);
    const pins: PlainObject = {};
    for (const path of immutable.filter((p) => !TIMESTAMPS.has(p))) {
      if (path in named && !sameValue(named[path], checked[path])) throw refuse(path, 'a replacement keeps the value its filter names');
      if (named[path] !== (checked[path] ?? null)) pins[path] = mongoose.trusted({ $eq: checked[path] ?? null });
    }
    if (current && named._id !== current._id) pins._id = mongoose.trusted({ $eq: current._id });
    return { replacement: checked, pins };
  };

  // A save of a document that exists writes only where its immutable values are the stored ones. A loaded document
  // cannot change them in memory; one that was never loaded (`new Model(body)` with `isNew = false`, an update
  // idiom) has no stored values, so it matches only the document whose values it claims (bulkSave runs this too).
  // createdAt, immutable through mongoose's timestamps, is no one's identity: such a document does not know it.
  schema.pre('save', function () {
    if (this.isNew) return;
    const pins = immutable.filter((path) => !TIMESTAMPS.has(path) && this.isSelected(path)).map((path) => [path, this.get(path) ?? null]);
    this.$where = { ...this.$where, ...Object.fromEntries(pins) };
  });

  schema.pre(['updateOne', 'updateMany', 'findOneAndUpdate'], function (this: Query<unknown, unknown>) {
    checkUpdate(this.getFilter(), this.getUpdate());
  });
  schema.pre(['replaceOne', 'findOneAndReplace'], async function (this: Query<unknown, unknown>) {
    const { replacement, pins } = await checkReplacement(this.model, this.getFilter(), this.getUpdate(), this.getOptions());
    if (!isPlainObject(replacement) || !pins) return;
    this.setUpdate(replacement);
    this.and([pins]);
  });
  schema.pre('bulkWrite', async function (this: Model<unknown>, ops: unknown[], options: unknown) {
    for (const { kind, write } of bulkWrites(ops)) {
      if (kind !== 'replaceOne') {
        checkUpdate(write.filter, write.update);
        continue;
      }
      const { replacement, pins } = await checkReplacement(this, write.filter, write.replacement, { ...write, allWorkspaces: allWorkspaces(options) });
      write.replacement = replacement;
      if (pins) write.filter = withAnd(write.filter, pins);
    }
  });
}

/** Whether two stored values are the same: missing and null are one, and never equal to a string ("undefined"). */
function sameValue(stored: unknown, given: unknown): boolean {
  if (stored == null || given == null) return stored == null && given == null;
  return String(stored) === String(given);
}

/** A filter with one more condition in its top-level `$and` (a key the filter already has is never overwritten). */
function withAnd(filter: unknown, condition: PlainObject): PlainObject {
  const given = isPlainObject(filter) ? filter : {};
  return { ...given, $and: [...(Array.isArray(given.$and) ? given.$and : []), condition] };
}

/** An update may not write a `__proto__`, `constructor` or `prototype` key, at any depth: a ValidationError on it. */
function refuseReservedKeys(update: PlainObject): void {
  const key = findKey(update, isReservedKey);
  if (key !== undefined) throw validationError([{ path: key, message: `${key}: the keys __proto__, constructor and prototype (and updates nested deeper than the server allows) are refused` }]);
}

/** Update operators that mongoose's update validators check. */
const VALIDATED_OPERATORS = new Set(['$set', '$setOnInsert', '$unset', '$push', '$addToSet', '$pull', '$pullAll', '$pop']);
/** Operators that are safe on numbers and dates only (on a string, `$max: { status: 'zzz' }` would store anything). */
const NUMBER_OPERATORS = new Set(['$inc', '$mul', '$min', '$max', '$currentDate']);

function refuseUncheckedOperators(schema: Schema, update: PlainObject): void {
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$') || VALIDATED_OPERATORS.has(key)) continue;
    for (const path of isPlainObject(value) ? Object.keys(value) : [key]) {
      const instance = schema.path(path)?.instance;
      if (NUMBER_OPERATORS.has(key) && (instance === 'Number' || instance === 'Date')) continue;
      const instead = key === '$rename' ? '$set the new path and $unset the old one' : 'use $set';
      throw validationError([{ path, message: `${key} on ${path} is refused: it is not validated (${instead})` }]);
    }
  }
}

function setPath(target: PlainObject, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop()!;
  let at = target;
  for (const key of keys) {
    if (!isPlainObject(at[key])) at[key] = {};
    at = at[key] as PlainObject;
  }
  at[last] = value;
}

/** The document an upsert would insert: the filter's equalities, then the update applied to them, as mongod does. */
function insertedDocument(model: Model<unknown>, filter: unknown, update: PlainObject) {
  const doc = new model();
  for (const [path, value] of Object.entries(equalities(filter))) doc.set(path, value);
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) doc.set(key, value);
    else if (isPlainObject(value)) {
      for (const [path, v] of Object.entries(value)) {
        if (['$set', '$setOnInsert', '$inc', '$min', '$max'].includes(key)) doc.set(path, v);
        else if (key === '$unset') doc.set(path, undefined);
        else if (key === '$mul') doc.set(path, 0);
        else if (key === '$currentDate') doc.set(path, new Date());
        else if (key === '$push' || key === '$addToSet') doc.set(path, isPlainObject(v) && Array.isArray(v.$each) ? v.$each : [v]);
      }
    }
  }
  return doc;
}

/**
 * An upsert may insert, so the document it would insert must be valid (a user with a password, a pipeline with
 * its workspace): it is validated whether or not a document matches. The inserted document gets an id of the
 * package's scheme (the server would give it an ObjectId).
 */
async function checkedUpsert(model: Model<unknown>, filter: unknown, update: PlainObject): Promise<PlainObject> {
  const candidate = insertedDocument(model, filter, update);
  await candidate.validate();
  // What validation gave the candidate (its id, a pipeline's code) is inserted too; the server would otherwise
  // store a document without it. Paths the filter or the update already write are left to them.
  const written = new Set([...Object.keys(equalities(filter)), ...updatedPaths(update)].map((path) => path.split('.')[0]));
  const given = Object.entries(candidate.toObject({ virtuals: false, versionKey: false, flattenMaps: true })).filter(
    ([path, value]) => value !== undefined && !written.has(path) && !TIMESTAMPS.has(path),
  );
  if (given.length === 0) return update;
  return { ...update, $setOnInsert: { ...Object.fromEntries(given), ...(isPlainObject(update.$setOnInsert) ? update.$setOnInsert : {}) } };
}

/** Set on an upsert by mongoose's own timestamps. */
const TIMESTAMPS = new Set(['createdAt', 'updatedAt']);

/** Validates the values a bulkWrite update writes (bulkWrite runs no update validators). */
async function validateBulkUpdate(model: Model<unknown>, update: PlainObject): Promise<void> {
  const values: PlainObject = {};
  const roots = new Set<string>();
  const add = (path: string, value: unknown) => {
    setPath(values, path, value);
    roots.add(path.split('.')[0]!);
  };
  for (const [path, value] of Object.entries(setValues(update))) add(path, value);
  for (const op of ['$unset', '$push', '$addToSet'] as const) {
    const given = update[op];
    if (!isPlainObject(given)) continue;
    for (const [path, v] of Object.entries(given)) add(path, op === '$unset' ? undefined : isPlainObject(v) && Array.isArray(v.$each) ? v.$each : [v]);
  }
  if (roots.size > 0) await model.validate(values, [...roots]);
}

/**
 * Query updates validate what they write, whatever the application's mongoose settings: validators always run
 * (a required field cannot be unset), operators that validators cannot check are refused, update pipelines are
 * refused, and an upsert must be able to insert a valid document. bulkWrite updates get the same checks.
 */
export function validateQueryUpdates(schema: Schema): void {
  // Without `updatePipeline: true` mongoose throws a plain error (a 500) for an array as it builds the query, before
  // any hook: the statics refuse it first, so every update pipeline gets the same UnsafeQueryError (a 400).
  for (const method of ['updateOne', 'updateMany', 'findOneAndUpdate'] as const) {
    const previous = (schema.statics[method] ?? mongoose.Model[method]) as unknown as (this: Model<unknown>, ...args: unknown[]) => Query<unknown, unknown>;
    schema.static(method, function (this: Model<unknown>, filter: unknown, update: unknown, ...rest: unknown[]) {
      if (!Array.isArray(update)) return previous.call(this, filter, update, ...rest);
      return previous.call(this, filter, {}, ...rest).error(pipelineRefused(this.modelName));
    });
  }
  schema.pre(['replaceOne', 'findOneAndReplace'], function (this: Query<unknown, unknown>) {
    refusePipeline(this.model.modelName, this.getUpdate());
    this.setOptions({ runValidators: true });
  });
  schema.pre(['updateOne', 'updateMany', 'findOneAndUpdate'], async function (this: Query<unknown, unknown>) {
    const update = this.getUpdate() as unknown;
    refusePipeline(this.model.modelName, update);
    this.setOptions({ runValidators: true });
    if (!update) return;
    refuseReservedKeys(update);
    refuseUncheckedOperators(this.model.schema, update);
    if (this.getOptions().upsert) this.setUpdate(await checkedUpsert(this.model, this.getFilter(), update));
  });

  schema.pre('bulkWrite', async function (this: Model<unknown>, ops: unknown[]) {
    for (const { kind, write } of bulkWrites(ops)) {
      const update = kind === 'replaceOne' ? write.replacement : write.update;
      refusePipeline(this.modelName, update);
      if (kind === 'replaceOne' || !update) continue;
      refuseReservedKeys(update);
      refuseUncheckedOperators(this.schema, update);
      await validateBulkUpdate(this, update);
      if (write.upsert) write.update = await checkedUpsert(this, write.filter, update);
    }
  });
}
