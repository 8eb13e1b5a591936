// Injection-safe queries on every model of the package, whatever the application's global mongoose settings:
// operator objects in filter values are literal values (mongoose's `sanitizeFilter` semantics, applied in our own
// middleware because mongoose lets a connection or global setting override a query's), code-running operators are
// refused, and nothing filters, sorts or projects on a secret path.
import mongoose, { type Aggregate, type Query, type Schema } from 'mongoose';
import { TenantScopeError, UnsafeQueryError, validationErrorOf } from '../errors.js';
import { secretPaths } from './secrets.js';

// mongoose.trusted() marks an object with a symbol of mongoose's own: read it off a marked probe.
const TRUSTED = Object.getOwnPropertySymbols(mongoose.trusted({}))[0]!;

/** Marked by `mongoose.trusted()`: an operator the application (or the package) built itself. */
export function isTrusted(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TRUSTED] === true;
}

/** Run code on the server, or compare a field with anything (a secret too): refused anywhere in a filter. */
const CODE_OPERATORS = new Set(['$where', '$expr', '$function', '$accumulator']);
/** Keys that reach an object's prototype: refused anywhere in a filter or an update. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Aggregation stages and operators that read another collection, write, or run code. */
const REACHING_STAGES = new Set(['$lookup', '$graphLookup', '$unionWith', '$out', '$merge', '$function', '$accumulator', '$where']);
/** The same bound the server puts on documents. */
const MAX_DEPTH = 100;

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Whether the rules read `value` by its own enumerable keys: a plain object, or an instance of an application's class
 * (a DTO), which mongoose reads by its keys too. Values mongoose treats as one value (dates, ids, buffers, regexps,
 * documents) are not.
 */
export function isRecord(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  if (isPlainObject(value)) return true;
  return !(value instanceof Date || value instanceof RegExp || value instanceof mongoose.Document || value instanceof Map || ArrayBuffer.isView(value) || '_bsontype' in value);
}

/** A record as a plain object (its own enumerable keys), so that no rule skips a DTO; anything else as it is. */
export function asPlain(value: unknown): unknown {
  return isRecord(value) && !isPlainObject(value) ? { ...(value as object) } : value;
}

/** An update (or a replacement) and its operators' objects as plain objects. */
export function plainUpdate(update: unknown): unknown {
  const plain = asPlain(update);
  if (!isPlainObject(plain)) return plain;
  return Object.fromEntries(Object.entries(plain).map(([key, value]) => [key, key.startsWith('$') ? asPlain(value) : value]));
}

function overlaps(secret: string, path: string): boolean {
  return path === secret || path.startsWith(`${secret}.`) || secret.startsWith(`${path}.`);
}

/**
 * The first key in `value`, at any depth of plain objects and arrays, that `refused` names; `undefined` when none
 * is. A value nested deeper than the server allows counts as refused (its key is reported as `…`).
 */
export function findKey(value: unknown, refused: (key: string) => boolean, depth = 0): string | undefined {
  if (depth > MAX_DEPTH) return '…';
  const items = Array.isArray(value) ? value.map((item) => ['', item] as const) : isRecord(value) ? Object.entries(value) : [];
  for (const [key, item] of items) {
    if (key !== '' && refused(key)) return key;
    const found = findKey(item, refused, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** `__proto__`, `constructor` or `prototype`, as a key or a part of a dotted path (`nodePositions.__proto__`). */
export function isReservedKey(key: string): boolean {
  return key.split('.').some((part) => RESERVED_KEYS.has(part));
}

/** Refuses reserved keys and the code operators at any depth of a filter. */
function refuseUnsafeKeys(modelName: string, filter: unknown): void {
  const key = findKey(filter, (k) => isReservedKey(k) || CODE_OPERATORS.has(k));
  if (key === '…') throw new UnsafeQueryError(modelName, 'filter', `the filter is nested deeper than ${MAX_DEPTH} levels`);
  if (key !== undefined && CODE_OPERATORS.has(key)) throw new UnsafeQueryError(modelName, key, `${key} is refused in a filter: it runs code or compares fields`);
  if (key !== undefined) throw new UnsafeQueryError(modelName, key, `a filter may not hold the key "${key}"`);
}

/** A value that is an operator object (or an array, which mongoose would turn into `$in`) unless wrapped. */
function needsEq(value: unknown): boolean {
  if (Array.isArray(value)) return true;
  if (!isRecord(value)) return false;
  const keys = Object.keys(value);
  return keys.some((k) => k.startsWith('$')) && !(keys.length === 1 && keys[0] === '$eq');
}

function sanitize(modelName: string, filter: PlainObject, secrets: readonly string[]): PlainObject {
  const out: PlainObject = {};
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(value) || !value.every(isPlainObject)) throw new UnsafeQueryError(modelName, key, `${key} takes an array of filters`);
      out[key] = value.map((sub) => sanitize(modelName, sub, secrets));
    } else if (key === '$comment') {
      out[key] = value;
    } else if (key.startsWith('$')) {
      throw new UnsafeQueryError(modelName, key, `${key} is not accepted in a filter`);
    } else {
      const secret = secrets.find((s) => overlaps(s, key));
      if (secret) throw new UnsafeQueryError(modelName, key, `filtering on ${key} is refused: ${secret} is a secret`);
      out[key] = needsEq(value) && !isTrusted(value) ? { $eq: value } : value;
    }
  }
  return out;
}

/**
 * The filter made safe, as a new object: every operator object or array given as a field's value becomes a literal
 * (`{ $eq: value }`) unless `mongoose.trusted()` marked it; `$where`, `$expr`, `$function`, `$accumulator`,
 * other top-level operators but `$and`/`$or`/`$nor`/`$comment`, prototype keys and secret paths are refused.
 */
export function safeFilter(modelName: string, filter: unknown, secrets: readonly string[]): PlainObject {
  if (filter == null) return {};
  if (!isPlainObject(filter)) throw new UnsafeQueryError(modelName, 'filter', 'a filter must be a plain object');
  refuseUnsafeKeys(modelName, filter);
  return sanitize(modelName, filter, secrets);
}

/** The fields a filter fixes by equality (as an upsert would write them), `$and` included. */
export function equalities(filter: unknown): PlainObject {
  const found: PlainObject = {};
  if (!isPlainObject(filter)) return found;
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) Object.assign(found, ...value.map(equalities));
    else if (key.startsWith('$')) continue;
    else if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
      if (Object.keys(value).length === 1 && '$eq' in value) found[key] = value.$eq;
    } else found[key] = value;
  }
  return found;
}

function refuseSecretKeys(modelName: string, what: string, keys: Iterable<string>, secrets: readonly string[]): void {
  for (const key of keys) {
    const secret = secrets.find((s) => overlaps(s, key));
    if (secret) throw new UnsafeQueryError(modelName, key, `${what} ${key} is refused: ${secret} is a secret`);
  }
}

/**
 * A sort (or an index hint, which sorts by its keys) may not name a secret: the order of the results would tell the
 * secret. Only the object form is accepted (the driver's array, Map and string forms name paths too).
 */
function checkSort(modelName: string, sort: unknown, secrets: readonly string[], what: 'sort' | 'hint' = 'sort'): void {
  if (sort == null) return;
  if (typeof sort === 'string') {
    // An index hint by name: the name is made of its keys.
    if (secrets.some((secret) => sort.includes(secret))) throw new UnsafeQueryError(modelName, 'hint', 'an index hint on a secret is refused');
    return;
  }
  if (!isRecord(sort)) throw new UnsafeQueryError(modelName, what, `a ${what} must be an object such as { name: 1 }`);
  refuseSecretKeys(modelName, 'sorting on', Object.keys(sort), secrets);
}

const PROJECTION_OPERATORS = new Set(['$slice', '$elemMatch', '$meta']);

/** Inclusions of secret paths (`+path`) and computed projections (which could copy a secret) are refused. */
function checkProjection(modelName: string, projection: unknown, secrets: readonly string[]): void {
  if (!isPlainObject(projection)) return;
  for (const [key, value] of Object.entries(projection)) {
    const path = key.replace(/^[+-]/, '');
    if (typeof value === 'string' || (isPlainObject(value) && !Object.keys(value).every((k) => PROJECTION_OPERATORS.has(k)))) {
      throw new UnsafeQueryError(modelName, path, `a computed projection of ${path} is refused: project with 0 or 1`);
    }
    const excludes = key.startsWith('-') || value === 0 || value === false;
    if (!excludes && secrets.some((s) => path === s || path.startsWith(`${s}.`))) {
      throw new UnsafeQueryError(modelName, path, `selecting ${path} is refused: it is a secret`);
    }
  }
}

const FILTERED_QUERIES = [
  'find',
  'findOne',
  'countDocuments',
  'distinct',
  'updateOne',
  'updateMany',
  'replaceOne',
  'deleteOne',
  'deleteMany',
  'findOneAndUpdate',
  'findOneAndDelete',
  'findOneAndReplace',
] as const;
/** Every query operation mongoose has middleware for; the tenant guard checks them all. */
export const QUERY_OPERATIONS = [...FILTERED_QUERIES, 'estimatedDocumentCount'] as const;

/** The operation a query runs, e.g. `updateMany` (mongoose's typings leave it out). */
export function operationOf(query: Query<unknown, unknown>): string {
  return (query as unknown as { op?: string }).op ?? 'query';
}

type Hook = (this: never, ...args: never[]) => void | Promise<void>;

/**
 * Registers `fn` before every other middleware of `operations` (mongoose's hook list supports it, its typings do
 * not), so the package's query rules run before anything reads with a query. The last registered runs first.
 */
export function preFirst<T>(schema: Schema, operations: string | readonly string[], fn: (this: T, ...args: never[]) => void | Promise<void>): void {
  const pre = schema.pre as unknown as (name: string, options: object, fn: Hook, error: undefined, unshift: true) => Schema;
  for (const operation of [operations].flat()) {
    const options = operation === 'aggregate' || operation === 'bulkWrite' ? {} : operation === 'save' ? { document: true, query: false } : { document: false, query: true };
    pre.call(schema, operation, options, fn as Hook, undefined, true);
  }
}

// mongoose skips every hook not marked with this symbol when an operation is given `middleware: false` (or
// `{ pre: false }`, `{ post: false }`); the gate below carries it, so that option cannot switch the rules off.
const BUILT_IN = Symbol.for('mongoose:built-in-middleware');

function skipsMiddleware(options: unknown): boolean {
  const middleware = isPlainObject(options) ? options.middleware : undefined;
  return middleware === false || (isPlainObject(middleware) && (middleware.pre === false || middleware.post === false));
}

/**
 * Refuses the options that would switch the package's rules off, on every query, aggregate, bulkWrite and save:
 * `middleware` (skips the hooks), `strict`/`strictQuery` (would store or filter unknown fields) and, on a
 * workspace-scoped model or a query forWorkspace made, `collation` (a case- or punctuation-insensitive one makes
 * "ws_a" match "WS_A" or "wsa": another tenant).
 * Also makes a bulkWrite's operations and a query's update plain objects, so no later rule skips a DTO. Applied last,
 * so it runs first.
 */
export function refuseSkippedMiddleware(schema: Schema): void {
  const scoped = schema.path('workspaceId') != null;
  const refuse = (modelName: string, ...all: unknown[]) => {
    for (const options of all) {
      if (skipsMiddleware(options)) throw new UnsafeQueryError(modelName, 'middleware', "the middleware option is refused: the package's rules always run");
      if (!isRecord(options)) continue;
      for (const option of ['strict', 'strictQuery']) {
        if (options[option] !== undefined && options[option] !== schema.get(option as 'strict')) {
          throw new UnsafeQueryError(modelName, option, `the ${option} option is refused: unknown fields are always errors`);
        }
      }
      if (options.collation != null && (scoped || options.forWorkspace !== undefined)) {
        throw new UnsafeQueryError(modelName, 'collation', 'a collation is refused on a workspace-scoped model: it could make another workspace id compare equal');
      }
    }
  };
  const gates = {
    query(this: Query<unknown, unknown>) {
      refuse(this.model.modelName, this.getOptions(), this.mongooseOptions());
      const update = this.getUpdate();
      if (update != null) this.setUpdate(plainUpdate(update) as PlainObject);
    },
    aggregate(this: Aggregate<unknown>) {
      refuse(this.model().modelName, this.options);
    },
    bulkWrite(this: { modelName: string }, ops: unknown, options: unknown) {
      refuse(this.modelName, options);
      if (!Array.isArray(ops)) return;
      plainBulkOps(ops);
      for (const op of ops as PlainObject[]) for (const kind of BULK_KINDS) refuse(this.modelName, op[kind]);
    },
    save(this: { constructor: { modelName: string } }, options: unknown) {
      refuse(this.constructor.modelName, options);
    },
  };
  for (const gate of Object.values(gates)) Object.defineProperty(gate, BUILT_IN, { value: true });
  // `new Model(body, null, { strict: false })` and `doc.set(path, value, { strict: false })` keep unknown fields.
  // A loaded document may hold fields an older schema declared: left alone unless changed.
  schema.pre('validate', function () {
    const unknown = undeclaredPaths(schema, valuesOf(this)).filter((path) => this.isNew || this.isModified(path));
    if (unknown.length > 0) throw validationErrorOf(unknown.map((path) => ({ path, message: `${path} is not a field here`, code: 'unknown-field' })));
  });
  preFirst(schema, QUERY_OPERATIONS, gates.query);
  preFirst(schema, 'aggregate', gates.aggregate);
  preFirst(schema, 'bulkWrite', gates.bulkWrite);
  preFirst(schema, 'save', gates.save);
}

/** A document's (or sub-document's) stored values, without its getters. */
function valuesOf(doc: unknown): PlainObject {
  const values = (doc as { _doc?: unknown })._doc ?? doc;
  return isRecord(values) ? (values as PlainObject) : {};
}

type PathType = Schema['paths'][string] & { schema?: Schema; $isMongooseDocumentArray?: boolean };

/** The paths of `values` that `schema` does not declare, into nested objects and sub-documents (Mixed and maps are free-form). */
function undeclaredPaths(schema: Schema, values: PlainObject, nested = '', where = ''): string[] {
  const found: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const path = nested + key;
    const type = schema.paths[path] as PathType | undefined;
    if (type?.schema && type.$isMongooseDocumentArray && Array.isArray(value)) {
      const of = type.schema;
      value.forEach((item, i) => found.push(...undeclaredPaths(of, valuesOf(item), '', `${where}${key}.${i}.`)));
    } else if (type?.schema && value !== null) {
      found.push(...undeclaredPaths(type.schema, valuesOf(value), '', `${where}${key}.`));
    } else if (!type && (schema as Schema & { nested: Record<string, boolean> }).nested[path] && isPlainObject(value)) {
      found.push(...undeclaredPaths(schema, value, `${path}.`, `${where}${key}.`));
    } else if (!type) {
      found.push(where + key);
    }
  }
  return found;
}

/** The filter of one write of a `bulkWrite`, and where to put it back. */
export interface BulkFilter {
  kind: string;
  write: { filter?: unknown };
}

export function bulkFilters(ops: readonly unknown[]): BulkFilter[] {
  const found: BulkFilter[] = [];
  for (const op of ops) {
    if (!isPlainObject(op)) continue;
    for (const kind of ['updateOne', 'updateMany', 'replaceOne', 'deleteOne', 'deleteMany']) {
      const write = op[kind];
      if (isPlainObject(write)) found.push({ kind, write });
    }
  }
  return found;
}

const BULK_KINDS = ['insertOne', 'updateOne', 'updateMany', 'replaceOne', 'deleteOne', 'deleteMany'];

/**
 * Makes every operation of a bulkWrite, its write, filter, update and document plain objects, in place, before any
 * rule reads them: a class instance (a DTO) is read by its own keys as mongoose reads it, never skipped.
 */
export function plainBulkOps(ops: unknown[]): void {
  ops.forEach((given, i) => {
    const op = asPlain(given);
    if (!isPlainObject(op)) return;
    for (const kind of BULK_KINDS) {
      const write = asPlain(op[kind]);
      if (!isPlainObject(write)) continue;
      for (const part of ['filter', 'document']) if (part in write) write[part] = asPlain(write[part]);
      for (const part of ['update', 'replacement']) if (part in write) write[part] = plainUpdate(write[part]);
      op[kind] = write;
    }
    ops[i] = op;
  });
}

/** Checks a pipeline's stages after the first: none may reach another collection, write, or run code, unless trusted. */
function checkLaterStages(modelName: string, stages: readonly unknown[]): void {
  stages.forEach((stage, i) => {
    if (i === 0) return;
    const visit = (value: unknown, depth: number): void => {
      if (depth > MAX_DEPTH) throw new UnsafeQueryError(modelName, `pipeline.${i}`, `stage ${i} is nested too deep`);
      if (isTrusted(value)) return;
      if (Array.isArray(value)) value.forEach((v) => visit(v, depth + 1));
      else if (isPlainObject(value)) {
        for (const [key, v] of Object.entries(value)) {
          if (REACHING_STAGES.has(key)) {
            throw new UnsafeQueryError(modelName, `pipeline.${i}`, `${key} in stage ${i} is refused: it reaches past this model; mark the stage with mongoose.trusted() if the application built it`);
          }
          visit(v, depth + 1);
        }
      }
    };
    visit(stage, 0);
  });
}

/** A query forWorkspace made for a notification must still name its tenant, whatever was chained to it. */
function pinnedTenant(modelName: string, operation: string, filter: unknown, options: unknown): void {
  const pinned = isPlainObject(options) ? options.forWorkspace : undefined;
  if (pinned !== undefined && equalities(filter).tenantId !== pinned) {
    throw new TenantScopeError(modelName, operation, `was made by forWorkspace for "${String(pinned)}" but its filter names another tenantId`);
  }
}

/**
 * Query safety for one schema (see the top of this file). An aggregate must start with a `$match`, checked as a
 * filter; right after it the secret paths are removed, so no later stage can read, match or sort on them.
 */
export function safeQueries(schema: Schema): void {
  const secrets = secretPaths(schema);
  // The tenant guard (tenancy.ts) pins workspaceId; a notification's workspace is its tenantId.
  const pinned = schema.path('workspaceId') == null && schema.path('tenantId') != null;

  preFirst(schema, FILTERED_QUERIES, function (this: Query<unknown, unknown>) {
    const modelName = this.model.modelName;
    this.setQuery(safeFilter(modelName, this.getFilter(), secrets));
    if (pinned) pinnedTenant(modelName, operationOf(this), this.getFilter(), this.getOptions());
    checkProjection(modelName, this.projection(), secrets);
    checkSort(modelName, this.getOptions().sort, secrets);
    checkSort(modelName, this.getOptions().hint, secrets, 'hint');
    // mongoose keeps the field of a distinct() on the query itself.
    const distinct = (this as unknown as { _distinct?: unknown })._distinct;
    if (typeof distinct === 'string') refuseSecretKeys(modelName, 'distinct of', [distinct], secrets);
  });

  preFirst(schema, 'aggregate', function (this: Aggregate<unknown>) {
    const modelName = this.model().modelName;
    const pipeline = this.pipeline() as unknown[];
    const first = pipeline[0];
    if (!isPlainObject(first) || Object.keys(first).length !== 1 || !('$match' in first)) {
      throw new UnsafeQueryError(modelName, 'pipeline.0', 'an aggregate must start with a $match stage ({ $match: {} } for every document)');
    }
    checkLaterStages(modelName, pipeline);
    pipeline[0] = { $match: safeFilter(modelName, first.$match, secrets) };
    if (secrets.length > 0) pipeline.splice(1, 0, { $project: Object.fromEntries(secrets.map((s) => [s, 0])) });
  });

  preFirst(schema, 'bulkWrite', function (this: { modelName: string }, ops: unknown[]) {
    for (const { write } of bulkFilters(ops)) {
      write.filter = safeFilter(this.modelName, write.filter, secrets);
      checkSort(this.modelName, (write as PlainObject).sort, secrets);
      checkSort(this.modelName, (write as PlainObject).hint, secrets, 'hint');
    }
  });
}
