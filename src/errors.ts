import mongoose, { type Model, type MongooseQueryMiddleware, type Schema } from 'mongoose';

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
    const described = names.map((f) => (fields[f] === undefined ? f : `${f} ${shortened(JSON.stringify(fields[f]))}`));
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
/** A message part that may carry the caller's input, cut to a few hundred characters. */
function cut(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export class TenantScopeError extends Error {
  override readonly name = 'TenantScopeError';
  readonly code = 'tenant-scope';

  constructor(
    readonly modelName: string,
    readonly operation: string,
    detail = 'must constrain workspaceId by equality to one workspace id',
  ) {
    super(`${modelName}.${operation} ${cut(detail)} (or pass the query option allWorkspaces: true for a cross-workspace job)`);
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
    path: string,
    reason: string,
  ) {
    super(`${modelName}: ${cut(reason)}`);
    this.path = cut(path);
  }

  readonly path: string;
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

/** A value as an error message may show it: its first few characters only, whatever its size. */
function shortened(text: string): string {
  return text.length > 40 ? `${text.slice(0, 32)}…` : text;
}

interface ServerDuplicateError {
  code: 11000;
  keyValue?: Record<string, unknown>;
  writeErrors?: Array<{ op?: Record<string, unknown>; err?: { op?: Record<string, unknown> } }>;
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
    // The schema's unique keys first: on a sharded collection they start with the shard key (docs/SCALING.md).
    for (const fields of [...keys, ['_id']]) {
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
  // bulkWrite's MongoBulkWriteError carries the first failed operation's document (an insertOne's).
  schema.post('bulkWrite', { errorHandler: true }, async function (this: Model<unknown>, error: unknown) {
    if (!isDuplicateKeyError(error)) throw error;
    const first = error.writeErrors?.[0];
    throw new DuplicateKeyError(this.modelName, await describe(this, error, first?.err?.op ?? first?.op), { cause: error });
  });
}

/**
 * Turns mongoose's VersionError into a ConflictError. The schemas that people edit set `optimisticConcurrency`, so
 * a `save()` of a document that another writer changed since it was read fails, whatever field changed.
 */
export function conflictErrors(schema: Schema): void {
  schema.post('save', { errorHandler: true }, function (error) {
    if ((error as { name?: unknown }).name !== 'VersionError') throw error;
    throw new ConflictError((this.constructor as Model<unknown>).modelName, String(this._id), { cause: error });
  });
}

// Every invalid input ends as one documented error: mongoose's ValidationError (one mongoose per app: it is a peer
// dependency), each entry on the path it concerns, its message naming the path and the rule, never the value.
const { CastError, StrictModeError, ValidationError, ValidatorError } = mongoose.Error;
type ValidationErrorType = InstanceType<typeof ValidationError>;
type Problem = { path: string; message: string; code?: string };

/** One entry of a ValidationError, as a service should read it: the path and a message without the value. */
function problemOf(path: string, error: unknown): Problem {
  if (error instanceof ValidatorError) return { path, message: withoutValue(error), code: error.kind };
  if (error instanceof StrictModeError) {
    // bulkWrite's cast gives no path for an immutable field, only "Field <path> is immutable" in its message.
    const named = (error.path as string | null) ?? /^Field (\S+) is immutable/.exec(error.message)?.[1] ?? '';
    const immutable = error.isImmutableError || /^Field \S+ is immutable/.test(error.message);
    // An unknown field: mongoose names it relative to where it was found (`config` for "Cast to Embedded").
    const field = path.endsWith(named) ? path || named : path ? `${path}.${named}` : named;
    return immutable
      ? { path: field, message: `${field} is immutable: it cannot be changed once the document exists`, code: 'immutable' }
      : { path: field, message: `${field} is not a field here`, code: 'unknown-field' };
  }
  if (error instanceof CastError) {
    const limit = (error as { limit?: unknown }).limit;
    if (typeof limit === 'string') return { path, message: `${path} is too large: ${limit}`, code: 'limit' };
    if (error.reason instanceof StrictModeError || error.reason instanceof CastError) return problemOf(path, error.reason);
    return { path, message: `${path} must be ${article(error.kind)}`, code: 'cast' };
  }
  return { path, message: `${path} is not valid`, code: 'invalid' };
}

/**
 * A validator's message with the value it was given cut to its first characters: mongoose's default messages (enum,
 * maxlength, match) repeat the value, which may be megabytes or a secret.
 */
function withoutValue(error: InstanceType<typeof ValidatorError>): string {
  const { value, enumValues, path } = error.properties as unknown as { value?: unknown; enumValues?: unknown; path?: unknown };
  if (typeof value !== 'string' || value.length <= 8) return error.message;
  if (error.message.includes(value)) return error.message.split(value).join(`${value.slice(0, 8)}…`);
  // mongoose formats with String.replace, so a value holding "$`" is printed mangled: still the caller's text.
  if (!error.message.includes(value.slice(0, 9))) return error.message;
  return error.kind === 'enum' && Array.isArray(enumValues) ? `${String(path)} must be one of ${enumValues.join(', ')}` : `${String(path)} is not valid`;
}

function echoesValue(error: unknown): boolean {
  return error instanceof ValidatorError && withoutValue(error) !== error.message;
}

function article(kind: string): string {
  const type = kind.toLowerCase();
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * A ValidationError holding `problems` (`code` becomes each entry's `kind`), its message built once: mongoose's
 * addError rebuilds it per entry, quadratic in the number of problems. The original error is not kept as a
 * cause: mongoose's cast messages print the value, which may be a secret.
 */
export function validationErrorOf(problems: readonly Problem[]): ValidationErrorType {
  const error = new ValidationError();
  for (const p of problems) error.errors[p.path] = new ValidatorError({ path: p.path, message: p.message, type: p.code });
  error.message = `Validation failed: ${problems.map((p) => `${p.path}: ${p.message}`).join(', ')}`;
  return error;
}

/**
 * The documented validation error for any error of invalid input mongoose gives (ValidationError, CastError,
 * StrictModeError, a limit), or undefined when `error` is something else.
 */
export function toValidationError(error: unknown): ValidationErrorType | undefined {
  if (error instanceof ValidationError) {
    const entries = Object.entries(error.errors);
    if (entries.every(([, e]) => e instanceof ValidatorError && !echoesValue(e))) return error;
    return validationErrorOf(entries.map(([path, e]) => problemOf(path, e)));
  }
  if (error instanceof CastError || error instanceof StrictModeError) {
    return validationErrorOf([problemOf(error instanceof CastError ? error.path : '', error)]);
  }
  return undefined;
}

const QUERIES: MongooseQueryMiddleware[] = [
  'find', 'findOne', 'countDocuments', 'distinct', 'deleteOne', 'deleteMany', 'findOneAndDelete',
  'updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace',
];

/**
 * Turns every error of invalid input into the documented ValidationError: on validate (so on save, create and
 * insertMany), on every query, and around create/insertMany (mongoose's constructor throws a StrictModeError for
 * an unknown field before any hook runs).
 */
export function validationErrors(schema: Schema): void {
  const convert = (error: unknown) => {
    throw toValidationError(error) ?? error;
  };
  schema.post('validate', { errorHandler: true }, convert);
  schema.post('save', { errorHandler: true }, convert);
  schema.post('insertMany', { errorHandler: true }, convert);
  schema.post(QUERIES, { errorHandler: true }, convert);
  for (const method of ['create', 'insertMany'] as const) {
    const original = mongoose.Model[method] as unknown as (this: Model<unknown>, ...args: unknown[]) => Promise<unknown>;
    schema.static(method, function (this: Model<unknown>, ...args: unknown[]) {
      return original.apply(this, args).catch(convert);
    });
  }
}

/** What a service sends to its API client for an error: a plain object, with no internal detail. */
export interface DescribedError {
  status: 400 | 403 | 404 | 409 | 500;
  code: 'validation' | 'unsafe-query' | 'tenant-scope' | 'not-found' | 'duplicate' | 'conflict' | 'internal';
  message: string;
  /** Per path, what is wrong with it (validation), or which unique value is taken (duplicate). */
  fields: Record<string, string>;
}

/**
 * Maps any error to the answer a control API gives: 400 invalid input (every path named), 403 a query outside its
 * workspace, 404 a document that does not exist (mongoose's DocumentNotFoundError, from `orFail()`), 409 a
 * duplicate or a conflicting write, 500 anything else, with a generic message and no detail.
 */
export function describeError(error: unknown): DescribedError {
  const invalid = toValidationError(error);
  if (invalid) {
    const fields = Object.fromEntries(Object.entries(invalid.errors).map(([path, e]) => [path, e.message]));
    return { status: 400, code: 'validation', message: `Invalid input: ${Object.keys(fields).join(', ')}`, fields };
  }
  if (error instanceof TenantScopeError) return { status: 403, code: 'tenant-scope', message: error.message, fields: {} };
  if (error instanceof UnsafeQueryError) return { status: 400, code: 'unsafe-query', message: error.message, fields: { [error.path]: error.message } };
  if (error instanceof mongoose.Error.DocumentNotFoundError) return { status: 404, code: 'not-found', message: 'Not found', fields: {} };
  if (error instanceof DuplicateKeyError) {
    const fields = Object.fromEntries(Object.keys(error.fields).map((f) => [f, `${f} is already taken`]));
    return { status: 409, code: 'duplicate', message: error.message, fields };
  }
  // A duplicate the package did not convert (e.g. a bulkWrite of another model's connection): still a 409.
  if (isDuplicateKeyError(error)) return { status: 409, code: 'duplicate', message: 'A unique value is already taken', fields: {} };
  if (error instanceof ConflictError || error instanceof mongoose.Error.VersionError) {
    return { status: 409, code: 'conflict', message: 'The document was changed by another writer: load it again and retry', fields: {} };
  }
  const refused = refusedByMongoose(error);
  if (refused) return { status: 400, code: 'unsafe-query', message: refused, fields: {} };
  return { status: 500, code: 'internal', message: 'Internal error', fields: {} };
}

/**
 * Inputs mongoose itself refuses before the package's rules see them (it checks them first): the caller's input,
 * so a 400, with mongoose's fixed message (it repeats no input).
 */
const MONGOOSE_INPUT_ERRORS = [/^Cannot use \$where filter with populate\(\) match$/, /^Arguments must be aggregate pipeline operators$/, /^Invalid sort\(\) argument/];
function refusedByMongoose(error: unknown): string | undefined {
  if (!(error instanceof mongoose.Error || error instanceof TypeError)) return undefined;
  const known = MONGOOSE_INPUT_ERRORS.find((pattern) => pattern.test(error.message));
  return known ? error.message.slice(0, 100) : undefined;
}
