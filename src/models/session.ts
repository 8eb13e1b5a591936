import { randomUUID } from 'node:crypto';
import mongoose, { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { PRINCIPAL_TYPES, SESSION_STATUSES } from '../contracts/enums.js';
import { ID_PATTERN, UUID_PATTERN } from '../contracts/rules.js';
import { schemaOptions, stringListField, workspaceIdField } from './fields.js';

export const sessionSchema = Schema.create(
  {
    _id: {
      type: String,
      default: () => randomUUID(),
      lowercase: true,
      validate: { validator: (v: string) => UUID_PATTERN.test(v), message: 'session _id must be a UUID' },
    },
    workspaceId: workspaceIdField,
    principalId: {
      type: String,
      required: true,
      immutable: true,
      validate: { validator: (v: string) => ID_PATTERN.test(v), message: 'principalId must be a client or user id' },
    },
    principalType: { type: String, enum: PRINCIPAL_TYPES, required: true, immutable: true, index: true },
    scopes: stringListField,
    topics: stringListField,
    // Any JSON-like value; 'Mixed' is named as a string so that TypeScript infers `unknown`, not `any`.
    context: { type: 'Mixed', default: () => ({}) },
    status: { type: String, enum: SESSION_STATUSES, default: 'active', required: true, index: true },
    // Served query: sweeping expired sessions (`expiresAt < now`).
    expiresAt: { type: Date, required: true, index: true },
  },
  {
    ...schemaOptions,
    methods: {
      /** Active and not yet expired at `now`. */
      isLive(now: Date = new Date()): boolean {
        return this.status === 'active' && this.expiresAt.getTime() > now.getTime();
      },
    },
    statics: {
      /** The live session with this id, or null: what the authorizer asks on every request (served by `_id`). */
      findLive(sessionId: string, now: Date = new Date()) {
        // A global look-up by the session's own id: the workspace is what the session says.
        return this.findOne({ _id: String(sessionId), status: 'active', expiresAt: mongoose.trusted({ $gt: now }) }).setOptions({ allWorkspaces: true });
      },
      /** Revokes every active session of one principal (logout everywhere, a disabled client or user). */
      revokeAllFor(principalType: (typeof PRINCIPAL_TYPES)[number], principalId: string) {
        return this.updateMany({ principalType, principalId: String(principalId), status: 'active' }, { $set: { status: 'revoked' } }).setOptions({ allWorkspaces: true });
      },
    },
    virtuals: {
      workspace: { options: { ref: 'Workspace', localField: 'workspaceId', foreignField: '_id', justOne: true } },
    },
  },
);

// A user's session belongs to the user's own workspace (clients are global: any workspace may hold their sessions).
sessionSchema.pre('validate', async function () {
  if (!this.isNew || this.principalType !== 'user' || typeof this.principalId !== 'string' || typeof this.workspaceId !== 'string') return;
  if (!(await this.db.model('User').exists({ _id: this.principalId, workspaceId: this.workspaceId }))) {
    this.invalidate('principalId', `principalId must be a user of workspace "${this.workspaceId}"`);
  }
});

// Served query: revokeAllFor (every session of one principal).
sessionSchema.index({ principalId: 1, principalType: 1, status: 1 });
// Served query: a workspace's live sessions (`{ workspaceId, status: 'active', expiresAt: { $gt: now } }`).
sessionSchema.index({ workspaceId: 1, status: 1, expiresAt: 1 });

export type Session = InferSchemaType<typeof sessionSchema>;
export type SessionDocument = ObtainSchemaGeneric<typeof sessionSchema, 'THydratedDocumentType'>;

export function createSessionModel(conn: Connection) {
  return conn.model('Session', sessionSchema);
}
export type SessionModel = ReturnType<typeof createSessionModel>;
