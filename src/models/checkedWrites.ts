import mongoose, { type Model, type Query, type Schema, type UpdateWriteOpResult } from 'mongoose';
import { ConflictError, validationErrorOf as validationError } from '../errors.js';
import { allWorkspaces } from './tenancy.js';

type AnyQuery = Query<unknown, unknown>;
type UpdateDoc = Record<string, unknown>;
type Versioned = { _id: unknown } & Record<string, unknown>;

const UPDATES: Array<'updateOne' | 'updateMany' | 'findOneAndUpdate'> = ['updateOne', 'updateMany', 'findOneAndUpdate'];
const REPLACES: Array<'replaceOne' | 'findOneAndReplace'> = ['replaceOne', 'findOneAndReplace'];

const skipRefused = (option: string) =>
  validationError([{ path: option, message: `${option} is not accepted: every write of this package's models is validated`, code: 'unvalidated-write' }]);

/** The write options that would store a document without its rules, read as mongoose reads them (`lean: 1` too). */
function skippedValidation(options: unknown): string | undefined {
  if (!options || typeof options !== 'object') return undefined;
  const o = options as Record<string, unknown>;
  if (o.validateBeforeSave != null && !o.validateBeforeSave) return 'validateBeforeSave';
  if (o.validateModifiedOnly) return 'validateModifiedOnly';
  if (o.skipValidation) return 'skipValidation';
  if (o.lean) return 'lean';
  return undefined;
}

/**
 * Refuses the options that store documents unvalidated (`insertMany` with `lean`, `save`/`create` with
 * `validateBeforeSave: false` or `validateModifiedOnly`, `bulkWrite`/`bulkSave` with `skipValidation`), and runs every
 * rule of the documents that `bulkSave` would check only in part. Update pipelines, the other way around every
 * rule, are refused by updateGuards.
 */
export function refuseUncheckedWrites(schema: Schema): void {
  schema.pre('save', function (options: unknown) {
    const skipped = skippedValidation(options);
    if (skipped) throw skipRefused(skipped);
  });
  const insertMany = (schema.statics.insertMany ?? mongoose.Model.insertMany) as unknown as (this: Model<unknown>, ...args: unknown[]) => Promise<unknown>;
  schema.static('insertMany', function (this: Model<unknown>, docs: unknown, options?: unknown, ...rest: unknown[]) {
    const skipped = skippedValidation(options);
    if (skipped) return Promise.reject(skipRefused(skipped));
    // A loaded or hydrated document validates only what changed, yet insertMany writes all of it as new.
    if ((Array.isArray(docs) ? docs : [docs]).some((doc) => doc instanceof mongoose.Document && !doc.isNew)) {
      return Promise.reject(validationError([{ path: '_id', message: 'insertMany takes new documents or plain objects: save() a loaded or hydrated one', code: 'unvalidated-write' }]));
    }
    return insertMany.call(this, docs, options, ...rest);
  });
  // mongoose's bulkSave validates each document with its synchronous validators only: no pre('validate') rules,
  // no async validators (a session's principal, a pipeline's graph). Each document is validated in full first.
  const bulkSave = (schema.statics.bulkSave ?? mongoose.Model.bulkSave) as unknown as (this: Model<unknown>, ...args: unknown[]) => Promise<unknown>;
  schema.static('bulkSave', async function (this: Model<unknown>, docs: unknown, options?: unknown, ...rest: unknown[]) {
    const skipped = skippedValidation(options);
    if (skipped) throw skipRefused(skipped);
    if (Array.isArray(docs)) {
      for (const doc of docs) if (doc instanceof mongoose.Document) await doc.validate();
    }
    return bulkSave.call(this, docs, options, ...rest);
  });
  schema.pre('bulkWrite', function (ops, options?: unknown) {
    const skipped = [options, ...ops.map((op) => Object.values(op)[0] as unknown)].map(skippedValidation).find(Boolean);
    if (skipped) throw skipRefused(skipped);
  });
}

/** The version key of a schema with `optimisticConcurrency`, else undefined. */
function versionKeyOf(schema: Schema): string | undefined {
  const { optimisticConcurrency, versionKey } = schema.options as { optimisticConcurrency?: unknown; versionKey?: unknown };
  if (!optimisticConcurrency || versionKey === false) return undefined;
  return typeof versionKey === 'string' ? versionKey : '__v';
}

/**
 * The update with the version bumped (the caller's own `$inc` kept), unless it writes the version itself. An
 * upsert's `$setOnInsert` of the version (mongoose adds `0`) is dropped: it would conflict with the `$inc`, which
 * gives an inserted document its first version as well.
 */
function bumped(given: UpdateDoc, key: string): UpdateDoc {
  const onInsert = given.$setOnInsert as UpdateDoc | undefined;
  const update = onInsert && key in onInsert ? { ...given, $setOnInsert: Object.fromEntries(Object.entries(onInsert).filter(([path]) => path !== key)) } : given;
  const writesVersion = Object.entries(update).some(([op, fields]) => op === key || (op !== '$inc' && op.startsWith('$') && fields !== null && typeof fields === 'object' && key in fields));
  if (writesVersion) return update;
  return { ...update, $inc: { ...(update.$inc as UpdateDoc | undefined), [key]: 1 } };
}

// Replacements that required the version they read: a miss means another writer changed the document meanwhile.
const versionedReplacements = new WeakMap<AnyQuery, Versioned>();

/**
 * Every query write of a versioned model (`optimisticConcurrency`) moves the version on, as `save()` does: an
 * update gets `$inc` of the version key, a replacement the next version (and requires the version it read, so a
 * replacement that loses a race fails with a ConflictError). A `save()` of a document read before then fails with
 * a ConflictError instead of undoing that write.
 */
export function versionQueryWrites(schema: Schema): void {
  const key = versionKeyOf(schema);
  if (!key) return;
  schema.pre(UPDATES, function (this: AnyQuery) {
    const update = this.getUpdate() as UpdateDoc | null;
    if (update && !Array.isArray(update)) this.setUpdate(bumped(update, key));
  });
  schema.pre(REPLACES, async function (this: AnyQuery) {
    const replacement = this.getUpdate() as UpdateDoc | null;
    // mongoose has already cast the replacement into a new document (with version 0): its version is replaced.
    if (!replacement) return;
    const current = await this.model.findOne(this.getFilter(), { [key]: 1 }, { sort: this.getOptions().sort, allWorkspaces: allWorkspaces(this.getOptions()) }).lean<Versioned>();
    if (!current) return;
    const version = typeof current[key] === 'number' ? current[key] : undefined;
    this.setUpdate({ ...replacement, [key]: (version ?? 0) + 1 });
    this.and([{ _id: current._id, [key]: version ?? mongoose.trusted({ $exists: false }) }]);
    versionedReplacements.set(this, current);
  });
  schema.post(REPLACES, function (this: AnyQuery, result: unknown) {
    const read = versionedReplacements.get(this);
    const missed = (this as unknown as { op: string }).op === 'replaceOne' ? (result as UpdateWriteOpResult | null)?.matchedCount === 0 : result == null;
    if (read && missed) throw new ConflictError(this.model.modelName, String(read._id), { cause: new Error('the document changed between reading its version and replacing it') });
  });
  schema.pre('bulkWrite', async function (this: Model<unknown>, ops, options?: unknown) {
    for (const op of ops) {
      const write = 'updateOne' in op ? op.updateOne : 'updateMany' in op ? op.updateMany : undefined;
      if (write && write.update && !Array.isArray(write.update)) write.update = bumped(write.update as UpdateDoc, key) as typeof write.update;
      if ('replaceOne' in op) {
        // A lost race of a bulk replacement matches nothing: the result's matchedCount says so.
        const current = await this.findOne(op.replaceOne.filter, { [key]: 1 }).setOptions({ allWorkspaces: allWorkspaces(options) }).lean<Versioned>();
        if (!current) continue;
        const version = typeof current[key] === 'number' ? current[key] : undefined;
        op.replaceOne.replacement = { ...op.replaceOne.replacement, [key]: (version ?? 0) + 1 };
        op.replaceOne.filter = { ...op.replaceOne.filter, _id: current._id, [key]: version ?? mongoose.trusted({ $exists: false }) };
      }
    }
  });
}
