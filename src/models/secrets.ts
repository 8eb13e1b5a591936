// Secret paths are the `select: false` paths of a schema (client and password hashes, sink credentials). They
// never leave the package through a query, a serialization or an error: the package's own statics read them
// through the driver, and `connection.revealSecrets()` is the one way to read a sink credential.
import mongoose, { type Aggregate, type Connection, type Query, type Schema, type SchemaType } from 'mongoose';
import { UnsafeQueryError, validationErrorOf as validationError } from '../errors.js';
import { updatedPaths } from './updateGuards.js';

type Plain = Record<string, unknown>;

function nestedSchema(type: SchemaType): Schema | undefined {
  return (type as { $isSingleNested?: boolean }).$isSingleNested ? (type as unknown as { schema: Schema }).schema : undefined;
}

/** The paths of the schema, sub-documents included, whose schema type passes `test` (not looking below one that does). */
function pathsWhere(schema: Schema, test: (type: SchemaType) => boolean, prefix = ''): Array<{ path: string; type: SchemaType }> {
  const found: Array<{ path: string; type: SchemaType }> = [];
  schema.eachPath((path, type) => {
    const nested = nestedSchema(type);
    if (test(type)) found.push({ path: prefix + path, type });
    else if (nested) found.push(...pathsWhere(nested, test, `${prefix}${path}.`));
  });
  return found;
}

/** Every `select: false` path of the schema, sub-documents included (e.g. `config.secretAccessKey`). */
export function secretPaths(schema: Schema): string[] {
  return pathsWhere(schema, (type) => (type.options as { select?: unknown }).select === false).map((p) => p.path);
}

/**
 * The paths only the package writes, from the `setBy` option naming what writes them (a client's secret hashes, a
 * user's password hash): a caller who could write one would choose the client's secret or the user's password.
 */
function packageOnlyPaths(schema: Schema): Array<{ path: string; setBy: string }> {
  return pathsWhere(schema, (type) => typeof (type.options as { setBy?: unknown }).setBy === 'string').map(({ path, type }) => ({
    path,
    setBy: (type.options as { setBy: string }).setBy,
  }));
}

const setByThePackage = new WeakMap<object, Map<string, unknown>>();

/** Sets package-only paths on a document (`setPassword`, `createWithSecret`): these values, and only these, may be saved. */
export function setByPackage(doc: mongoose.Document<unknown>, values: Readonly<Plain>): void {
  doc.set(values);
  setByThePackage.set(doc, new Map([...(setByThePackage.get(doc) ?? []), ...Object.entries(values)]));
}

/**
 * Package-only paths are written by the package's own methods and nowhere else: a save(), create(), insertMany or
 * bulkWrite insert with another value, and any query update, replacement or bulkWrite write naming one, fail with a
 * ValidationError on the path.
 */
function guardPackageOnlyPaths(schema: Schema): void {
  const paths = packageOnlyPaths(schema);
  if (paths.length === 0) return;
  const named = (path: string) => paths.find((p) => path === p.path || path.startsWith(`${p.path}.`) || p.path.startsWith(`${path}.`));
  const refuseWrite = (path: string, setBy: string, more = '') => refuse(path, `${path} is set only by ${setBy}${more}`);
  const checkWrite = (update: unknown) => {
    for (const path of updatedPaths(update)) {
      const found = named(path);
      if (found) refuseWrite(found.path, found.setBy);
    }
  };
  schema.pre('validate', function () {
    const set = setByThePackage.get(this);
    for (const { path, setBy } of paths) {
      // A new document writes every path it holds, marked modified or not.
      if (!this.isNew && !this.isModified(path)) continue;
      const value: unknown = this.get(path);
      if (this.isNew && value === undefined) continue;
      if (!set?.has(path) || set.get(path) !== value) this.invalidate(path, `${path} is set only by ${setBy}`);
    }
  });
  // A replacement would have to carry them: refused whole (update the other fields with updateOne).
  const refuseReplacement = (modelName: string) =>
    refuseWrite(paths[0]!.path, paths[0]!.setBy, `: a ${modelName} cannot be replaced (replaceOne, findOneAndReplace), update its fields instead`);
  schema.pre(['updateOne', 'updateMany', 'findOneAndUpdate'], function (this: Query<unknown, unknown>) {
    checkWrite(this.getUpdate());
  });
  schema.pre(['replaceOne', 'findOneAndReplace'], function (this: Query<unknown, unknown>) {
    refuseReplacement(this.model.modelName);
  });
  schema.pre('bulkWrite', function (ops) {
    for (const op of ops) {
      const write = 'updateOne' in op ? op.updateOne : 'updateMany' in op ? op.updateMany : undefined;
      if (write) checkWrite(write.update);
      if ('replaceOne' in op) refuseReplacement(this.modelName);
    }
  });
}

// Per schema, computed once: hydrateWithoutSecrets is on the authorizer's path.
const withoutSecrets = new WeakMap<Schema, Record<string, 0>>();

/**
 * A stored document (read through the driver, its secrets taken out) as the document a query returns: its secret
 * paths not selected, so a later save() neither requires nor writes them.
 */
export function hydrateWithoutSecrets<T>(model: { schema: Schema; hydrate(raw: object, projection: object): T }, raw: object): T {
  let projection = withoutSecrets.get(model.schema);
  if (!projection) withoutSecrets.set(model.schema, (projection = Object.fromEntries(secretPaths(model.schema).map((path) => [path, 0]))));
  return model.hydrate(raw, projection);
}

/** The part of mongoose's per-document state that says which paths a document was loaded with. */
interface MongooseState {
  selected?: Record<string, unknown>;
  activePaths: { clearPath(path: string): void };
}

function refuse(path: string, message: string): never {
  throw validationError([{ path, message }]);
}

/**
 * Keeps secret paths out of every plain copy of a document and of its sub-documents (`toJSON`, hence
 * `JSON.stringify` and HTTP responses, `toObject`, and `util.inspect`/console.log, which use `toObject`), even when
 * the document holds them in memory because it was just created.
 */
export function hideSecrets(schema: Schema, paths: readonly string[] = secretPaths(schema)): void {
  const transform = (_doc: unknown, ret: Plain) => {
    for (const path of paths) {
      const parts = path.split('.');
      const last = parts.pop() as string;
      const parent = parts.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Plain)[k] : undefined), ret);
      if (parent && typeof parent === 'object') delete (parent as Plain)[last];
    }
    return ret;
  };
  schema.set('toJSON', { ...schema.get('toJSON'), transform });
  schema.set('toObject', { ...schema.get('toObject'), transform });
  schema.eachPath((_path, type) => {
    const nested = nestedSchema(type);
    if (nested && secretPaths(nested).length > 0) hideSecrets(nested);
  });
  // Once written, a document forgets them, as if loaded without them (mongoose's own state for a path a query did
  // not select, so a later save() neither requires nor writes them): a caller's own toJSON transform, toBSON() or a
  // copy of `doc.config` then has nothing to show.
  const forget = (doc: mongoose.Document<unknown>) => {
    const state = (doc as unknown as { $__: MongooseState }).$__;
    const held = paths.filter((path) => doc.get(path) !== undefined);
    if (held.length === 0) return;
    const selected = { ...state.selected };
    const inclusive = Object.values(selected).some((value) => value === 1 || value === true);
    for (const path of held) {
      doc.set(path, undefined);
      state.activePaths.clearPath(path);
      if (!inclusive) selected[path] = 0;
    }
    state.selected = selected;
  };
  schema.post('save', function () {
    forget(this);
  });
  schema.post('insertMany', function (docs: unknown) {
    for (const doc of Array.isArray(docs) ? docs : [docs]) if (doc instanceof mongoose.Document) forget(doc);
  });
}

/**
 * The query rules of secret paths, for a schema that has some:
 * - projections may not name a secret path (`+path` included) or use expressions; a projection of a path that holds
 *   secrets (`select('config')`) is narrowed to that path's other fields;
 * - no aggregate of the package may `$lookup`, `$graphLookup`, `$unionWith`, `$out` or `$merge` a collection that
 *   holds secrets, even in a stage the application marked trusted;
 * - updates may `$set`, `$setOnInsert` or `$unset` a secret path, nothing else (`$rename` would move one into a
 *   readable path);
 * - errors about a secret path never carry its value.
 * querySafety.ts refuses filters, sorts and `distinct` on secret paths, removes them right after an aggregate's
 * leading `$match`, and updateGuards.ts refuses pipeline-style updates: those run first, so they are not repeated.
 */
export function guardSecretPaths(schema: Schema): void {
  guardPackageOnlyPaths(schema);
  const secrets = secretPaths(schema);
  const leaves = pathsWhere(schema, (type) => !nestedSchema(type)).map((p) => p.path);
  if (secrets.length > 0) {
    const isSecret = (path: string) => secrets.some((s) => path === s || path.startsWith(`${s}.`));
    const holdsSecret = (path: string) => secrets.some((s) => s.startsWith(`${path}.`));

    schema.pre(['find', 'findOne', 'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete'], function (this: Query<unknown, unknown>) {
      const fields = this.projection() as Plain | undefined;
      if (!fields) return;
      let narrowed: Plain | undefined;
      for (const [key, value] of Object.entries(fields)) {
        const path = key.replace(/^\+/, '');
        if ((value === 0 || value === false) && !key.startsWith('+')) continue;
        if (isSecret(path)) {
          throw new UnsafeQueryError(this.model.modelName, path, `${path} is a secret: queries cannot read it${path.startsWith('config.') ? ' (the sink runner uses connection.revealSecrets())' : ''}`);
        }
        if (typeof value !== 'number' && typeof value !== 'boolean') {
          throw new UnsafeQueryError(this.model.modelName, path, `projection expressions are not allowed on ${this.model.modelName}, whose documents hold secrets`);
        }
        if (holdsSecret(path)) {
          narrowed ??= { ...fields };
          delete narrowed[key];
          for (const leaf of leaves) if (leaf.startsWith(`${path}.`) && !isSecret(leaf) && !leaf.includes('$*')) narrowed[leaf] = 1;
        }
      }
      if (narrowed) this.projection(narrowed);
    });

    // A change event carries the written document and fields, secrets included.
    schema.static('watch', function (this: { modelName: string }) {
      throw new UnsafeQueryError(this.modelName, 'watch', `a change stream of ${this.modelName} would carry its secret fields: watch the collection through the driver, projecting them out`);
    });

    schema.pre(['updateOne', 'updateMany', 'findOneAndUpdate'], function (this: Query<unknown, unknown>) {
      refuseSecretOperators(this.getUpdate(), isSecret, holdsSecret, this.model.modelName);
    });
    schema.pre('bulkWrite', function (ops) {
      for (const op of ops) {
        const write = 'updateOne' in op ? op.updateOne : 'updateMany' in op ? op.updateMany : undefined;
        if (write) refuseSecretOperators(write.update, isSecret, holdsSecret, this.modelName);
      }
    });

    const secretNames = new Set(secrets.map((p) => p.split('.').pop()!));
    const redact = (error: unknown) => {
      // A ValidationError's own `errors` is keyed by path: it is redacted below, not scrubbed.
      if (!(error instanceof mongoose.Error.ValidationError)) scrubCauses(error, secretNames);
      throw redactSecrets(error, (path) => isSecret(path) || holdsSecret(path));
    };
    schema.post(['validate', 'save'], { errorHandler: true }, redact);
    schema.post(['updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace'], { errorHandler: true }, redact);
    schema.post('insertMany', { errorHandler: true }, redact);
    schema.post('bulkWrite', { errorHandler: true }, redact);
  }

  // Every model, with or without secrets of its own, must not reach into a collection that has some.
  schema.pre('aggregate', function (this: Aggregate<unknown>) {
    const conn = this.model().db;
    refuseSecretCollections(this.model().modelName, this.pipeline(), secretCollections(conn));
  });
}

const ALLOWED_ON_SECRETS = ['$set', '$setOnInsert', '$unset'];

function refuseSecretOperators(update: unknown, isSecret: (p: string) => boolean, holdsSecret: (p: string) => boolean, modelName: string): void {
  if (!update || typeof update !== 'object') return;
  for (const [operator, fields] of Object.entries(update)) {
    if (!operator.startsWith('$') || ALLOWED_ON_SECRETS.includes(operator) || !fields || typeof fields !== 'object') continue;
    for (const [key, value] of Object.entries(fields)) {
      for (const path of operator === '$rename' ? [key, String(value)] : [key]) {
        if (isSecret(path) || holdsSecret(path)) refuse(path, `${operator} cannot touch ${path}, which is or holds a secret: use $set or $unset`);
      }
    }
  }
}

function secretCollections(conn: Connection): Set<string> {
  return new Set(Object.values(conn.models).filter((m) => secretPaths(m.schema).length > 0).map((m) => m.collection.collectionName));
}

const READS_COLLECTION: Record<string, (stage: unknown) => unknown> = {
  $lookup: (s) => (s as Plain).from,
  $graphLookup: (s) => (s as Plain).from,
  $unionWith: (s) => (typeof s === 'string' ? s : (s as Plain).coll),
  $out: (s) => (typeof s === 'string' ? s : (s as Plain).coll),
  $merge: (s) => (typeof s === 'string' ? s : typeof (s as Plain).into === 'string' ? (s as Plain).into : ((s as Plain).into as Plain | undefined)?.coll),
};

/** Looks through every stage, sub-pipelines included, for one that reads or writes a collection holding secrets. */
function refuseSecretCollections(modelName: string, value: unknown, collections: ReadonlySet<string>): void {
  if (!value || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value)) {
    const collection = READS_COLLECTION[key]?.(inner);
    if (typeof collection === 'string' && collections.has(collection)) {
      throw new UnsafeQueryError(modelName, key, `aggregate cannot ${key} "${collection}": that collection holds secrets (use populate, which hides them)`);
    }
    refuseSecretCollections(modelName, inner, collections);
  }
}

/**
 * Removes secret fields from the documents an error carries (a duplicate key error's cause holds the written
 * document in `op`, `writeErrors[].err.op`, `keyValue`...), however deep, in place.
 */
function scrubCauses(value: unknown, leaves: ReadonlySet<string>, seen = new WeakSet<object>(), depth = 0): void {
  if (!value || typeof value !== 'object' || seen.has(value) || depth > 12 || ArrayBuffer.isView(value)) return;
  seen.add(value);
  for (const key of Object.keys(value)) {
    if (leaves.has(key)) delete (value as Plain)[key];
    else scrubCauses((value as Plain)[key], leaves, seen, depth + 1);
  }
  if (value instanceof Error) scrubCauses(value.cause, leaves, seen, depth + 1);
}

/**
 * The same error without secret values: a ValidationError whose entries on secret paths no longer carry the value
 * (mongoose's cast messages quote it), and a CastError on a secret path rebuilt without it.
 */
function redactSecrets(error: unknown, isSecret: (path: string) => boolean): unknown {
  const hidden = (e: mongoose.Error.ValidatorError | mongoose.Error.CastError, path: string) =>
    new mongoose.Error.ValidatorError({
      path,
      message: e instanceof mongoose.Error.CastError ? `${path} must be a ${e.kind.toLowerCase()} (the value given is not shown: it is a secret)` : e.message,
      type: e.kind,
    });
  if (error instanceof mongoose.Error.ValidationError) {
    for (const [path, e] of Object.entries(error.errors)) {
      if (isSecret(path) && (e.value !== undefined || e instanceof mongoose.Error.CastError)) error.addError(path, hidden(e, path));
    }
  } else if (error instanceof mongoose.Error.CastError && isSecret(error.path)) {
    return validationError([{ path: error.path, message: hidden(error, error.path).message }]);
  }
  return error;
}
