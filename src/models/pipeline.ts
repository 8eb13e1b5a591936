import { type Connection, type ObtainSchemaGeneric, type InferSchemaType, type Model, Schema } from 'mongoose';
import { ACTIVE_STATUSES, STREAM_TYPES } from '../contracts/enums.js';
import { isCode, isTopic } from '../contracts/rules.js';
import { duplicateKeyErrors } from '../errors.js';
import { freeCode } from './freeCode.js';
import { refuseImmutableUpdates } from './updateGuards.js';
import { idField, nameField, schemaOptions, workspaceIdField } from './fields.js';

const topicField = {
  type: String,
  required: true,
  trim: true,
  validate: { validator: isTopic, message: '"{VALUE}" is not a stream topic (1-249 of A-Z a-z 0-9 . _ -)' },
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
    expression: { type: String, maxlength: 100_000 },
    description: descriptionField,
    isPaused: { type: Boolean, default: false, required: true },
  },
  sub,
);

const finite = { validator: Number.isFinite, message: '{PATH} must be a finite number' };
const nodePositionSchema = Schema.create(
  {
    x: { type: Number, required: true, validate: finite },
    y: { type: Number, required: true, validate: finite },
  },
  sub,
);

export const pipelineSchema = Schema.create(
  {
    _id: idField('pl'),
    workspaceId: workspaceIdField,
    name: nameField,
    // Unique within the workspace (index below); derived from the name when not given (see freeCode).
    code: {
      type: String,
      trim: true,
      validate: { validator: isCode, message: 'code must be exactly 4 lowercase letters a-z, got "{VALUE}"' },
    },
    // A new pipeline is inactive until a service has checked its clients and connections and activates it.
    status: { type: String, enum: ACTIVE_STATUSES, default: 'inactive', required: true, index: true },
    streams: { type: [streamDefinitionSchema], default: [] },
    sourceClients: { type: [clientConfigRefSchema], default: [] },
    sinkConnections: { type: [connectionConfigRefSchema], default: [] },
    transforms: {
      type: [transformConfigSchema],
      default: [],
      validate: {
        validator: (transforms: Array<{ targetStream?: string | null }>) => {
          const targets = transforms.map((t) => t.targetStream);
          return new Set(targets).size === targets.length;
        },
        message: 'transforms: each targetStream may be written by one transform only',
      },
    },
    // UI layout: node id -> {x, y}.
    nodePositions: { type: Map, of: nodePositionSchema, default: () => new Map() },
  },
  schemaOptions,
);

// Served queries: a workspace's pipeline by code (unique), and "which pipelines use client/connection X"
// (before a client or connection is deactivated or deleted).
pipelineSchema.index({ workspaceId: 1, code: 1 }, { unique: true });
pipelineSchema.index({ 'sourceClients.clientId': 1 });
pipelineSchema.index({ 'sinkConnections.connectionId': 1 });

pipelineSchema.pre('validate', async function () {
  if (this.isNew && this.code == null && typeof this.name === 'string') {
    this.code = await freeCode(this.constructor as Model<unknown>, this.name.trim(), { workspaceId: this.workspaceId });
  }
});
pipelineSchema.plugin(duplicateKeyErrors);
pipelineSchema.plugin(refuseImmutableUpdates);

export type Pipeline = InferSchemaType<typeof pipelineSchema>;
export type PipelineDocument = ObtainSchemaGeneric<typeof pipelineSchema, 'THydratedDocumentType'>;
export type StreamDefinition = InferSchemaType<typeof streamDefinitionSchema>;
export type ClientConfigRef = InferSchemaType<typeof clientConfigRefSchema>;
export type ConnectionConfigRef = InferSchemaType<typeof connectionConfigRefSchema>;
export type TransformConfig = InferSchemaType<typeof transformConfigSchema>;
export type NodePosition = InferSchemaType<typeof nodePositionSchema>;

export function createPipelineModel(conn: Connection) {
  return conn.model('Pipeline', pipelineSchema);
}
export type PipelineModel = ReturnType<typeof createPipelineModel>;
