import mongoose, { type Model, type Query, type Schema, type SchemaType } from 'mongoose';
import { validationErrorOf as validationError } from '../errors.js';
import { INPUT_LIMITS, limitProblem, limitProblems, type Limit, type LimitedModel, type LimitProblem } from '../contracts/limits.js';

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

/** The schema type at `path`, through sub-documents and lists of sub-documents (`transforms.expression`). */
function schemaTypeAt(schema: Schema, path: string): SchemaType {
  const [head, ...rest] = path.split('.');
  const type = schema.path(head!) as SchemaType & { schema?: Schema };
  if (rest.length === 0) return type;
  if (!type?.schema) throw new Error(`limits: ${path} is not a path of a sub-document`);
  return schemaTypeAt(type.schema, rest.join('.'));
}

/** What an update (or a replacement) as given breaks of the model's limits: its values, and `$each` lists it adds. */
function updateProblems(model: LimitedModel, update: unknown): LimitProblem[] {
  if (typeof update !== 'object' || update === null || Array.isArray(update)) return [];
  const fields = update as Record<string, unknown>;
  const whole = Object.fromEntries(Object.entries(fields).filter(([key]) => !key.startsWith('$')));
  const problems = [whole, fields.$set, fields.$setOnInsert].flatMap((values) => limitProblems(model, values));
  const limits: Readonly<Record<string, Limit>> = INPUT_LIMITS[model];
  for (const values of [fields.$push, fields.$addToSet]) {
    for (const [path, value] of Object.entries((values ?? {}) as Record<string, { $each?: unknown }>)) {
      const limit = limits[path];
      const problem = limit && value && typeof value === 'object' ? limitProblem(path, limit, value.$each) : undefined;
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

const QUERY_WRITES = ['updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace'] as const;

/**
 * Bounds every limited path of a model: query writes check the update as given (mongoose copies an update whole
 * when the query is built, before any middleware), and a setter that runs before mongoose's own setters and its cast (setters
 * run last-added first), on documents and on query updates alike, and refuses a value over its limit.
 */
export function boundInput(schema: Schema, model: LimitedModel): void {
  for (const [path, limit] of Object.entries(INPUT_LIMITS[model]) as Array<[string, Limit]>) {
    const name = path.split('.').pop()!;
    schemaTypeAt(schema, path).set((value: unknown) => {
      const problem = limitProblem(name, limit, value);
      if (problem) throw new LimitError(problem);
      return value;
    });
  }
  for (const method of QUERY_WRITES) {
    const original = mongoose.Model[method] as unknown as (this: Model<unknown>, ...args: unknown[]) => Query<unknown, unknown>;
    schema.static(method, function (this: Model<unknown>, filter: unknown, update: unknown, ...rest: unknown[]) {
      const problems = updateProblems(model, update);
      if (problems.length === 0) return original.call(this, filter, update, ...rest);
      return original.call(this, filter, {}, ...rest).error(validationError(problems));
    });
  }
}
