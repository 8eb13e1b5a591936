import mongoose, { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema, type SchemaType } from 'mongoose';
import { ACTIVE_STATUSES, STREAM_TYPES } from '../contracts/enums.js';
import { nodeId as contractsNodeId, validatePipelineGraph, type GraphProblem, type NodeKind, type PipelineGraph } from '../contracts/pipelineGraph.js';
import type { NodePosition } from '../contracts/documents.js';
import { validationErrorOf } from '../errors.js';
import { isCode, isTopic } from '../contracts/rules.js';
import { codeWhenMissing } from './freeCode.js';
import { guardPipelineGraphUpdates } from './pipelineGraphUpdates.js';
import { idField, nameField, schemaOptions, workspaceIdField } from './fields.js';

const topicField = {
  type: String,
  required: true,
  trim: true,
  validate: { validator: isTopic, message: '{PATH} is not a stream topic (1-249 of A-Z a-z 0-9 . _ -)' },
} as const;
const descriptionField = { type: String, trim: true, maxlength: 2000 } as const;
const sub = { _id: false, strict: 'throw' } as const;

const streamDefinitionSchema = Schema.create(
  {
    topic: topicField,
    type: { type: String, enum: STREAM_TYPES, required: true },
    description: descriptionField,
  },
  sub,
);

const clientConfigRefSchema = Schema.create(
  {
    clientId: { type: String, ref: 'Client', required: true },
    role: { type: String, trim: true },
    connectorType: { type: String, trim: true },
    streamName: topicField,
    description: descriptionField,
  },
  sub,
);

const connectionConfigRefSchema = Schema.create(
  {
    connectionId: { type: String, ref: 'Connection', required: true },
    connectorType: { type: String, trim: true },
    streamName: topicField,
    description: descriptionField,
  },
  sub,
);

const transformConfigSchema = Schema.create(
  {
    type: { type: String, required: true, trim: true },
    sourceStream: topicField,
    targetStream: topicField,
    failureQueue: { ...topicField, required: false },
    // Bounded by contracts/limits.ts, like every list and name here.
    expression: { type: String },
    description: descriptionField,
    isPaused: { type: Boolean, default: false, required: true },
  },
  sub,
);

const castNumber = mongoose.Schema.Types.Number.cast() as (value: unknown) => number;

/**
 * A layout position as given, copied, its coordinates cast like any Number path ("12" is 12). What is not a
 * position is left as it is: the graph rules report it (contracts' positionProblems).
 */
function castPosition(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const position: Record<string, unknown> = { ...value };
  for (const axis of ['x', 'y']) {
    try {
      if (position[axis] != null) position[axis] = castNumber(position[axis]);
    } catch {
      // Not a number: reported by the graph rules, on the same path.
    }
  }
  return position;
}

/** A Mixed value typed as a position: mongoose's type hints (type-level only) give the inferred documents `NodePosition`. */
const positionType = { type: 'Mixed', set: castPosition } as {
  type: 'Mixed';
  set: typeof castPosition;
  __typehint: NodePosition;
  __rawDocTypeHint: NodePosition;
  __hydratedDocTypeHint: NodePosition;
};

export const pipelineSchema = Schema.create(
  {
    _id: idField('pl'),
    workspaceId: workspaceIdField,
    name: nameField,
    // Unique within the workspace (index below); derived from the name when not given (see freeCode).
    code: {
      type: String,
      trim: true,
      validate: { validator: isCode, message: 'code must be exactly 4 lowercase letters a-z' },
    },
    // A new pipeline is inactive until a service has checked its clients and connections and activates it.
    status: { type: String, enum: ACTIVE_STATUSES, default: 'inactive', required: true, index: true },
    streams: { type: [streamDefinitionSchema], default: [] },
    sourceClients: { type: [clientConfigRefSchema], default: [] },
    sinkConnections: { type: [connectionConfigRefSchema], default: [] },
    // The graph rules, the seed's unique targetStream among them, are checked on the whole document (below).
    transforms: { type: [transformConfigSchema], default: [] },
    // UI layout: node id (see nodeId in contracts) -> {x, y}. Each position is a plain value checked with the
    // graph (positionProblems): a sub-document per position cost more than the rest of a 200-node pipeline's
    // create (mongoose's constructor and validate(); bench scenario 3).
    nodePositions: {
      type: Map,
      of: positionType,
      default: () => new Map(),
    },
  },
  {
    ...schemaOptions,
    // Edited by people: a stale save() is a ConflictError, whatever field changed.
    optimisticConcurrency: true,
    statics: {
      /**
       * What the database says of the pipeline's links, for a service to call before it activates a pipeline:
       * every source client and sink connection must exist and be active. Returns every problem, [] when none.
       */
      async checkLinks(pipeline: PipelineGraph): Promise<LinkProblem[]> {
        const clients = pipeline.sourceClients ?? [];
        const connections = pipeline.sinkConnections ?? [];
        const statusOf = async (modelName: 'Client' | 'Connection', ids: string[]) => {
          const found = await this.db.model(modelName).find({ _id: mongoose.trusted({ $in: [...new Set(ids)] }) }, { status: 1 }).lean<Array<{ _id: string; status: string }>>();
          return new Map(found.map((d) => [d._id, d.status]));
        };
        const clientStatus = await statusOf('Client', clients.map((c) => c.clientId));
        const connectionStatus = await statusOf('Connection', connections.map((c) => c.connectionId));
        const problems: LinkProblem[] = [];
        const check = (path: string, kind: 'client' | 'connection', id: string, status: string | undefined) => {
          if (status === undefined) problems.push({ path, code: `unknown-${kind}`, message: `${kind} "${id}" does not exist` });
          else if (status !== 'active') problems.push({ path, code: `inactive-${kind}`, message: `${kind} "${id}" is ${status}` });
        };
        clients.forEach((c, i) => check(`sourceClients.${i}.clientId`, 'client', c.clientId, clientStatus.get(c.clientId)));
        connections.forEach((c, i) => check(`sinkConnections.${i}.connectionId`, 'connection', c.connectionId, connectionStatus.get(c.connectionId)));
        return problems;
      },
    },
  },
);

/** A link of a pipeline that the database does not back: a missing or inactive client or connection. */
export interface LinkProblem {
  path: string;
  code: 'unknown-client' | 'inactive-client' | 'unknown-connection' | 'inactive-connection';
  message: string;
}

// Served queries: a workspace's pipeline by code (unique), and "which pipelines use client/connection X"
// (before a client or connection is deactivated or deleted).
pipelineSchema.index({ workspaceId: 1, code: 1 }, { unique: true });
pipelineSchema.index({ 'sourceClients.clientId': 1 });
pipelineSchema.index({ 'sinkConnections.connectionId': 1 });
// Served query: a workspace's pipelines by status (the control API's list); starts with the shard key
// (docs/SCALING.md).
pipelineSchema.index({ workspaceId: 1, status: 1 });

pipelineSchema.plugin(codeWhenMissing, ['workspaceId']);
// The whole graph must make sense before it is saved (contracts/pipelineGraph.ts); every problem is reported on
// its own path. Query updates of graph fields are checked, or refused, by guardPipelineGraphUpdates (pipelineGraphUpdates.ts).
// The graph's problems join the field rules' errors in one ValidationError, built once: invalidating path by path
// makes mongoose rebuild the error's message per problem (quadratic: 800 problems cost 150 ms of CPU).
type Problem = { path: string; message: string; code?: string };
const graphProblems = new WeakMap<object, Problem[]>();
type SubdocumentValues = { _doc?: Record<string, unknown> };
/** What mongoose's SchemaType has and its typings leave out. */
type CheckedSchemaType = SchemaType & {
  clone(): CheckedSchemaType;
  isRequired: boolean;
  doValidateSync(value: unknown, scope: unknown): InstanceType<typeof mongoose.Error.ValidatorError> | null;
};
/**
 * The graph as the document holds it, each sub-document's stored values (`_doc`) instead of the sub-document:
 * the rules read ~700 values of a large pipeline, and each read through a sub-document's getters costs more than
 * all the rules (92 µs on plain values, 420 µs through the getters: bench scenario 3).
 */
function graphValues(doc: PipelineGraph): PipelineGraph {
  const values = <T>(list: ReadonlyArray<T> | null | undefined) => list?.map((item) => ((item as SubdocumentValues)._doc ?? item) as T);
  return {
    streams: values(doc.streams),
    sourceClients: values(doc.sourceClients),
    sinkConnections: values(doc.sinkConnections),
    transforms: values(doc.transforms),
    nodePositions: doc.nodePositions,
  };
}

const GRAPH_LISTS = ['streams', 'sourceClients', 'sinkConnections', 'transforms'] as const;
/**
 * The graph lists' field rules (required, enum, topic, maxlength), taken from mongoose's per-sub-document
 * validate() and run in one pass by the pipeline's pre('validate'): a validate() per sub-document cost ~1.2 ms of a
 * large pipeline's validate() (bench scenario 3). Each rule is a copy of its path, run with mongoose's own
 * `doValidateSync`, so messages, kinds and paths are mongoose's. Every sub-document is checked on every save,
 * like the graph rules.
 */
const listRules = GRAPH_LISTS.map((list) => {
  const schema = (pipelineSchema.path(list) as SchemaType & { schema: Schema }).schema;
  const rules: Array<[string, CheckedSchemaType]> = [];
  schema.eachPath((path, schemaType) => {
    const type = schemaType as CheckedSchemaType;
    if (type.validators.length === 0) return;
    rules.push([path, type.clone()]);
    type.validators = [];
    type.isRequired = false;
  });
  schema.requiredPaths(true);
  return [list, rules] as const;
});

function listProblems(doc: PipelineGraph): Problem[] {
  const problems: Problem[] = [];
  for (const [list, rules] of listRules) {
    (doc[list] ?? []).forEach((item, i) => {
      const values = (item as SubdocumentValues)._doc ?? (item as Record<string, unknown>);
      for (const [path, rule] of rules) {
        const error = rule.doValidateSync(values[path], item);
        if (error) problems.push({ path: `${list}.${i}.${path}`, message: error.message, code: error.kind });
      }
    });
  }
  return problems;
}

pipelineSchema.pre('validate', function () {
  const problems = [...listProblems(this), ...validatePipelineGraph(graphValues(this))];
  if (problems.length > 0) graphProblems.set(this, problems);
  else graphProblems.delete(this);
});
// Each hook takes the problems: the error handler also sees the error the hook before it threw.
const takeProblems = (doc: object) => {
  const problems = graphProblems.get(doc);
  graphProblems.delete(doc);
  return problems;
};
pipelineSchema.post('validate', function () {
  const problems = takeProblems(this);
  if (problems) throw validationErrorOf(problems);
});
pipelineSchema.post('validate', { errorHandler: true }, function (error: unknown) {
  const problems = takeProblems(this);
  if (!problems || !(error instanceof mongoose.Error.ValidationError)) throw error;
  const fields = Object.entries(error.errors).map(([path, e]) => ({ path, message: e.message, code: e.kind }));
  // A field's own error (e.g. over its limit) says more than the graph rule its value then breaks: it wins its path.
  throw validationErrorOf([...problems, ...fields]);
});
pipelineSchema.plugin(guardPipelineGraphUpdates);

export type Pipeline = InferSchemaType<typeof pipelineSchema>;
export type PipelineDocument = ObtainSchemaGeneric<typeof pipelineSchema, 'THydratedDocumentType'>;
export type StreamDefinition = InferSchemaType<typeof streamDefinitionSchema>;
export type ClientConfigRef = InferSchemaType<typeof clientConfigRefSchema>;
export type ConnectionConfigRef = InferSchemaType<typeof connectionConfigRefSchema>;
export type TransformConfig = InferSchemaType<typeof transformConfigSchema>;
export type { NodePosition };

/**
 * The layout id of a graph node (contracts' `nodeId`); a bad kind or key is a ValidationError on `nodeId`, like
 * every other invalid input of the main entry.
 */
export function nodeId(kind: NodeKind, key: string): string {
  try {
    return contractsNodeId(kind, key);
  } catch (error) {
    throw validationErrorOf([{ path: 'nodeId', message: (error as Error).message }]);
  }
}

export function createPipelineModel(conn: Connection) {
  return conn.model('Pipeline', pipelineSchema);
}
export type PipelineModel = ReturnType<typeof createPipelineModel>;
