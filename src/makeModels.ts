import mongoose, { type Connection as MongooseConnection } from 'mongoose';
import { clientSchema, createClientModel } from './models/client.js';
import { connectionSchema, createConnectionModel } from './models/connection.js';
import { contactSchema, createContactModel } from './models/contact.js';
import { createNotificationModel, notificationSchema } from './models/notification.js';
import { UnsafeQueryError } from './errors.js';
import { applyPackageRules } from './models/packageRules.js';
import { createPipelineModel, pipelineSchema } from './models/pipeline.js';
import { createSessionModel, sessionSchema } from './models/session.js';
import { createUserModel, userSchema } from './models/user.js';
import { createWorkspaceModel, workspaceSchema } from './models/workspace.js';
import { configureSecretKeys, type SecretKeys } from './secretBox.js';

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

/**
 * Marks each schema with its model name under a global symbol, so that the CommonJS and the ESM copy of this package
 * in one app (each with schemas of its own) recognise each other's models on a shared connection.
 */
const PACKAGE_SCHEMA = Symbol.for('@event-streaming-platform/data-models/schema');
for (const [name, schema] of Object.entries(SCHEMAS)) Object.defineProperty(schema, PACKAGE_SCHEMA, { value: name });

/** Whether `model` is this package's model `name`, from this copy of the package or another. */
function isPackageModel(model: unknown, name: ModelName): boolean {
  const schema: unknown = (model as { schema?: unknown }).schema;
  return schema === SCHEMAS[name] || (typeof schema === 'object' && schema !== null && Reflect.get(schema, PACKAGE_SCHEMA) === name);
}

/** How each model is compiled; each is compiled once per mongoose instance (see `compiledOnce`). */
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

export interface MakeModelsOptions {
  /**
   * The keys that encrypt sink credentials at rest (AES-256-GCM): key id → base64 of 32 random bytes; `current`
   * encrypts, every key decrypts. Without it, the JSON of the environment variable DATA_MODELS_SECRET_KEYS.
   */
  secretKeys?: SecretKeys;
}

/**
 * Registers all eight models on `conn` (never on mongoose's default connection) and returns them. Calling it again
 * with the same connection returns the same object; each `conn.useDb(name)` gets models of its own, so tenants'
 * data stay apart. A model is made when it is first used, so a tenant connection costs only the models its
 * service touches, and `makeModels` itself sends nothing to the server. Index builds follow the connection's own
 * `autoIndex`/`autoCreate` options when a model is first used: pass `autoIndex: false, autoCreate: false` for
 * tenant connections and build indexes once with `syncIndexes(models)`. `releaseTenant(root, name)` releases a
 * `root.useDb(name)` tenant. The options of the first call on a connection are kept; a later call with other
 * `secretKeys` throws.
 */
export function makeModels(conn: MongooseConnection, options: MakeModelsOptions = {}): Models {
  if (!conn || typeof conn.model !== 'function' || typeof conn.useDb !== 'function') {
    throw new TypeError('makeModels(conn) needs a mongoose Connection, e.g. mongoose.createConnection(uri)');
  }
  let models = registered.get(conn);
  configureSecretKeys(conn, options.secretKeys, !models);
  if (!models) {
    models = registerLazily(conn);
    registered.set(conn, models);
    refuseConnectionBulkWrite(conn);
  }
  return models;
}

/**
 * The model getters, on the returned object and on `conn.models`, which is where mongoose itself looks
 * (`conn.model(name)`, populate of a `ref`, Pipeline.checkLinks). The second matters for tenancy: populate on a
 * `useDb` connection that lacks the referenced model takes the parent connection's model, i.e. another database's
 * data. The `conn.models` getters are not enumerable, so mongoose's loops over its models (close, syncIndexes) see
 * only the models in use.
 */
function registerLazily(conn: MongooseConnection): Models {
  const models = {} as Models;
  for (const name of Object.keys(FACTORIES) as ModelName[]) {
    let model: Models[typeof name] | undefined;
    const bind = () => (model ??= onConnection(conn, name));
    const existing: unknown = Object.hasOwn(conn.models, name) ? conn.models[name] : undefined;
    if (existing) {
      // Another copy of the package (CommonJS beside ESM) registered it first: its model has the same rules.
      if (!isPackageModel(existing, name)) throw new mongoose.Error.OverwriteModelError(name);
      model = existing as Models[typeof name];
    } else {
      Object.defineProperty(conn.models, name, {
        configurable: true,
        enumerable: false,
        get() {
          Reflect.deleteProperty(conn.models, name);
          return bind();
        },
      });
    }
    Object.defineProperty(models, name, { configurable: false, enumerable: true, get: bind });
  }
  return models;
}

/**
 * mongoose's `conn.bulkWrite(ops)` (MongoDB 8's cross-collection bulkWrite) casts each operation with its model but
 * runs none of the model's middleware, so none of the package's rules: it refuses operations on the package's models.
 */
function refuseConnectionBulkWrite(conn: MongooseConnection): void {
  const own = conn.bulkWrite.bind(conn) as (...args: unknown[]) => Promise<unknown>;
  const ours = (model: unknown): boolean =>
    typeof model === 'string' ? Object.hasOwn(FACTORIES, model) : model != null && (Object.keys(FACTORIES) as ModelName[]).some((name) => isPackageModel(model, name));
  Object.defineProperty(conn, 'bulkWrite', {
    configurable: true,
    writable: true,
    value: async (ops: unknown, ...rest: unknown[]) => {
      const op = Array.isArray(ops) ? ops.find((o: unknown) => ours((o as { model?: unknown } | null)?.model)) : undefined;
      if (op !== undefined) {
        const model = (op as { model: unknown }).model;
        const name = typeof model === 'string' ? model : (model as { modelName: string }).modelName;
        throw new UnsafeQueryError(name, 'bulkWrite', `connection.bulkWrite() is refused on the package's models: it skips their rules; use ${name}.bulkWrite()`);
      }
      return own(ops, ...rest);
    },
  });
}

type Subclassable<M> = M & { __subclass(conn: MongooseConnection): M };

/**
 * Compiling a mongoose model (document prototype, hooks, query class) is most of what a tenant would cost, so each
 * model is compiled once per mongoose instance and every connection gets a subclass of it bound to its database:
 * what mongoose's own `conn.model(name)` did for models registered on mongoose itself. `Model.__subclass` is
 * private to mongoose; test/integration/manyTenants.test.ts pins what we rely on.
 */
function onConnection<Name extends ModelName>(conn: MongooseConnection, name: Name): Models[Name] {
  const parent = compiledOnce(conn.base, name) as Subclassable<Models[Name]>;
  const model = parent.__subclass(conn);
  // mongoose lists every subclass on its parent (to copy discriminators added later, which we never add): a
  // released tenant's models would stay reachable from there forever.
  forgetSubclasses(parent);
  Object.defineProperty(conn.models, name, { value: model, enumerable: true, writable: true, configurable: true });
  return model;
}

const compiled = new WeakMap<typeof mongoose, { template: MongooseConnection; models: Partial<Models> }>();

/**
 * The model compiled once for `base`, on a connection of its own that never opens and is not in
 * `mongoose.connections`. Its `init()` promise is dropped (mongoose does the same on disconnect) so that each
 * subclass runs `init()` for its own connection, with that connection's autoCreate/autoIndex.
 */
function compiledOnce<Name extends ModelName>(base: typeof mongoose, name: Name): Models[Name] {
  let once = compiled.get(base);
  if (!once) {
    const Template = base.Connection as unknown as new (owner: typeof mongoose) => MongooseConnection;
    once = { template: new Template(base), models: {} };
    Object.assign(once.template.config, { autoCreate: false, autoIndex: false, autoSearchIndex: false });
    compiled.set(base, once);
  }
  const { template, models } = once;
  const known = models[name];
  if (known) return known as Models[Name];
  const model = FACTORIES[name](template) as Models[Name];
  Reflect.deleteProperty(model, '$init');
  models[name] = model;
  return model;
}

const SUBCLASSED = 'mongoose#Model#subclassed';
function forgetSubclasses(parent: object): void {
  const key = Object.getOwnPropertySymbols(parent).find((symbol) => symbol.description === SUBCLASSED);
  const list: unknown = key && (parent as Record<symbol, unknown>)[key];
  if (!Array.isArray(list)) throw new Error(`mongoose changed Model.__subclass (no ${SUBCLASSED} list): see NOTES.md, many tenants`);
  list.length = 0;
}

/**
 * Releases a tenant: removes `root.useDb(dbName)` from `root`'s connections (mongoose's documented
 * `conn.removeDb(name)`, which its typings lack), so that it and its models can be collected. Use the tenant's
 * models no more afterwards: its connection counts as closed, so their queries wait for it and time out. The
 * shared client stays open; a later `root.useDb(dbName)` gets a fresh tenant connection.
 */
export function releaseTenant(root: MongooseConnection, dbName: string): void {
  (root as MongooseConnection & { removeDb(name: string): void }).removeDb(dbName);
}
