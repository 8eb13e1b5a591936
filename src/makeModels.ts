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

function build(conn: MongooseConnection) {
  return {
    Workspace: createWorkspaceModel(conn),
    Pipeline: createPipelineModel(conn),
    Client: createClientModel(conn),
    Connection: createConnectionModel(conn),
    User: createUserModel(conn),
    Session: createSessionModel(conn),
    Notification: createNotificationModel(conn),
    Contact: createContactModel(conn),
  };
}

/** The eight models, registered on one connection. */
export type Models = ReturnType<typeof build>;
export type ModelName = keyof Models;

const registered = new WeakMap<MongooseConnection, Models>();

/**
 * Registers all eight models on `conn` (never on mongoose's default connection) and returns them. Calling it again
 * with the same connection returns the same object; each `conn.useDb(name)` gets models of its own, so tenants'
 * data stay apart. Index builds follow the connection's own `autoIndex`/`autoCreate` options: pass
 * `autoIndex: false` for tenant connections and build indexes once with `syncIndexes(models)`.
 */
export function makeModels(conn: MongooseConnection): Models {
  if (!conn || typeof conn.model !== 'function' || typeof conn.useDb !== 'function') {
    throw new TypeError('makeModels(conn) needs a mongoose Connection, e.g. mongoose.createConnection(uri)');
  }
  let models = registered.get(conn);
  if (!models) {
    models = build(conn);
    registered.set(conn, models);
  }
  return models;
}
