import mongoose, { type Query, type Schema } from 'mongoose';

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

/** A ValidationError with one entry per problem, each on its own path (its `kind` the problem's code). */
export function validationError(problems: ReadonlyArray<{ path: string; message: string; code?: string }>) {
  const error = new mongoose.Error.ValidationError();
  for (const p of problems) error.addError(p.path, new mongoose.Error.ValidatorError({ path: p.path, message: p.message, type: p.code }));
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
  const refuse = (path: string) => validationError([{ path, message: `${path} is immutable: it cannot be changed once the document exists` }]);
  schema.pre(['updateOne', 'updateMany', 'findOneAndUpdate'], function (this: Query<unknown, unknown>) {
    for (const path of updatedPaths(this.getUpdate())) {
      const root = immutable.find((p) => path === p || path.startsWith(`${p}.`));
      if (root) throw refuse(root);
    }
  });
  // A replacement carries every field: it may keep an immutable value, never change it.
  schema.pre(['replaceOne', 'findOneAndReplace'], async function (this: Query<unknown, unknown>) {
    const replacement = (this.getUpdate() ?? {}) as Record<string, unknown>;
    const current = await this.model.findOne(this.getFilter(), Object.fromEntries(immutable.map((p) => [p, 1]))).lean<Record<string, unknown>>();
    for (const path of immutable) {
      if (current && String(current[path]) !== String(replacement[path])) throw refuse(path);
    }
  });
}
