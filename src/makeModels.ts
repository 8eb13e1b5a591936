import type { Connection as MongooseConnection } from 'mongoose';
import { clientSchema, createClientModel } from './models/client.js';
import { connectionSchema, createConnectionModel } from './models/connection.js';
import { contactSchema, createContactModel } from './models/contact.js';
import { createNotificationModel, notificationSchema } from './models/notification.js';
import { applyPackageRules } from './models/packageRules.js';
import { createPipelineModel, pipelineSchema } from './models/pipeline.js';
import { createSessionModel, sessionSchema } from './models/session.js';
import { createUserModel, userSchema } from './models/user.js';
import { createWorkspaceModel, workspaceSchema } from './models/workspace.js';

/** Every schema of the package by model name; the cross-model rules are applied to them here, once. */
export const SCHEMAS = {
  Workspace: workspaceSchema,
  Pipeline: pipelineSchema,
  Client: clientSchema,
  Connection: connectionSchema,
  User: userSchema,
  Session: sessionSchema,
  Notification: notificationSchema,
  Contact: contactSchema,
} as const;
applyPackageRules(SCHEMAS);

/** How each model is compiled on a connection; `conn.model(name, schema)` returns the model already there. */
const FACTORIES = {
  Workspace: createWorkspaceModel,
  Pipeline: createPipelineModel,
  Client: createClientModel,
  Connection: createConnectionModel,
  User: createUserModel,
  Session: createSessionModel,
  Notification: createNotificationModel,
  Contact: createContactModel,
} as const;

/** The eight models, registered on one connection. */
export type Models = { [Name in keyof typeof FACTORIES]: ReturnType<(typeof FACTORIES)[Name]> };
export type ModelName = keyof Models;

const registered = new WeakMap<MongooseConnection, Models>();

/**
 * Registers all eight models on `conn` (never on mongoose's default connection) and returns them. Calling it again
 * with the same connection returns the same object; each `conn.useDb(name)` gets models of its own, so tenants'
 * data stay apart. A model is compiled when it is first used, so a tenant connection costs only the models its
 * service touches, and registering sends nothing to the server. Index builds follow the connection's own
 * `autoIndex`/`autoCreate` options: pass `autoIndex: false, autoCreate: false` for tenant connections and build
 * indexes once with `syncIndexes(models)`. `conn.removeDb(name)` on the root connection releases a tenant.
 */
export function makeModels(conn: MongooseConnection): Models {
  if (!conn || typeof conn.model !== 'function' || typeof conn.useDb !== 'function') {
    throw new TypeError('makeModels(conn) needs a mongoose Connection, e.g. mongoose.createConnection(uri)');
  }
  let models = registered.get(conn);
  if (!models) {
    models = registerLazily(conn);
    registered.set(conn, models);
  }
  return models;
}

/**
 * Compiling a mongoose model is most of what a tenant costs, so each model is compiled on first use: through the
 * returned object, or through `conn.models[name]`, which is where mongoose itself looks (`conn.model(name)`,
 * populate of a `ref`, Pipeline.checkLinks). That second getter matters for tenancy: populate on a `useDb`
 * connection that lacks the referenced model takes the parent connection's model, i.e. another database's data.
 * The `conn.models` getters are not enumerable, so mongoose's loops over its models (close, syncIndexes) see only
 * the compiled ones.
 */
function registerLazily(conn: MongooseConnection): Models {
  const models = {} as Models;
  for (const name of Object.keys(FACTORIES) as ModelName[]) {
    const compile = () => FACTORIES[name](conn);
    if (Object.hasOwn(conn.models, name)) {
      // The same schema gives back the model already there; another schema throws mongoose's OverwriteModelError now.
      compile();
    } else {
      Object.defineProperty(conn.models, name, {
        configurable: true,
        enumerable: false,
        get() {
          Reflect.deleteProperty(conn.models, name);
          return compile();
        },
      });
    }
    Object.defineProperty(models, name, {
      configurable: true,
      enumerable: true,
      get() {
        const model = compile();
        Object.defineProperty(models, name, { value: model, enumerable: true, writable: false, configurable: false });
        return model;
      },
    });
  }
  return models;
}

/**
 * Releases a tenant: drops `root.useDb(dbName)`'s connection from `root`'s cache (mongoose's `removeDb`, which its
 * typings lack), so that it, its models and their compiled state can be collected. Use the tenant's models no more
 * afterwards: its connection counts as closed and their queries wait for it. The shared client stays open.
 */
export function releaseTenant(root: MongooseConnection, dbName: string): void {
  (root as MongooseConnection & { removeDb(name: string): unknown }).removeDb(dbName);
}

/** Builds every model's indexes (and drops indexes the schemas no longer declare). Returns what was dropped. */
export async function syncIndexes(models: Models): Promise<Record<ModelName, string[]>> {
  const dropped = {} as Record<ModelName, string[]>;
  for (const name of Object.keys(models) as ModelName[]) {
    dropped[name] = await models[name].syncIndexes();
  }
  return dropped;
}
