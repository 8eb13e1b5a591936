import { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { ACTIVE_STATUSES } from '../contracts/enums.js';
import { validationErrorOf as validationError } from '../errors.js';
import { checkPassword, hashPassword, PASSWORD_LENGTH } from '../secretHashing.js';
import { idField, schemaOptions, stringListField, workspaceIdField } from './fields.js';
import { hydrateWithoutSecrets, setByPackage } from './secrets.js';

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
    passwordHash: { type: String, required: [true, `passwordHash ${SET_PASSWORD}`], select: false, setBy: 'user.setPassword' },
    passwordSalt: { type: String, required: [true, `passwordSalt ${SET_PASSWORD}`], select: false, setBy: 'user.setPassword' },
    roles: stringListField,
    // Served query: a workspace's active users.
    status: { type: String, enum: ACTIVE_STATUSES, default: 'active', required: true, index: true },
  },
  {
    ...schemaOptions,
    // Edited by people: a stale save() is a ConflictError, whatever field changed.
    optimisticConcurrency: true,
    methods: {
      /**
       * Hashes `password` (scrypt N=2^17, r=8, p=1, random salt) into passwordHash/passwordSalt; save the user
       * afterwards. A password that is not 8 to 1024 characters is a ValidationError on `password`.
       */
      async setPassword(password: string): Promise<void> {
        // Characters, not UTF-16 units (four emoji are four); control characters are no part of a password.
        const length = typeof password === 'string' && password.length <= 2 * PASSWORD_LENGTH.max ? [...password].length : Infinity;
        if (typeof password !== 'string' || length < PASSWORD_LENGTH.min || length > PASSWORD_LENGTH.max) {
          throw validationError([{ path: 'password', message: `password must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters` }]);
        }
        if (/\p{Cc}/u.test(password)) throw validationError([{ path: 'password', message: 'password may not hold control characters' }]);
        const { hash, salt } = await hashPassword(password);
        setByPackage(this, { passwordHash: hash, passwordSalt: salt });
      },
    },
    statics: {
      /**
       * The active user with this username and password, or null (also for input that is not two strings). A hash
       * made with older scrypt parameters is redone with the current ones and saved.
       */
      async authenticate(username: unknown, password: unknown) {
        if (typeof username !== 'string' || typeof password !== 'string' || username.length > 1024 || password.length > 2 * PASSWORD_LENGTH.max) return null;
        // Through the driver: the hash is a secret path, which model queries never read.
        const stored = await this.collection.findOne<StoredPassword & Record<string, unknown>>({ username: username.trim().toLowerCase(), status: 'active' });
        const { ok, outdated } = await checkPassword(password, stored?.passwordHash, stored?.passwordSalt);
        if (!stored || !ok) return null;
        const { passwordHash, passwordSalt, ...user } = stored;
        if (outdated) {
          const { hash, salt } = await hashPassword(password);
          // Only if no one changed the password meanwhile.
          await this.collection.updateOne({ _id: stored._id as never, passwordHash }, { $set: { passwordHash: hash, passwordSalt: salt, updatedAt: new Date() } });
        }
        return hydrateWithoutSecrets(this, user);
      },
    },
    virtuals: {
      workspace: { options: { ref: 'Workspace', localField: 'workspaceId', foreignField: '_id', justOne: true } },
    },
  },
);

interface StoredPassword {
  _id: string;
  passwordHash?: string;
  passwordSalt?: string;
}

// Served query: a workspace's active users (the user list of the control API and UI).
userSchema.index({ workspaceId: 1, status: 1 });

export type User = InferSchemaType<typeof userSchema>;
export type UserDocument = ObtainSchemaGeneric<typeof userSchema, 'THydratedDocumentType'>;

export function createUserModel(conn: Connection) {
  return conn.model('User', userSchema);
}
export type UserModel = ReturnType<typeof createUserModel>;
