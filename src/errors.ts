import type { Model, MongooseQueryMiddleware, Schema } from 'mongoose';

// The errors a service can act on. Each has a stable `code` and is recognisable with `instanceof` even when an
// app loads both the CommonJS and the ESM copy of the package (the dual-package hazard): every instance carries a
// brand under a `Symbol.for` key, and each class's `Symbol.hasInstance` checks the brand, not the prototype.
const BRAND = Symbol.for('@event-streaming-platform/data-models/error');

type Branded = { [BRAND]?: string };

function brand(target: abstract new (...args: never[]) => Error, kind: string): void {
  Object.defineProperty(target.prototype, BRAND, { value: kind, enumerable: false });
  Object.defineProperty(target, Symbol.hasInstance, {
    value: (value: unknown) => typeof value === 'object' && value !== null && (value as Branded)[BRAND] === kind,
  });
}

/** A write broke a unique index: `fields` names the fields (and values) that are already taken. */
export class DuplicateKeyError extends Error {
  override readonly name = 'DuplicateKeyError';
  readonly code = 11000;

  constructor(
    readonly modelName: string,
    /** The unique fields of the index that was hit, with the values written when they are known. */
    readonly fields: Record<string, unknown>,
    options: { cause: unknown },
  ) {
    const names = Object.keys(fields);
    const described = names.map((f) => (fields[f] === undefined ? f : `${f} ${JSON.stringify(fields[f])}`));
    super(`${modelName}: ${described.join(', ') || 'a unique value'} already exists`, options);
  }
}
brand(DuplicateKeyError, 'DuplicateKeyError');

/** Another writer changed the document since it was read (a stale `save()`, or a lost race of a checked update). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  readonly code = 'conflict';

  constructor(
    readonly modelName: string,
    readonly documentId: string | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(`${modelName}${documentId ? ` "${documentId}"` : ''} was changed by another writer: load it again and retry`, options);
  }
}
brand(ConflictError, 'ConflictError');

/** A query of a workspace-scoped model does not constrain `workspaceId` to one workspace (and did not opt out). */
export class TenantScopeError extends Error {
  override readonly name = 'TenantScopeError';
  readonly code = 'tenant-scope';

  constructor(
    readonly modelName: string,
    readonly operation: string,
    detail = 'must constrain workspaceId by equality to one workspace id',
  ) {
    super(`${modelName}.${operation} ${detail} (or pass the query option allWorkspaces: true for a cross-workspace job)`);
  }
}
brand(TenantScopeError, 'TenantScopeError');

/**
 * A query the package will not send: a filter, sort, projection or distinct on a secret path, an operator that runs
 * code or compares fields (`$where`, `$expr`, `$function`, `$accumulator`), an aggregate that does not start with a
 * `$match` or reaches another collection, or an update pipeline. `path` names the offending path, key or stage.
 */
export class UnsafeQueryError extends Error {
  override readonly name = 'UnsafeQueryError';
  readonly code = 'unsafe-query';

  constructor(
    readonly modelName: string,
    readonly path: string,
    reason: string,
  ) {
    super(`${modelName}: ${reason}`);
  }
}
brand(UnsafeQueryError, 'UnsafeQueryError');

/** A stored secret could not be decrypted: a tampered or moved ciphertext, or a key that is not configured. */
export class SecretDecryptionError extends Error {
  override readonly name = 'SecretDecryptionError';
  readonly code = 'secret-decryption';

  constructor(
    readonly documentId: string,
    readonly field: string,
    reason: string,
  ) {
    super(`cannot decrypt ${field} of connection "${documentId}": ${reason}`);
  }
}
brand(SecretDecryptionError, 'SecretDecryptionError');

interface ServerDuplicateError {
  code: 11000;
  keyValue?: Record<string, unknown>;
  writeErrors?: Array<{ err?: { op?: Record<string, unknown> } }>;
}

function isDuplicateKeyError(error: unknown): error is ServerDuplicateError {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/** The keys of every unique index of the schema, e.g. `[['code'], ['workspaceId', 'code']]`. */
function uniqueKeys(schema: Schema): string[][] {
  return schema.indexes().flatMap(([fields, options]) => (options?.unique ? [Object.keys(fields)] : []));
}

function read(doc: Record<string, unknown> | undefined, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
}

/**
 * Names the fields behind a duplicate key error. Real mongod says so itself (`keyValue`); FerretDB only says
 * "duplicate key", so for an insert we ask the database which unique index already holds the new document's values.
 */
async function describe(
  model: Model<unknown>,
  error: ServerDuplicateError,
  written: Record<string, unknown> | undefined,
): Promise<Record<string, unknown>> {
  if (error.keyValue && Object.keys(error.keyValue).length > 0) return error.keyValue;
  const keys = uniqueKeys(model.schema);
  if (written) {
    for (const fields of [['_id'], ...keys]) {
      const filter = Object.fromEntries(fields.map((f) => [f, read(written, f)]));
      if (Object.values(filter).some((v) => v === undefined)) continue;
      // A global look-up of the package's own (a unique value may be taken in any workspace).
      if (await model.exists(filter).setOptions({ allWorkspaces: true }).catch(() => null)) return filter;
    }
  }
  return Object.fromEntries(keys.flat().map((f) => [f, undefined]));
}

const QUERY_WRITES: MongooseQueryMiddleware[] = ['updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace'];

/** Turns the server's E11000 on every write path into a DuplicateKeyError that names the field. */
export function duplicateKeyErrors(schema: Schema): void {
  schema.post('save', { errorHandler: true }, async function (error, doc) {
    if (!isDuplicateKeyError(error)) throw error;
    const model = this.constructor as Model<unknown>;
    throw new DuplicateKeyError(model.modelName, await describe(model, error, doc?.toObject() ?? this.toObject()), { cause: error });
  });
  schema.post('insertMany', { errorHandler: true }, async function (error) {
    if (!isDuplicateKeyError(error)) throw error;
    const op = error.writeErrors?.[0]?.err?.op;
    throw new DuplicateKeyError(this.modelName, await describe(this, error, op), { cause: error });
  });
  schema.post(QUERY_WRITES, { errorHandler: true }, async function (error) {
    if (!isDuplicateKeyError(error)) throw error;
    throw new DuplicateKeyError(this.model.modelName, await describe(this.model, error, undefined), { cause: error });
  });
}
