import mongoose, { type AnyBulkWriteOperation, type Model, type Query, type Schema, type SchemaType } from 'mongoose';
import { validationErrorOf as validationError } from '../errors.js';
import { DEPTH_LIMIT, FILTER_LIST_LIMIT, INPUT_LIMITS, limitProblem, limitProblems, tooDeep, type Limit, type LimitedModel, type LimitProblem } from '../contracts/limits.js';
import { sealedPlaintextBytes } from '../secretBox.js';
import { equalities, preFirst, QUERY_OPERATIONS } from './querySafety.js';

/**
 * An input over one of the package's limits (contracts/limits.ts). A CastError, so that mongoose records it on its
 * path like any value it cannot take, without casting the value (or printing it: its message names the path and
 * the limit only, whatever the value's size or content).
 */
export class LimitError extends mongoose.Error.CastError {
  readonly limit: string;

  constructor(problem: LimitProblem) {
    super('limit', '(too large)', problem.path);
    this.message = problem.message;
    this.limit = problem.limit;
  }

  // mongoose rewrites a CastError's message with the model's name and the value; this one stays as it is.
  setModel(): void {}
}

/** The schema type at `path`, through sub-documents and lists of sub-documents (`transforms.expression`) and maps (`config.headers.$*`). */
function schemaTypeAt(schema: Schema, path: string): SchemaType {
  const whole = schema.path(path) as SchemaType | undefined;
  if (whole) return whole;
  const [head, ...rest] = path.split('.');
  const type = schema.path(head!) as SchemaType & { schema?: Schema };
  if (!type?.schema) throw new Error(`limits: ${path} is not a path of a sub-document`);
  return schemaTypeAt(type.schema, rest.join('.'));
}

const VALUE_OPERATORS = ['$set', '$setOnInsert', '$max', '$min', '$inc', '$mul'];
const LIST_OPERATORS = ['$push', '$addToSet'];
const POSITIONAL = /^\$(\[[^\]]*\])?$/;
const INDEX = /^\d+$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The dotted paths of one operator as the document they write, e.g. `{ 'context.a': 1, 'tags.5': 'x' }` as
 * `{ context: { a: 1 }, tags: 'x' }` (positions dropped: an element's fields are bounded like any element's), plus
 * what the paths themselves break: a position past its list's limit. (Reserved keys are refused by updateGuards.)
 */
function asDocument(model: LimitedModel, values: Record<string, unknown>, problems: LimitProblem[]): Record<string, unknown> {
  const limits: Readonly<Record<string, Limit>> = INPUT_LIMITS[model];
  const document: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [dotted, value] of Object.entries(values)) {
    const keys: string[] = [];
    for (const key of dotted.split('.')) {
      const list = keys.join('.');
      const limit = limits[list];
      if (INDEX.test(key) && limit && 'items' in limit && Number(key) >= limit.items) {
        problems.push({ path: list, limit: `at most ${limit.items} items`, message: `${list} is too large: at most ${limit.items} items` });
      }
      if (!INDEX.test(key) && !POSITIONAL.test(key)) keys.push(key);
    }
    let at = document;
    keys.forEach((key, i) => {
      if (i === keys.length - 1) at[key] = value;
      else at = isRecord(at[key]) ? (at[key] as Record<string, unknown>) : (at[key] = Object.create(null) as Record<string, unknown>);
    });
  }
  return document;
}

/** What a filter breaks of the limits on every query: nesting depth, and the size of `$in`-like lists. */
export function filterProblems(filter: unknown): LimitProblem[] {
  if (tooDeep(filter, DEPTH_LIMIT)) return [{ path: 'filter', limit: `at most ${DEPTH_LIMIT} levels deep`, message: `filter is too large: at most ${DEPTH_LIMIT} levels deep` }];
  const stack: unknown[] = [filter];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value) && value.length > FILTER_LIST_LIMIT) {
      return [{ path: 'filter', limit: `at most ${FILTER_LIST_LIMIT} values in a list`, message: `filter is too large: at most ${FILTER_LIST_LIMIT} values in a list` }];
    }
    if (Array.isArray(value)) stack.push(...value.filter((v) => typeof v === 'object'));
    else if (isRecord(value)) stack.push(...Object.values(value).filter((v) => typeof v === 'object'));
  }
  return [];
}

/**
 * What an update (or a replacement) as given breaks of the model's limits: every value any operator writes, on the
 * path it writes (a Mixed field's part, a map's entries, a list's position), the lists `$push`/`$addToSet` add,
 * the filter's equality fields of an upsert, and the nesting depth of the whole.
 */
function updateProblems(model: LimitedModel, filter: unknown, update: unknown, upsert: boolean): LimitProblem[] {
  if (!isRecord(update)) return [];
  if (tooDeep(update, DEPTH_LIMIT)) return [{ path: 'update', limit: `at most ${DEPTH_LIMIT} levels deep`, message: `update is too large: at most ${DEPTH_LIMIT} levels deep` }];
  const problems: LimitProblem[] = [];
  const writes = [Object.fromEntries(Object.entries(update).filter(([key]) => !key.startsWith('$'))), ...VALUE_OPERATORS.map((op) => update[op])];
  // An upsert copies the filter's equality fields into the document it inserts.
  if (upsert) writes.push(equalities(filter));
  for (const op of LIST_OPERATORS) {
    if (!isRecord(update[op])) continue;
    // `{ tags: 'x' }` adds one item, `{ tags: { $each: [...] } }` a list: bounded as the list it is.
    writes.push(Object.fromEntries(Object.entries(update[op]).map(([path, v]) => [path, isRecord(v) && '$each' in v ? v.$each : [v]])));
  }
  for (const values of writes) {
    if (isRecord(values)) problems.push(...limitProblems(model, asDocument(model, values, problems)));
  }
  return problems;
}

/**
 * A credential Connection sealed: its query updates are sealed before mongoose casts them (so before the setters),
 * after the update was checked as given, so the ciphertext is not measured again, within what a plaintext under the
 * limit can be (3 UTF-8 bytes per character).
 */
function sealedWithin(limit: Limit, value: unknown): boolean {
  const bytes = sealedPlaintextBytes(value);
  return 'chars' in limit && bytes !== undefined && bytes <= 3 * limit.chars;
}

const QUERY_WRITES = ['updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace'] as const;
const QUERY_READS = ['find', 'findOne', 'countDocuments', 'deleteOne', 'deleteMany', 'findOneAndDelete', 'exists'] as const;

/**
 * Bounds every limited path of a model: query writes check the update as given (mongoose copies an update whole
 * when the query is built, before any middleware), every query checks its filter, and a setter that runs before
 * mongoose's own setters and its cast (setters run last-added first), on documents and on query updates alike,
 * refuses a value over its limit.
 */
export function boundInput(schema: Schema, model: LimitedModel): void {
  for (const [path, limit] of Object.entries(INPUT_LIMITS[model]) as Array<[string, Limit]>) {
    const name = path.split('.').filter((key) => key !== '$*').pop()!;
    schemaTypeAt(schema, path).set((value: unknown) => {
      const problem = sealedWithin(limit, value) ? undefined : limitProblem(name, limit, value);
      if (problem) throw new LimitError(problem);
      return value;
    });
  }
  for (const method of QUERY_WRITES) {
    const original = mongoose.Model[method] as unknown as (this: Model<unknown>, ...args: unknown[]) => Query<unknown, unknown>;
    schema.static(method, function (this: Model<unknown>, filter: unknown, update: unknown, ...rest: unknown[]) {
      const upsert = isRecord(rest[0]) && rest[0].upsert === true;
      const problems = [...filterProblems(filter), ...updateProblems(model, filter, update, upsert)];
      if (problems.length === 0) return original.call(this, filter, update, ...rest);
      return original.call(this, {}, {}, ...rest).error(validationError(problems));
    });
  }
  // bulkWrite runs no query middleware and takes its operations as given: each is checked like a single write,
  // first, as the caller gave it (Connection seals credentials in a later bulkWrite hook).
  preFirst(schema, 'bulkWrite', function (this: Model<unknown>, ops: AnyBulkWriteOperation[]) {
    const problems = ops.flatMap((op) => {
      // An inserted document is cast like create()'s, through the limits' setters.
      if ('insertOne' in op) return [];
      const write = 'updateOne' in op ? op.updateOne : 'updateMany' in op ? op.updateMany : 'replaceOne' in op ? op.replaceOne : 'deleteOne' in op ? op.deleteOne : op.deleteMany;
      const update = 'update' in write ? write.update : 'replacement' in write ? write.replacement : {};
      return [...filterProblems(write.filter), ...updateProblems(model, write.filter, update, 'upsert' in write && write.upsert === true)];
    });
    if (problems.length > 0) throw validationError(problems);
  });
  for (const method of QUERY_READS) {
    const original = mongoose.Model[method] as unknown as (this: Model<unknown>, ...args: unknown[]) => Query<unknown, unknown>;
    schema.static(method, function (this: Model<unknown>, filter: unknown, ...rest: unknown[]) {
      const problems = filterProblems(filter);
      if (problems.length === 0) return original.call(this, filter, ...rest);
      return original.call(this, {}, ...rest).error(validationError(problems));
    });
  }
}

/**
 * A query the limits refused carries its ValidationError and an empty filter (see boundInput): it fails with that
 * error before any other rule reads the filter (the tenant guard would call the empty filter unscoped, a 403 for
 * what is a 400). Applied after the other query rules, so it runs before them.
 */
export function failRefusedQueries(schema: Schema): void {
  preFirst(schema, QUERY_OPERATIONS, function (this: Query<unknown, unknown>) {
    const error = this.error();
    if (error) throw error;
  });
}
