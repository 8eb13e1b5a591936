import mongoose, { type Collection as MongooseCollection, type Connection as MongooseConnection, type InferSchemaType, type ObtainSchemaGeneric, type Query, Schema } from 'mongoose';
import { ACTIVE_STATUSES, CONNECTION_TYPES, HTTP_METHODS, type ConnectionType } from '../contracts/enums.js';
import { headerProblem, S3_BUCKET_PATTERN, S3_REGION_PATTERN, sinkUrlProblem } from '../contracts/rules.js';
import { SecretDecryptionError, validationErrorOf as validationError } from '../errors.js';
import { newId } from '../ids.js';
import { HOW_TO_CONFIGURE, keyRingOf, open, seal, sealedWith, type KeyRing } from '../secretBox.js';
import { idField, nameField, schemaOptions } from './fields.js';
import { equalities } from './querySafety.js';
import { variantFields } from './variantFields.js';

/** Which `config` fields each connection type requires; a field of the other type is refused. */
export const CONNECTION_CONFIG_FIELDS = {
  HTTP: { required: ['url', 'method'], allowed: ['url', 'method', 'headers'] },
  S3: { required: ['bucket', 'region', 'accessKeyId', 'secretAccessKey'], allowed: ['bucket', 'region', 'accessKeyId', 'secretAccessKey'] },
} as const satisfies Record<ConnectionType, { required: readonly string[]; allowed: readonly string[] }>;

// One sub-schema holds the fields of every type; the validator on `config` keeps each type to its own fields.
const connectionConfigSchema = Schema.create(
  {
    // HTTP
    url: {
      type: String,
      trim: true,
      validate: { validator: (v: string) => sinkUrlProblem(v) === undefined, message: (props: { value: string }) => `config.url ${sinkUrlProblem(props.value)}` },
    },
    method: { type: String, enum: HTTP_METHODS },
    // Header values often carry credentials (Authorization): each is stored encrypted, and hidden.
    headers: { type: Map, of: String, select: false },
    // S3
    bucket: { type: String, trim: true, match: [S3_BUCKET_PATTERN, 'config.bucket is not a valid S3 bucket name'] },
    region: { type: String, trim: true, match: [S3_REGION_PATTERN, 'config.region is not a region like eu-west-1'] },
    accessKeyId: { type: String, trim: true },
    // Stored encrypted, and hidden.
    secretAccessKey: { type: String, select: false },
  },
  { _id: false, strict: 'throw' },
);

/** A global sink destination; pipelines link it through `Pipeline.sinkConnections`. */
export const connectionSchema = Schema.create(
  {
    _id: idField('cn'),
    name: nameField,
    type: { type: String, enum: CONNECTION_TYPES, required: true, immutable: true },
    // Served query: active connections (e.g. the sink runner at start-up).
    status: { type: String, enum: ACTIVE_STATUSES, default: 'active', required: true, index: true },
    config: { type: connectionConfigSchema, required: true },
  },
  {
    ...schemaOptions,
    // Edited by people: a stale save() is a ConflictError, whatever field changed.
    optimisticConcurrency: true,
    methods: {
      /**
       * The connection's credentials in plain text, for the sink runner: the one way to read them. Throws a
       * SecretDecryptionError naming the field when a value cannot be decrypted.
       */
      async revealSecrets(): Promise<RevealedSecrets> {
        const ring = keyRingOf(this.db);
        const revealed: RevealedSecrets = {};
        const { secretAccessKey, headers } = (await storedSecrets(this.collection, this._id)) ?? {};
        if (secretAccessKey != null) revealed.secretAccessKey = openField(ring, this._id, SECRET_KEY_PATH, secretAccessKey);
        if (headers != null) {
          revealed.headers = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, openField(ring, this._id, `${HEADERS_PATH}.${name}`, value)]));
        }
        return revealed;
      },
    },
  },
);

// The rule links two paths (type and config): checked on documents and on updates.
connectionSchema.plugin(variantFields, {
  root: 'config',
  discriminator: 'type',
  fields: Object.keys(connectionConfigSchema.paths),
  rules: CONNECTION_CONFIG_FIELDS,
  label: (type: string) => `a ${type} connection`,
});

connectionSchema.pre('validate', function () {
  const headers = this.config?.headers;
  if (headers instanceof Map) {
    for (const [name, value] of headers) {
      const problem = headerProblem(name, value);
      if (problem) this.invalidate(`${HEADERS_PATH}.${name}`, `config.headers: ${problem}`);
    }
  }
});

// A loaded connection holds no credential: a whole `config` written back (`doc.config = { ...doc.config, bucket }`,
// `markModified('config')`) keeps the stored credentials it does not give, instead of erasing them.
connectionSchema.pre('validate', async function () {
  if (this.isNew || !this.isDirectModified('config') || !this.config) return;
  const givesKey = this.get(SECRET_KEY_PATH) !== undefined;
  const givesHeaders = this.get(HEADERS_PATH) !== undefined;
  if (givesKey && givesHeaders) return;
  const stored = await storedSecrets(this.collection, this._id);
  if (!givesKey && stored?.secretAccessKey != null && this.type === 'S3') this.set(SECRET_KEY_PATH, stored.secretAccessKey);
  if (!givesHeaders && stored?.headers != null && this.type === 'HTTP') this.set(HEADERS_PATH, stored.headers);
});

export type Connection = InferSchemaType<typeof connectionSchema>;
export type ConnectionDocument = ObtainSchemaGeneric<typeof connectionSchema, 'THydratedDocumentType'>;
export type ConnectionConfig = InferSchemaType<typeof connectionConfigSchema>;
/** What `connection.revealSecrets()` returns: the credentials the connection has, in plain text. */
export interface RevealedSecrets {
  secretAccessKey?: string;
  headers?: Record<string, string>;
}

export function createConnectionModel(conn: MongooseConnection) {
  return conn.model('Connection', connectionSchema);
}
export type ConnectionModel = ReturnType<typeof createConnectionModel>;

// ---------------------------------------------------------------------------------------------------------------
// Encryption at rest of `config.secretAccessKey` and every `config.headers` value, on every write path. The
// associated data names the connection and the field, so a value moved elsewhere does not decrypt.

const SECRET_KEY_PATH = 'config.secretAccessKey';
const HEADERS_PATH = 'config.headers';
type Plain = Record<string, unknown>;
type StoredSecrets = { secretAccessKey?: unknown; headers?: Record<string, unknown> };
const SECRETS_PROJECTION = { [SECRET_KEY_PATH]: 1, [HEADERS_PATH]: 1 };

/** A connection's stored credentials, sealed, read through the driver (model queries never select them). */
async function storedSecrets(collection: MongooseCollection, id: string): Promise<StoredSecrets | undefined> {
  return (await collection.findOne<{ config?: StoredSecrets }>({ _id: id as never }, { projection: SECRETS_PROJECTION }))?.config;
}

const context = (id: string, path: string) => `Connection ${id} ${path}`;

function requireRing(conn: MongooseConnection): KeyRing {
  const ring = keyRingOf(conn);
  if (!ring) throw new Error(`Connection credentials are stored encrypted and no key is configured: ${HOW_TO_CONFIGURE}`);
  return ring;
}

function openField(ring: KeyRing | undefined, id: string, path: string, value: unknown): string {
  try {
    return open(ring, value, context(id, path));
  } catch (error) {
    throw new SecretDecryptionError(id, path, (error as Error).message);
  }
}

/**
 * A caller's value sealed for this connection and field. A value already sealed for exactly this connection and
 * field (by a save() that then failed, or by bulkSave's own save hook) stays as it is; anything else, a string that
 * only looks sealed included, is the caller's plaintext.
 */
function sealFor(ring: KeyRing, id: string, path: string, value: string): string {
  if (sealedWith(value)) {
    try {
      open(ring, value, context(id, path));
      return value;
    } catch {
      // Not sealed for this field: sealed as the caller's value below.
    }
  }
  return seal(ring, value, context(id, path));
}

/** Seals one header value, after checking it (a value is a credential: it is never quoted in an error). */
function sealHeader(ring: KeyRing, id: string, name: string, value: unknown): string {
  const problem = headerProblem(name, value);
  if (problem) throw validationError([{ path: `${HEADERS_PATH}.${name}`, message: `config.headers: ${problem}` }]);
  return sealFor(ring, id, `${HEADERS_PATH}.${name}`, value as string);
}

function sealHeaders(ring: KeyRing, id: string, headers: unknown): unknown {
  if (headers == null) return headers;
  if (typeof headers !== 'object' || Array.isArray(headers)) throw validationError([{ path: HEADERS_PATH, message: 'config.headers must be an object of header names to values' }]);
  const entries = headers instanceof Map ? [...headers] : Object.entries(headers);
  return Object.fromEntries(entries.map(([name, value]) => [name, sealHeader(ring, id, String(name), value)]));
}

function sealSecretKey(ring: KeyRing, id: string, value: unknown): unknown {
  return typeof value === 'string' ? sealFor(ring, id, SECRET_KEY_PATH, value) : value;
}

function sealConfig(ring: KeyRing, id: string, config: unknown): unknown {
  if (!config || typeof config !== 'object') return config;
  const sealed: Plain = { ...(config as Plain) };
  if ('secretAccessKey' in sealed) sealed.secretAccessKey = sealSecretKey(ring, id, sealed.secretAccessKey);
  if ('headers' in sealed) sealed.headers = sealHeaders(ring, id, sealed.headers);
  return sealed;
}

/** The value of one `$set` path, sealed when it is or holds a secret. */
function sealPath(ring: KeyRing, id: string, path: string, value: unknown): unknown {
  if (path === 'config') return sealConfig(ring, id, value);
  if (path === SECRET_KEY_PATH) return sealSecretKey(ring, id, value);
  if (path === HEADERS_PATH) return sealHeaders(ring, id, value);
  if (path.startsWith(`${HEADERS_PATH}.`)) return sealHeader(ring, id, path.slice(HEADERS_PATH.length + 1), value);
  return value;
}

const holdsSecret = (path: string) => path === 'config' || path === SECRET_KEY_PATH || path === HEADERS_PATH || path.startsWith(`${HEADERS_PATH}.`);
const SETTERS = ['$set', '$setOnInsert'];

/** Whether an update document writes a secret (operators other than $set/$setOnInsert/$unset are refused elsewhere). */
function writesSecret(update: unknown): boolean {
  if (!update || typeof update !== 'object' || Array.isArray(update)) return false;
  return Object.entries(update).some(([key, value]) =>
    SETTERS.includes(key) ? Object.keys((value ?? {}) as Plain).some(holdsSecret) : !key.startsWith('$') && holdsSecret(key),
  );
}

function sealUpdate(ring: KeyRing, id: string, update: Plain): Plain {
  const sealFields = (fields: Plain) => Object.fromEntries(Object.entries(fields).map(([path, value]) => [path, sealPath(ring, id, path, value)]));
  return Object.fromEntries(
    Object.entries(update).map(([key, value]) => [key, SETTERS.includes(key) ? sealFields(value as Plain) : key.startsWith('$') ? value : sealPath(ring, id, key, value)]),
  );
}

/** A raw document (insertMany, bulkWrite insertOne) with its secrets sealed; it gets its `_id` now, as the seal needs it. */
function sealRawDocument(ring: () => KeyRing, doc: Plain): Plain {
  if (!doc.config || typeof doc.config !== 'object') return doc;
  const id = typeof doc._id === 'string' ? doc._id : newId('cn');
  return { ...doc, _id: id, config: sealConfig(ring(), id, doc.config) };
}

// What a document's own seal replaced, by ciphertext, until it is written: a save() retried under another `_id`
// (after a DuplicateKeyError) seals the caller's value again for that id, not the ciphertext of the first.
const sealedFrom = new WeakMap<object, Map<string, string>>();

/** Seals, in place, what was set on a connection document (save(), create(), and documents given to insertMany or bulkWrite). */
function sealDocument(doc: ConnectionDocument): void {
  if (!doc.config) return;
  const id = doc._id;
  const seen = sealedFrom.get(doc) ?? new Map<string, string>();
  sealedFrom.set(doc, seen);
  const sealed = (value: string, sealValue: (plain: string) => string) => {
    const plain = seen.get(value) ?? value;
    const result = sealValue(plain);
    if (result !== plain) seen.set(result, plain);
    return result;
  };
  // A new document writes every path it holds, marked modified or not; a failed save leaves nothing marked
  // modified: what it sealed is sealed again all the same.
  const key: unknown = doc.get(SECRET_KEY_PATH);
  if (typeof key === 'string' && (doc.isNew || doc.isModified(SECRET_KEY_PATH) || seen.has(key))) {
    doc.set(SECRET_KEY_PATH, sealed(key, (plain) => sealFor(requireRing(doc.db), id, SECRET_KEY_PATH, plain)));
  }
  const headers: unknown = doc.get(HEADERS_PATH);
  if (headers instanceof Map && (doc.isNew || doc.isModified(HEADERS_PATH) || [...headers.values()].some((value) => seen.has(value as string)))) {
    for (const [name, value] of headers as Map<string, unknown>) {
      if (typeof value === 'string') headers.set(name, sealed(value, (plain) => sealHeader(requireRing(doc.db), id, name, plain)));
    }
  }
}

connectionSchema.pre('save', function () {
  sealDocument(this);
});
connectionSchema.post('save', function () {
  sealedFrom.delete(this);
});

// insertMany and bulkWrite run no save hook: each document or raw object is sealed here.
connectionSchema.pre('insertMany', function (docs: unknown) {
  const ring = () => requireRing(this.db);
  const list: unknown[] = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    if (!doc || typeof doc !== 'object') return;
    if (doc instanceof mongoose.Document) sealDocument(doc as ConnectionDocument);
    else if (Array.isArray(docs)) docs[i] = sealRawDocument(ring, doc as Plain);
    else Object.assign(doc, sealRawDocument(ring, doc as Plain));
  });
});
connectionSchema.pre('bulkWrite', function (ops) {
  const ring = () => requireRing(this.db);
  ops.forEach((op, i) => {
    if ('insertOne' in op) {
      const document: unknown = op.insertOne.document;
      if (document instanceof mongoose.Document) sealDocument(document as ConnectionDocument);
      else ops[i] = { insertOne: { ...op.insertOne, document: sealRawDocument(ring, document as Plain) as never } };
      return;
    }
    const write = 'updateOne' in op ? op.updateOne : 'updateMany' in op ? op.updateMany : 'replaceOne' in op ? op.replaceOne : undefined;
    if (!write) return;
    const replacement = 'replacement' in write ? (write.replacement as Plain) : undefined;
    const update = 'update' in write ? (write.update as Plain) : undefined;
    if (!(replacement ? replacement.config != null : writesSecret(update))) return;
    const id = pinnedId(write.filter) ?? replacement?._id;
    if (typeof id !== 'string') {
      throw validationError([{ path: 'config', message: "bulkWrite writes of a connection's credentials need the connection's _id in the filter" }]);
    }
    if (replacement) (write as { replacement: unknown }).replacement = { ...replacement, config: sealConfig(ring(), id, replacement.config) };
    else (write as { update: unknown }).update = sealUpdate(ring(), id, update!);
  });
});

/** The `_id` a filter fixes by equality, also inside the `$and` that other rules wrap a filter in. */
function pinnedId(filter: unknown): string | undefined {
  const id = equalities(filter)._id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * The one connection a query update writes, pinned in its filter: the seal is bound to it. Its `_id` from the
 * filter, else the document the filter matches, else (nothing matches yet) a new id for an upsert.
 */
async function pinTarget(query: Query<unknown, unknown>): Promise<string> {
  const filter = query.getFilter() as Plain;
  const pinned = pinnedId(filter);
  if (pinned !== undefined) return pinned;
  const found = await query.model.findOne(filter, { _id: 1 }, { sort: query.getOptions().sort }).lean<{ _id: string }>();
  const id = found?._id ?? newId('cn');
  query.where({ _id: id });
  return id;
}

connectionSchema.pre(['updateOne', 'findOneAndUpdate'], async function () {
  const update = this.getUpdate() as Plain | null;
  if (!writesSecret(update)) return;
  const ring = requireRing(this.model.db);
  this.setUpdate(sealUpdate(ring, await pinTarget(this), update!));
});

// Each connection's seal differs, so an updateMany of credentials becomes one updateOne per matched connection.
connectionSchema.pre('updateMany', async function () {
  const update = this.getUpdate() as Plain | null;
  if (!writesSecret(update)) return;
  const ring = requireRing(this.model.db);
  const filter = this.getFilter() as Plain;
  const pinned = pinnedId(filter);
  const ids = pinned !== undefined ? [pinned] : (await this.model.find(filter, { _id: 1 }).lean<Array<{ _id: string }>>()).map((d) => d._id);
  if (ids.length <= 1) {
    const id = ids[0] ?? newId('cn');
    this.where({ _id: id });
    this.setUpdate(sealUpdate(ring, id, update!));
    return;
  }
  let matchedCount = 0;
  let modifiedCount = 0;
  for (const id of ids) {
    // Sealed by the updateOne hook, for this one connection.
    const result = await this.model.updateOne({ ...filter, _id: id }, update!, { ...this.getOptions(), upsert: false } as mongoose.mongo.UpdateOptions);
    matchedCount += result.matchedCount;
    modifiedCount += result.modifiedCount;
  }
  throw mongoose.skipMiddlewareFunction({ acknowledged: true, matchedCount, modifiedCount, upsertedCount: 0, upsertedId: null });
});

connectionSchema.pre(['replaceOne', 'findOneAndReplace'], async function () {
  const replacement = this.getUpdate() as Plain | null;
  if (!replacement?.config) return;
  const ring = requireRing(this.model.db);
  const id = typeof replacement._id === 'string' ? replacement._id : await pinTarget(this);
  this.setUpdate({ ...replacement, config: sealConfig(ring, id, replacement.config) });
});

/**
 * Moves every stored credential of the connections to the current key and returns how many connections and values
 * it rewrote. Values under older keys keep decrypting until then; afterwards the older keys can be removed. A
 * credential stored in plaintext (written before the package encrypted them) is sealed too. A value that cannot be
 * opened (tampered, moved, or its key gone) is left as it is and listed in `failed`: one bad row does not stop the
 * rotation of the others.
 */
export async function reencryptSecrets(
  models: { Connection: ConnectionModel },
): Promise<{ connections: number; values: number; failed: Array<{ connectionId: string; field: string; reason: string }> }> {
  const { Connection } = models;
  const ring = requireRing(Connection.db);
  const cursor = Connection.collection.find<{ _id: string; config?: StoredSecrets }>(
    { $or: [{ [SECRET_KEY_PATH]: { $exists: true } }, { [HEADERS_PATH]: { $exists: true } }] },
    { projection: SECRETS_PROJECTION },
  );
  let connections = 0;
  let values = 0;
  const failed: Array<{ connectionId: string; field: string; reason: string }> = [];
  for await (const doc of cursor) {
    const stored: Array<[string, unknown]> = [];
    if (doc.config?.secretAccessKey != null) stored.push([SECRET_KEY_PATH, doc.config.secretAccessKey]);
    for (const [name, value] of Object.entries(doc.config?.headers ?? {})) stored.push([`${HEADERS_PATH}.${name}`, value]);
    const moved: Array<[string, unknown, string]> = [];
    for (const [path, value] of stored) {
      if (typeof value !== 'string') continue;
      try {
        // A value under the current key is opened too (not rewritten): one that cannot be is listed in `failed`.
        const plain = sealedWith(value) ? openField(ring, doc._id, path, value) : value;
        if (sealedWith(value) !== ring.current) moved.push([path, value, plain]);
      } catch (error) {
        failed.push({ connectionId: doc._id, field: path, reason: (error as Error).message });
      }
    }
    if (moved.length === 0) continue;
    const $set = Object.fromEntries(moved.map(([path, , plain]) => [path, seal(ring, plain, context(doc._id, path))]));
    // Only if no one rewrote these values meanwhile (a new write is under the current key already).
    const result = await Connection.collection.updateOne({ _id: doc._id, ...Object.fromEntries(moved.map(([path, value]) => [path, value])) } as never, { $set });
    if (result.modifiedCount > 0) {
      connections += 1;
      values += moved.length;
    }
  }
  return { connections, values, failed };
}
