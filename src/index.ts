// The package's public API. Everything not exported here is internal.
export { makeModels, releaseTenant, type Models, type ModelName, type MakeModelsOptions } from './makeModels.js';
export type { SecretKeys } from './secretBox.js';
export {
  syncIndexes,
  planIndexes,
  applyIndexes,
  type IndexNotBuilt,
  type IndexReport,
  type ModelIndexReport,
  type IndexPlan,
  type ModelIndexPlan,
  type IndexSpec,
  type IndexPlanOptions,
  type ApplyIndexesOptions,
  type IndexApplyResult,
  type ModelIndexResult,
  type IndexProgress,
} from './indexes.js';
export { ConflictError, DuplicateKeyError, SecretDecryptionError, TenantScopeError, UnsafeQueryError, describeError, type DescribedError } from './errors.js';
export { forWorkspace, type WorkspaceModels, type WorkspaceScoped } from './forWorkspace.js';
export * from './contracts/enums.js';
export { INPUT_LIMITS, limitProblems, type Limit, type LimitProblem } from './contracts/limits.js';
export { GRAPH_UPDATE_ATTEMPTS } from './models/pipelineGraphUpdates.js';
export { validatePipelineGraph, parseNodeId, isLayoutKey, type GraphProblem, type GraphProblemCode, type PipelineGraph } from './contracts/pipelineGraph.js';

export { workspaceSchema, createWorkspaceModel, type Workspace, type WorkspaceDocument, type WorkspaceModel } from './models/workspace.js';
export {
  pipelineSchema,
  createPipelineModel,
  nodeId,
  type Pipeline,
  type PipelineDocument,
  type PipelineModel,
  type StreamDefinition,
  type ClientConfigRef,
  type ConnectionConfigRef,
  type TransformConfig,
  type NodePosition,
  type LinkProblem,
} from './models/pipeline.js';
export { clientSchema, createClientModel, type Client, type ClientDocument, type ClientModel, type ClientFields } from './models/client.js';
export {
  connectionSchema,
  createConnectionModel,
  CONNECTION_CONFIG_FIELDS,
  type Connection,
  type ConnectionDocument,
  type ConnectionModel,
  type ConnectionConfig,
  type RevealedSecrets,
  reencryptSecrets,
} from './models/connection.js';
export { userSchema, createUserModel, type User, type UserDocument, type UserModel } from './models/user.js';
export {
  sessionSchema,
  createSessionModel,
  isLive,
  type Session,
  type SessionDocument,
  type SessionModel,
  type LiveSession,
  type IssueFields,
} from './models/session.js';
export {
  notificationSchema,
  createNotificationModel,
  NOTIFICATION_TARGET_FIELD,
  type Notification,
  type NotificationDocument,
  type NotificationModel,
} from './models/notification.js';
export { contactSchema, createContactModel, type Contact, type ContactDocument, type ContactModel } from './models/contact.js';

// The query options of the tenant guard (src/models/tenancy.ts), typed for the application: here, so that the
// emitted typings carry them. The options argument of updateOne/updateMany is a closed type in mongoose's typings
// (it honours the option at run time): type-checked code passes it with `.setOptions()`.
declare module 'mongoose' {
  interface QueryOptions<DocType = unknown> {
    /** A cross-workspace job on a workspace-scoped model (Pipeline, User, Session): skips the tenant guard. */
    allWorkspaces?: boolean;
    /** Set by forWorkspace(): the query's filter must stay on this workspace, whatever is chained to it. */
    forWorkspace?: string;
  }
  interface AggregateOptions {
    /** A cross-workspace aggregate on a workspace-scoped model: skips the tenant guard. */
    allWorkspaces?: boolean;
  }
  interface MongooseBulkWriteOptions {
    /** A cross-workspace bulkWrite on a workspace-scoped model: skips the tenant guard. */
    allWorkspaces?: boolean;
  }
}
