import mongoose from 'mongoose';
import { ID_PATTERN } from './contracts/rules.js';
import { TenantScopeError } from './errors.js';
import type { Models } from './makeModels.js';
import { asPlain, isPlainObject, plainUpdate, type PlainObject } from './models/querySafety.js';
import { updatedPaths } from './models/updateGuards.js';

/** The field that names a document's workspace, per model (a notification's `tenantId` is its workspace). */
const SCOPE_FIELDS = { Pipeline: 'workspaceId', User: 'workspaceId', Session: 'workspaceId', Notification: 'tenantId' } as const;

/** What forWorkspace gives each model. */
export const WORKSPACE_OPERATIONS = [
  'find',
  'findOne',
  'findById',
  'countDocuments',
  'exists',
  'distinct',
  'create',
  'insertMany',
  'updateOne',
  'updateMany',
  'findOneAndUpdate',
  'deleteOne',
  'deleteMany',
  'aggregate',
] as const;

/** A model's operations, each limited to one workspace; same arguments and return types as the model's own. */
export type WorkspaceScoped<M extends Record<(typeof WORKSPACE_OPERATIONS)[number], unknown>> = Pick<M, (typeof WORKSPACE_OPERATIONS)[number]>;

/** The workspace-scoped models of one workspace: see `forWorkspace`. */
export type WorkspaceModels = { [K in keyof typeof SCOPE_FIELDS]: WorkspaceScoped<Models[K]> };

type Call = (...args: unknown[]) => unknown;
type LooseModel = { modelName: string } & Record<Exclude<(typeof WORKSPACE_OPERATIONS)[number], 'findById'>, Call>;

function scoped(model: LooseModel, field: string, workspaceId: string): Record<(typeof WORKSPACE_OPERATIONS)[number], Call> {
  const conflict = (operation: string, given: unknown) =>
    new TenantScopeError(model.modelName, operation, `was given a ${field} other than its workspace "${workspaceId}" (${typeof given === 'string' ? `"${given}"` : typeof given})`);
  // The caller's filter, with the workspace added; a different workspace in it is an error, never replaced.
  const filter = (operation: string, dto: unknown): PlainObject => {
    const given = asPlain(dto);
    if (given == null) return { [field]: workspaceId };
    if (!isPlainObject(given)) throw new TypeError(`${model.modelName}.${operation}: a filter must be a plain object`);
    const own = given[field];
    const same = own === undefined || own === workspaceId || (isPlainObject(own) && Object.keys(own).length === 1 && own.$eq === workspaceId);
    if (!same) throw conflict(operation, own);
    return { ...given, [field]: workspaceId };
  };
  // A new document of the workspace.
  const doc = (operation: string, given: unknown): unknown => {
    if (given instanceof mongoose.Document) {
      const own: unknown = given.get(field);
      if (own == null) given.set(field, workspaceId);
      else if (own !== workspaceId) throw conflict(operation, own);
      return given;
    }
    // A DTO is read by its own keys, as mongoose reads it.
    const plain = asPlain(given);
    if (!isPlainObject(plain)) return given;
    if (plain[field] !== undefined && plain[field] !== workspaceId) throw conflict(operation, plain[field]);
    return { ...plain, [field]: workspaceId };
  };
  // An update may not write the workspace field (an upsert takes it from the filter).
  const update = (operation: string, given: unknown): unknown => {
    const plain = plainUpdate(given);
    const path = updatedPaths(plain).find((p) => p === field || p.startsWith(`${field}.`));
    if (path) throw new TenantScopeError(model.modelName, operation, `cannot change ${field}`);
    return plain;
  };
  const pipeline = (given: unknown): unknown[] => {
    const stages = Array.isArray(given) ? (given as unknown[]) : [];
    const [first, ...rest] = stages;
    if (isPlainObject(first) && Object.keys(first).length === 1 && '$match' in first) return [{ $match: filter('aggregate', first.$match) }, ...rest];
    return [{ $match: { [field]: workspaceId } }, ...stages];
  };

  // A query made here stays on its workspace even if a caller chains `.where('workspaceId', other)` to it.
  // The tenant guard checks workspaceId against this option; a notification's tenantId is checked by pinnedTenant.
  const pin = <Q>(query: Q): Q =>
    query instanceof mongoose.Aggregate
      ? (query.option({ forWorkspace: workspaceId } as object) as Q)
      : (query as { setOptions(o: object): Q }).setOptions({ forWorkspace: workspaceId });

  return {
    find: (f, ...rest) => pin(model.find(filter('find', f), ...rest)),
    findOne: (f, ...rest) => pin(model.findOne(filter('findOne', f), ...rest)),
    findById: (id, ...rest) => pin(model.findOne(filter('findById', { _id: id ?? null }), ...rest)),
    countDocuments: (f, ...rest) => pin(model.countDocuments(filter('countDocuments', f), ...rest)),
    exists: (f, ...rest) => pin(model.exists(filter('exists', f), ...rest)),
    distinct: (path, f, ...rest) => pin(model.distinct(path, filter('distinct', f), ...rest)),
    create: (...args) =>
      Array.isArray(args[0]) ? model.create(args[0].map((d: unknown) => doc('create', d)), ...args.slice(1)) : model.create(...args.map((d) => doc('create', d))),
    insertMany: (docs, ...rest) => model.insertMany(Array.isArray(docs) ? docs.map((d: unknown) => doc('insertMany', d)) : doc('insertMany', docs), ...rest),
    updateOne: (f, u, ...rest) => pin(model.updateOne(filter('updateOne', f), update('updateOne', u), ...rest)),
    updateMany: (f, u, ...rest) => pin(model.updateMany(filter('updateMany', f), update('updateMany', u), ...rest)),
    findOneAndUpdate: (f, u, ...rest) => pin(model.findOneAndUpdate(filter('findOneAndUpdate', f), update('findOneAndUpdate', u), ...rest)),
    deleteOne: (f, ...rest) => pin(model.deleteOne(filter('deleteOne', f), ...rest)),
    deleteMany: (f, ...rest) => pin(model.deleteMany(filter('deleteMany', f), ...rest)),
    aggregate: (p, ...rest) => pin(model.aggregate(pipeline(p), ...rest)),
  };
}

/**
 * The workspace-scoped models of one workspace: `Pipeline`, `User`, `Session` and `Notification` (by `tenantId`),
 * each with find, findOne, findById, countDocuments, exists, distinct, create, insertMany, updateOne, updateMany,
 * findOneAndUpdate, deleteOne, deleteMany and aggregate. They take the same arguments and return the same queries
 * as the models' own, with the workspace added to every filter, inserted document and upsert. A filter, document
 * or update that names another workspace is a TenantScopeError, never silently replaced.
 */
export function forWorkspace(models: Models, workspaceId: string): WorkspaceModels {
  if (typeof workspaceId !== 'string' || !ID_PATTERN.test(workspaceId)) {
    throw new TypeError(`forWorkspace(models, workspaceId): workspaceId must be a workspace id (1-128 letters, digits, "_", "-", "." or ":"), got ${typeof workspaceId === 'string' ? `"${workspaceId.slice(0, 140)}"` : typeof workspaceId}`);
  }
  if (!models?.Pipeline || !models.Notification) throw new TypeError('forWorkspace(models, workspaceId): models must come from makeModels(conn)');
  const scope = <K extends keyof typeof SCOPE_FIELDS>(name: K) =>
    scoped(models[name] as unknown as LooseModel, SCOPE_FIELDS[name], workspaceId) as unknown as WorkspaceScoped<Models[K]>;
  return { Pipeline: scope('Pipeline'), User: scope('User'), Session: scope('Session'), Notification: scope('Notification') };
}
