import mongoose, { type MongooseQueryMiddleware, type Query, type Schema } from 'mongoose';

const UPDATES: MongooseQueryMiddleware[] = ['updateOne', 'updateMany', 'findOneAndUpdate', 'replaceOne', 'findOneAndReplace'];
const WRITE_OPERATORS = ['$set', '$unset', '$rename', '$inc', '$mul', '$min', '$max', '$push', '$addToSet', '$pull', '$pullAll', '$pop', '$currentDate'];

/** The top-level paths an update document writes (a replacement or `{ field: value }` writes its keys). */
export function updatedPaths(update: unknown): string[] {
  if (!update || typeof update !== 'object' || Array.isArray(update)) return [];
  const paths: string[] = [];
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) paths.push(key);
    else if (WRITE_OPERATORS.includes(key) && value && typeof value === 'object') {
      paths.push(...Object.keys(value));
      if (key === '$rename') paths.push(...Object.values(value as Record<string, string>));
    }
  }
  return paths;
}

export function validationError(path: string, message: string): mongoose.Error.ValidationError {
  const error = new mongoose.Error.ValidationError();
  error.addError(path, new mongoose.Error.ValidatorError({ path, message }));
  return error;
}

/**
 * Refuses an update that writes an immutable path (a document's tenant, a connection's type, a session's
 * principal). Mongoose alone would drop such a change silently from an update and report success.
 */
export function refuseImmutableUpdates(schema: Schema): void {
  const immutable = Object.entries(schema.paths)
    .filter(([, type]) => (type.options as { immutable?: unknown }).immutable === true)
    .map(([path]) => path);
  if (immutable.length === 0) return;
  schema.pre(UPDATES, function (this: Query<unknown, unknown>) {
    for (const path of updatedPaths(this.getUpdate())) {
      const root = immutable.find((p) => path === p || path.startsWith(`${p}.`));
      if (root) throw validationError(root, `${root} is immutable: it cannot be changed once the document exists`);
    }
  });
}
