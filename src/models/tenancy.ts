// The run-time tenant guard of the workspace-scoped models (every schema with a `workspaceId` path: Pipeline, User,
// Session). Like acts_as_tenant's `require_tenant`: an operation that does not pin one workspace fails before it
// reaches the server, and `allWorkspaces: true` is the one explicit way out.
import mongoose, { type Aggregate, type Model, type Query, type Schema } from 'mongoose';
import { TenantScopeError } from '../errors.js';
import { bulkFilters, equalities, isPlainObject, operationOf, preFirst, QUERY_OPERATIONS } from './querySafety.js';

/** The path that names a document's workspace. */
export const TENANT_PATH = 'workspaceId';

/** Whether a model's documents belong to a workspace. */
export function isWorkspaceScoped(schema: Schema): boolean {
  return schema.path(TENANT_PATH) != null;
}

/** The workspace a filter pins by equality to one string, if it does. */
export function workspaceOf(filter: unknown): string | undefined {
  const value = equalities(filter)[TENANT_PATH];
  return typeof value === 'string' ? value : undefined;
}

/** Whether the options of a query, aggregate or bulkWrite opt out of the tenant guard. */
export function allWorkspaces(options: unknown): boolean {
  return isPlainObject(options) && options.allWorkspaces === true;
}

function requireScope(modelName: string, operation: string, filter: unknown, options: unknown): void {
  if (allWorkspaces(options)) return;
  const workspace = workspaceOf(filter);
  if (workspace === undefined) throw new TenantScopeError(modelName, operation);
  const pinned = isPlainObject(options) ? options.forWorkspace : undefined;
  if (pinned !== undefined && workspace !== pinned) throw new TenantScopeError(modelName, operation, `was made by forWorkspace for "${String(pinned)}" but its filter names "${workspace}"`);
}

/** The tenant guard for one schema; nothing for a schema without `workspaceId`. */
export function tenantScope(schema: Schema): void {
  if (!isWorkspaceScoped(schema)) return;

  // save(), doc.updateOne() and doc.deleteOne() add the shard key's values as the document was loaded to their write
  // filter: a document whose workspaceId was changed in memory, or that hydrate() built, cannot write to another
  // workspace's document. (Client-side only: no server needs to be sharded.)
  schema.set('shardKey', { [TENANT_PATH]: 1 });

  preFirst(schema, QUERY_OPERATIONS, function (this: Query<unknown, unknown>) {
    requireScope(this.model.modelName, operationOf(this), this.getFilter(), this.getOptions());
  });

  preFirst(schema, 'aggregate', function (this: Aggregate<unknown>) {
    const first = this.pipeline()[0] as { $match?: unknown } | undefined;
    requireScope(this.model().modelName, 'aggregate', first?.$match, this.options);
  });

  preFirst(schema, 'bulkWrite', function (this: Model<unknown>, ops: unknown[], options: unknown) {
    for (const { kind, write } of bulkFilters(ops)) requireScope(this.modelName, `bulkWrite ${kind}`, write.filter, options);
  });

  // A change stream sees every workspace's writes: only a cross-workspace job may open one. The option is the
  // package's: the server would refuse it.
  const watch = (schema.statics.watch ?? mongoose.Model.watch) as (this: Model<unknown>, ...args: unknown[]) => unknown;
  schema.static('watch', function (this: Model<unknown>, pipeline?: Record<string, unknown>[], options?: Record<string, unknown>) {
    if (!allWorkspaces(options)) throw new TenantScopeError(this.modelName, 'watch', 'cannot be limited to one workspace');
    const { allWorkspaces: _, ...driverOptions } = options!;
    return watch.call(this, pipeline, driverOptions);
  });
}
