import mongoose, { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { ACTIVE_STATUSES } from '../contracts/enums.js';
import { validationErrorOf } from '../errors.js';
import { hashSecret, verifySecret } from '../secretHashing.js';
import { idField, schemaOptions, stringListField, workspaceIdField } from './fields.js';

const SET_PASSWORD = 'is required: call user.setPassword(password) before saving';

export const userSchema = Schema.create(
  {
    _id: idField('usr'),
    workspaceId: workspaceIdField,
    // Unique across the platform; lower-cased so that "Ann" and "ann" are one user (the filter is lower-cased too).
    username: {
      type: String,
      required: true,
      trim: true,
      lowercase: true,
      unique: true,
      minlength: 1,
      match: [/^[a-z0-9._@+-]+$/, 'username may hold letters, digits and . _ @ + - only'],
    },
    passwordHash: { type: String, required: [true, `passwordHash ${SET_PASSWORD}`], select: false },
    passwordSalt: { type: String, required: [true, `passwordSalt ${SET_PASSWORD}`], select: false },
    roles: stringListField,
    // Served query: a workspace's active users.
    status: { type: String, enum: ACTIVE_STATUSES, default: 'active', required: true, index: true },
  },
  {
    ...schemaOptions,
    // Edited by people: a stale save() is a ConflictError, whatever field changed.
    optimisticConcurrency: true,
    methods: {
      /** Hashes `password` (scrypt, random salt) into passwordHash/passwordSalt; save the user afterwards. */
      async setPassword(password: string): Promise<void> {
        // A bad password is invalid input like any other: a ValidationError on `password` (never its value).
        const { hash, salt } = await hashSecret(password).catch((error: unknown) => {
          throw error instanceof TypeError ? validationErrorOf([{ path: 'password', message: `password: ${error.message}` }]) : error;
        });
        this.set({ passwordHash: hash, passwordSalt: salt });
      },
    },
    statics: {
      /** The active user with this username and password, or null. */
      async authenticate(username: string, password: string) {
        // A global look-up by the unique username; the models refuse to select a secret, so the hash is read
        // through the driver.
        const user = await this.findOne({ username: String(username), status: 'active' }).setOptions({ allWorkspaces: true });
        const stored = user && (await (this.collection as unknown as mongoose.mongo.Collection<{ _id: string; passwordHash?: string; passwordSalt?: string }>).findOne({ _id: user._id }, { projection: { passwordHash: 1, passwordSalt: 1 } }));
        const ok = await verifySecret(password, stored?.passwordHash, stored?.passwordSalt);
        return user && ok ? user : null;
      },
    },
    virtuals: {
      workspace: { options: { ref: 'Workspace', localField: 'workspaceId', foreignField: '_id', justOne: true } },
    },
  },
);


// Served query: a workspace's active users (the user list of the control API and UI).
userSchema.index({ workspaceId: 1, status: 1 });

export type User = InferSchemaType<typeof userSchema>;
export type UserDocument = ObtainSchemaGeneric<typeof userSchema, 'THydratedDocumentType'>;

export function createUserModel(conn: Connection) {
  return conn.model('User', userSchema);
}
export type UserModel = ReturnType<typeof createUserModel>;
