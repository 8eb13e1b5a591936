import mongoose, { type Connection, type InferSchemaType, type ObtainSchemaGeneric, Schema } from 'mongoose';
import { PRINCIPAL_TYPES, SESSION_STATUSES, type PrincipalType } from '../contracts/enums.js';
import { ID_PATTERN, UUID_PATTERN } from '../contracts/rules.js';
import { validationErrorOf as validationError } from '../errors.js';
import { isToken, newToken, sessionIdFromToken, TOKEN_PREFIXES } from '../secretHashing.js';
import { schemaOptions, stringListField, workspaceIdField } from './fields.js';
import { setValues } from './updateGuards.js';

/** The longest session: long enough for a remembered login, short enough that a lost token ends. */
const MAX_TTL_SECONDS = 90 * 24 * 3600;
const ISSUE_ONLY = 'a session gets its _id from its token: use Session.issue(...), which returns the token';

// Documents made by Session.issue: the only new sessions whose _id is not the default.
const issued = new WeakSet<object>();

export const sessionSchema = Schema.create(
  {
    // A UUID (version 8) derived from SHA-256 of the session's token, so the database never holds the token. A
    // session made without Session.issue gets the id of a token nobody holds, so nobody can use it.
    _id: {
      type: String,
      default: () => sessionIdFromToken(newToken(TOKEN_PREFIXES.sessionToken)),
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
    // TTL: the server deletes a session once it has expired (where it supports TTL indexes; see the README).
    expiresAt: { type: Date, required: true, index: { expireAfterSeconds: 0 } },
  },
  {
    ...schemaOptions,
    methods: {
      /** Active and not yet expired at `now`. */
      isLive(now: Date = new Date()): boolean {
        return isLive(this, now);
      },
    },
    statics: {
      /**
       * Starts a session for a principal: a new token (256 random bits, prefixed `esps_`, checksummed), returned
       * once; the stored session's `_id` is derived from it.
       */
      async issue({ ttlSeconds, ...fields }: IssueFields) {
        if (typeof ttlSeconds !== 'number' || !(ttlSeconds > 0 && ttlSeconds <= MAX_TTL_SECONDS)) {
          throw validationError([{ path: 'ttlSeconds', message: `ttlSeconds must be a number above 0 and at most ${MAX_TTL_SECONDS}` }]);
        }
        const token = newToken(TOKEN_PREFIXES.sessionToken);
        const session = new this({ ...fields, _id: sessionIdFromToken(token), status: 'active', expiresAt: new Date(Date.now() + ttlSeconds * 1000) });
        issued.add(session);
        await session.save();
        return { session, token };
      },
      /**
       * The live session of this token as a plain object, or null: what the authorizer asks on every request. One
       * read by `_id` through the driver; a malformed token gives null without a query.
       */
      async verify(token: unknown) {
        if (!isToken(token, TOKEN_PREFIXES.sessionToken)) return null;
        // By `_id` alone, the server's fastest path; liveness is checked here.
        const session = await this.collection.findOne<{ status?: string; expiresAt?: Date }>({ _id: sessionIdFromToken(token) as never });
        return session && isLive(session) ? session : null;
      },
      /** Revokes one session by its id; true when a live one was revoked. */
      async revoke(sessionId: string): Promise<boolean> {
        if (typeof sessionId !== 'string') return false;
        const result = await this.collection.updateOne({ _id: sessionId as never, status: 'active' }, { $set: { status: 'revoked', updatedAt: new Date() } });
        return result.modifiedCount > 0;
      },
      /** The live session with this id, or null (served by `_id`). */
      findLive(sessionId: string, now: Date = new Date()) {
        // A global look-up by the session's own id: the workspace is what the session says.
        return this.findOne({ _id: String(sessionId), status: 'active', expiresAt: mongoose.trusted({ $gt: now }) }).setOptions({ allWorkspaces: true });
      },
      /** Revokes every live session of one principal (logout everywhere, a disabled client or user); returns how many. */
      async revokeAllFor(principalType: PrincipalType, principalId: string): Promise<number> {
        const now = new Date();
        const result = await this.collection.updateMany(
          { principalType: String(principalType), principalId: String(principalId), status: 'active', expiresAt: { $gt: now } },
          { $set: { status: 'revoked', updatedAt: now } },
        );
        return result.modifiedCount;
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

// Callers cannot choose a session's _id: a chosen id would be a guessable credential.
sessionSchema.pre('validate', function () {
  if (this.isNew && !this.$isDefault('_id') && !issued.has(this)) this.invalidate('_id', ISSUE_ONLY);
});
/** Whether a new session (a document, or a raw one) has an `_id` its caller chose. */
function choosesId(model: { new (...args: never[]): object }, doc: unknown): boolean {
  if (doc instanceof mongoose.Document && doc instanceof model) return !doc.$isDefault('_id') && !issued.has(doc);
  return typeof doc === 'object' && doc !== null && '_id' in doc;
}
sessionSchema.pre('insertMany', function (docs: unknown) {
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (choosesId(this, doc)) throw validationError([{ path: '_id', message: ISSUE_ONLY }]);
  }
});
// bulkSave() sends its new documents as bulkWrite insertOnes of the documents themselves.
sessionSchema.pre('bulkWrite', function (ops) {
  for (const op of ops) {
    const write = Object.values(op)[0] as { document?: object; upsert?: boolean } | undefined;
    if (write?.upsert || (write?.document && choosesId(this, write.document))) throw validationError([{ path: '_id', message: ISSUE_ONLY }]);
  }
});

// A revoked session stays revoked, and no write moves an expiry past what issue() allows from now (a service that
// disables a principal revokes its sessions; an update must not undo that). Moving an expiry within the cap is a
// service's choice (sliding sessions).
const REVIVE = 'status can only change to revoked: issue a new session instead';
/** `value` as mongoose casts it for `path` (`{ _id: 'active' }` is 'active', "4133980800000" milliseconds), or undefined. */
function castAs(path: 'status' | 'expiresAt', value: unknown): unknown {
  try {
    return value === undefined ? undefined : sessionSchema.path(path).cast(value);
  } catch {
    // Not castable: the write's own validation refuses it.
    return undefined;
  }
}
const tooLate = (value: unknown) => ((castAs('expiresAt', value) as Date | null | undefined)?.getTime() ?? Number.NaN) > Date.now() + MAX_TTL_SECONDS * 1000;
const EXTENDED = `expiresAt may be at most ${MAX_TTL_SECONDS} seconds from now`;
const revives = (value: unknown) => castAs('status', value) === 'active';
function checkLife(update: unknown): void {
  if (!update || typeof update !== 'object') return;
  const values = setValues(update as Record<string, unknown>);
  const { $setOnInsert: onInsert = {}, $max: atLeast = {} } = update as { $setOnInsert?: Record<string, unknown>; $max?: Record<string, unknown> };
  for (const written of [values, onInsert, atLeast]) {
    if (revives(written.status)) throw validationError([{ path: 'status', message: REVIVE }]);
    if ('expiresAt' in written && tooLate(written.expiresAt)) throw validationError([{ path: 'expiresAt', message: EXTENDED }]);
  }
}
sessionSchema.pre('validate', function () {
  if (!this.isNew && this.isModified('status') && this.status === 'active') this.invalidate('status', REVIVE);
  if (this.isModified('expiresAt') && tooLate(this.expiresAt)) this.invalidate('expiresAt', EXTENDED);
});
sessionSchema.pre(['updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace'], function () {
  if (this.getOptions().upsert) throw validationError([{ path: '_id', message: `upserts would create sessions: ${ISSUE_ONLY}` }]);
  checkLife(this.getUpdate());
});
sessionSchema.pre('bulkWrite', function (ops) {
  for (const op of ops) {
    const write = Object.values(op)[0] as { update?: unknown; replacement?: unknown } | undefined;
    checkLife(write?.update ?? write?.replacement);
  }
});

export type Session = InferSchemaType<typeof sessionSchema>;
export type SessionDocument = ObtainSchemaGeneric<typeof sessionSchema, 'THydratedDocumentType'>;
/** A live session as `Session.verify` returns it: the stored fields, as a plain object. */
export type LiveSession = Session;

/** What `Session.issue` takes: who the session is for, what it may do, and how long it lives. */
export interface IssueFields {
  workspaceId: string;
  principalType: PrincipalType;
  principalId: string;
  scopes?: string[];
  topics?: string[];
  context?: unknown;
  ttlSeconds: number;
}

/** Whether a session (a document, a lean one, or `Session.verify`'s result) is active and unexpired at `now`. */
export function isLive(session: { status?: string | null; expiresAt?: Date | string | number | null }, now: Date = new Date()): boolean {
  return session.status === 'active' && session.expiresAt != null && new Date(session.expiresAt).getTime() > now.getTime();
}

export interface SessionStatics {
  issue(fields: IssueFields): Promise<{ session: SessionDocument; token: string }>;
  verify(token: unknown): Promise<LiveSession | null>;
}

function registerSessionModel(conn: Connection) {
  return conn.model('Session', sessionSchema);
}
export function createSessionModel(conn: Connection) {
  return registerSessionModel(conn) as SessionStatics & ReturnType<typeof registerSessionModel>;
}
export type SessionModel = ReturnType<typeof createSessionModel>;
