import { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { ACTIVE_STATUSES } from '../contracts/enums.js';
import { isCode, isOrigin } from '../contracts/rules.js';
import { codeWhenMissing } from './freeCode.js';
import { idField, nameField, schemaOptions } from './fields.js';

export const workspaceSchema = Schema.create(
  {
    _id: idField('ws'),
    name: nameField,
    // Unique across all workspaces; derived from the name when not given (see freeCode).
    code: {
      type: String,
      trim: true,
      unique: true,
      validate: { validator: isCode, message: 'code must be exactly 4 lowercase letters a-z' },
    },
    // Served query: list workspaces by status (e.g. every active workspace at authorizer start-up).
    status: { type: String, enum: ACTIVE_STATUSES, default: 'active', required: true, index: true },
    allowedOrigins: {
      type: [
        {
          type: String,
          trim: true,
          validate: { validator: isOrigin, message: 'allowedOrigins entries must be origins like https://app.example.com' },
        },
      ],
      default: [] as string[],
    },
  },
  // Edited by people: a stale save() is a ConflictError, whatever field changed.
  { ...schemaOptions, optimisticConcurrency: true },
);

workspaceSchema.plugin(codeWhenMissing);

export type Workspace = InferSchemaType<typeof workspaceSchema>;
export type WorkspaceDocument = ObtainSchemaGeneric<typeof workspaceSchema, 'THydratedDocumentType'>;

export function createWorkspaceModel(conn: Connection) {
  return conn.model('Workspace', workspaceSchema);
}
export type WorkspaceModel = ReturnType<typeof createWorkspaceModel>;
