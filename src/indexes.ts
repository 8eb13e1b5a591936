// The explicit index build (tenant connections run with autoIndex off). A server may lack an index feature
// (FerretDB v1: partial, TTL and collation indexes); the build then makes every other index and says which one it
// could not make and the server's reason, instead of stopping at the first model.
import type { mongo } from 'mongoose';
import type { Models, ModelName } from './makeModels.js';

export interface IndexNotBuilt {
  /** The index's name, as the server would call it (e.g. `email_1`). */
  index: string;
  /** The server's own reason. */
  reason: string;
}

export interface ModelIndexReport {
  /** Indexes the schema no longer declares, dropped. */
  dropped: string[];
  /** Indexes this server cannot build. */
  notBuilt: IndexNotBuilt[];
}

export type IndexReport = Record<ModelName, ModelIndexReport>;

type SchemaIndex = [Record<string, mongo.IndexDirection>, mongo.CreateIndexesOptions & { _autoIndex?: boolean }];

// The server does not implement what the index asks for (NotImplemented, CommandNotSupported): not an error in the
// schema or the data, so the other indexes still get built.
const UNSUPPORTED_CODES = new Set([238, 115]);

/**
 * Builds every model's indexes that the server can build, drops the indexes the schemas no longer declare, and
 * reports per model what it dropped and what it could not build. Any other failure (a unique index over duplicate
 * data, options that conflict with an existing index) throws an error naming the model and the index.
 */
export async function syncIndexes(models: Models): Promise<IndexReport> {
  const report = {} as IndexReport;
  for (const name of Object.keys(models) as ModelName[]) {
    const model = models[name];
    await model.createCollection().catch((error: { code?: unknown }) => {
      if (error.code !== 48) throw error; // NamespaceExists
    });
    const notBuilt: IndexNotBuilt[] = [];
    const dropped = await model.cleanIndexes();
    // `_autoIndex` is mongoose's own mark, not an index option.
    for (const [fields, { _autoIndex, ...options }] of model.schema.indexes() as SchemaIndex[]) {
      const index = options.name ?? Object.entries(fields).map(([path, order]) => `${path}_${order}`).join('_');
      try {
        await model.collection.createIndex(fields, options);
      } catch (error) {
        const { code, message } = error as { code?: unknown; message?: string };
        if (!UNSUPPORTED_CODES.has(code as number)) {
          throw new Error(`syncIndexes: ${name} index ${index} could not be built: ${message ?? String(error)}`, { cause: error });
        }
        notBuilt.push({ index, reason: message ?? String(error) });
      }
    }
    report[name] = { dropped, notBuilt };
  }
  return report;
}
