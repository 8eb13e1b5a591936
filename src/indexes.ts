// The explicit index build (tenant connections run with autoIndex off). A server may lack an index feature
// (FerretDB v1: partial, TTL and collation indexes); the build then makes every other index and says which one it
// could not make and the server's reason, instead of stopping at the first model. For a deploy, `planIndexes`
// shows what would change (mongoose's own diffIndexes, with options and what this server cannot build), and
// `applyIndexes` carries a plan out; nothing is dropped without `drop: true`.
import type { mongo } from 'mongoose';
import type { Capability, ServerFacts } from './capabilities.js';
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
      const index = options.name ?? defaultName(fields);
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

/** An index as the server would list it. */
export interface IndexSpec {
  name: string;
  key: Record<string, mongo.IndexDirection>;
  /** Its options besides key and name (unique, partialFilterExpression, expireAfterSeconds, collation, ...). */
  options: Record<string, unknown>;
}

export interface ModelIndexPlan {
  collection: string;
  /** Declared by the schema, missing on the server. */
  create: IndexSpec[];
  /** On the server under a declared index's name, with other keys or options: rebuilt only with `drop`. */
  change: IndexSpec[];
  /** On the server, no longer declared by the schema: dropped only with `drop`. */
  drop: IndexSpec[];
  /** Declared and missing, but the server cannot build what they ask for; not built. */
  cannotBuild: Array<IndexSpec & { reason: string }>;
  /** Names of the declared indexes the server already has. */
  unchanged: string[];
}

export interface IndexPlan {
  database: string;
  models: Record<ModelName, ModelIndexPlan>;
}

export interface IndexPlanOptions {
  /**
   * What the server can build (`probeServer`, src/capabilities.ts); without it every option is taken as buildable
   * and `applyIndexes` reports what the server refuses.
   */
  server?: Pick<ServerFacts, 'capabilities' | 'missing'>;
}

/** The index options a server may lack, and the capability each needs. */
export const INDEX_OPTION_NEEDS: Readonly<Record<string, Capability>> = {
  partialFilterExpression: 'partialIndexes',
  expireAfterSeconds: 'ttlIndexes',
  collation: 'collation',
};

type ServerIndex = { name: string; key: Record<string, mongo.IndexDirection>; v?: number; ns?: string } & Record<string, unknown>;

/** The name the server gives an index without one: `workspaceId_1_code_1`. */
const defaultName = (key: Record<string, unknown>) => Object.entries(key).map(([path, order]) => `${path}_${String(order)}`).join('_');

function declared([key, { _autoIndex, ...options }]: SchemaIndex): IndexSpec {
  return { name: typeof options.name === 'string' ? options.name : defaultName(key), key, options: withoutName(options) };
}

function listed({ name, key, v, ns, ...options }: ServerIndex): IndexSpec {
  return { name, key, options: withoutName(options) };
}

function withoutName({ name, ...options }: Record<string, unknown>): Record<string, unknown> {
  return options;
}

/** A collection not created yet has no index. */
function noCollection(error: { code?: unknown }): [] {
  if (error.code !== NAMESPACE_NOT_FOUND) throw error;
  return [];
}

/**
 * What would change on the models' database to match the schemas: per model, the indexes to create, to rebuild
 * and to drop, and the ones this server cannot build (with the capability it lacks). Sends only list commands.
 */
export async function planIndexes(models: Models, options: IndexPlanOptions = {}): Promise<IndexPlan> {
  const plan: IndexPlan = { database: models.Workspace.db.name, models: {} as IndexPlan['models'] };
  for (const name of Object.keys(models) as ModelName[]) {
    const model = models[name];
    const diff = await model.diffIndexes({ indexOptionsToCreate: true });
    const onServer = ((await model.listIndexes().catch(noCollection)) as ServerIndex[]).map(listed);
    const wanted = (diff.toCreate as SchemaIndex[]).map(declared);
    const byName = new Map(onServer.map((index) => [index.name, index]));
    const entry: ModelIndexPlan = { collection: model.collection.collectionName, create: [], change: [], drop: [], cannotBuild: [], unchanged: [] };
    for (const index of wanted) {
      const lacking = Object.keys(index.options).map((option) => INDEX_OPTION_NEEDS[option]).filter((c): c is Capability => c !== undefined && options.server?.capabilities[c] === false);
      const why = (capability: Capability) => `${capability}${options.server?.missing[capability] ? ` (${options.server.missing[capability]})` : ''}`;
      if (lacking.length > 0) entry.cannotBuild.push({ ...index, reason: `the server lacks ${lacking.map(why).join(', ')}` });
      else if (byName.has(index.name)) entry.change.push(index);
      else entry.create.push(index);
    }
    const rebuilt = new Set([...entry.change, ...entry.cannotBuild].map((index) => index.name));
    entry.drop = onServer.filter((index) => diff.toDrop.includes(index.name) && !rebuilt.has(index.name));
    const pending = new Set([...wanted.map((index) => index.name), ...diff.toDrop]);
    entry.unchanged = (model.schema.indexes() as SchemaIndex[]).map((index) => declared(index).name).filter((index) => !pending.has(index));
    plan.models[name] = entry;
  }
  return plan;
}

export type IndexProgress = {
  model: ModelName;
  index: string;
  action: 'create' | 'drop';
  state: 'started' | 'done' | 'skipped';
  /** Steps finished so far and in all, for a progress line. */
  done: number;
  total: number;
  reason?: string;
};

export interface ModelIndexResult {
  created: string[];
  dropped: string[];
  /** Indexes this server cannot build, and why. */
  notBuilt: IndexNotBuilt[];
  /** Changed indexes left as they are, because rebuilding them needs `drop`. */
  kept: string[];
}
export type IndexApplyResult = Record<ModelName, ModelIndexResult>;

export interface ApplyIndexesOptions {
  /** Drop the indexes the schemas no longer declare, and rebuild changed ones (drop, then create). */
  drop?: boolean;
  onProgress?: (progress: IndexProgress) => void;
}

const INDEX_NOT_FOUND = 27;
const NAMESPACE_NOT_FOUND = 26;

/**
 * Carries out a plan from `planIndexes`: creates the missing indexes and waits for each build; drops, and rebuilds
 * changed indexes, only with `drop: true`. An index the server cannot build is skipped with the server's reason;
 * any other failure (a unique index over duplicate data) throws, naming the model and the index.
 */
export async function applyIndexes(models: Models, plan: IndexPlan, options: ApplyIndexesOptions = {}): Promise<IndexApplyResult> {
  const drop = options.drop === true;
  type Step = { name: ModelName; index: IndexSpec; action: 'create' | 'drop'; notBuilt?: string; kept?: true };
  const steps = (Object.keys(plan.models) as ModelName[]).flatMap((name): Step[] => {
    const entry = plan.models[name];
    return [
      ...entry.cannotBuild.map((index): Step => ({ name, index, action: 'create', notBuilt: index.reason })),
      ...(drop ? entry.drop : []).map((index): Step => ({ name, index, action: 'drop' })),
      ...entry.change.flatMap((index): Step[] =>
        drop
          ? [{ name, index, action: 'drop' }, { name, index, action: 'create' }]
          : [{ name, index, action: 'create', kept: true }],
      ),
      ...entry.create.map((index): Step => ({ name, index, action: 'create' })),
    ];
  });
  const result = Object.fromEntries(Object.keys(plan.models).map((name) => [name, { created: [], dropped: [], notBuilt: [], kept: [] }])) as unknown as IndexApplyResult;
  let done = 0;
  const report = (step: Step, state: IndexProgress['state'], reason?: string) =>
    options.onProgress?.({ model: step.name, index: step.index.name, action: step.action, state, done, total: steps.length, ...(reason ? { reason } : {}) });
  for (const step of steps) {
    const { name, index, action } = step;
    const collection = models[name].collection;
    const notBuilt = (reason: string) => {
      result[name].notBuilt.push({ index: index.name, reason });
      done++;
      report(step, 'skipped', reason);
    };
    if (step.notBuilt) {
      notBuilt(step.notBuilt);
      continue;
    }
    if (step.kept) {
      result[name].kept.push(index.name);
      done++;
      report(step, 'skipped', 'the server has it with other keys or options: rebuilt only with drop');
      continue;
    }
    report(step, 'started');
    try {
      if (action === 'drop') {
        await collection.dropIndex(index.name).catch((error: { code?: unknown }) => {
          if (error.code !== INDEX_NOT_FOUND) throw error;
        });
        result[name].dropped.push(index.name);
      } else {
        await collection.createIndex(index.key, { ...index.options, name: index.name });
        result[name].created.push(index.name);
      }
    } catch (error) {
      const { code, message } = error as { code?: unknown; message?: string };
      if (action === 'create' && UNSUPPORTED_CODES.has(code as number)) {
        notBuilt(message ?? String(error));
        continue;
      }
      throw new Error(`applyIndexes: ${name} index ${index.name} could not be ${action === 'drop' ? 'dropped' : 'built'}: ${message ?? String(error)}`, { cause: error });
    }
    done++;
    report(step, 'done');
  }
  return result;
}
