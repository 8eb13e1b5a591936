import type { Schema } from 'mongoose';

/** Every `select: false` path of the schema, sub-documents included (e.g. `config.secretAccessKey`). */
export function secretPaths(schema: Schema, prefix = ''): string[] {
  const paths: string[] = [];
  schema.eachPath((path, type) => {
    const nested = (type as { schema?: Schema; $isSingleNested?: boolean }).$isSingleNested ? (type as { schema: Schema }).schema : undefined;
    if ((type.options as { select?: unknown }).select === false) paths.push(prefix + path);
    else if (nested) paths.push(...secretPaths(nested, `${prefix}${path}.`));
  });
  return paths;
}

/**
 * Keeps secret paths out of every plain copy of a document (`toJSON`, hence `JSON.stringify` and HTTP responses,
 * and `toObject`), even when a caller selected them with `+path` or just set them. Queries leave them out already
 * (`select: false`), `lean()` included.
 */
export function hideSecrets(schema: Schema, paths: readonly string[]): void {
  const transform = (_doc: unknown, ret: Record<string, unknown>) => {
    for (const path of paths) {
      const parts = path.split('.');
      const last = parts.pop() as string;
      const parent = parts.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), ret);
      if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[last];
    }
    return ret;
  };
  schema.set('toJSON', { ...schema.get('toJSON'), transform });
  schema.set('toObject', { ...schema.get('toObject'), transform });
}
