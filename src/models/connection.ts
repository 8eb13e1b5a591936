import { type Connection as MongooseConnection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { ACTIVE_STATUSES, CONNECTION_TYPES, HTTP_METHODS, type ConnectionType } from '../contracts/enums.js';
import { isHttpUrl, S3_BUCKET_PATTERN, S3_REGION_PATTERN } from '../contracts/rules.js';
import { idField, nameField, schemaOptions } from './fields.js';
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
    url: { type: String, trim: true, validate: { validator: isHttpUrl, message: 'config.url must be an http(s) URL' } },
    method: { type: String, enum: HTTP_METHODS },
    // Header values often carry credentials (Authorization), so they are hidden like the S3 secret.
    headers: { type: Map, of: String, select: false },
    // S3
    bucket: { type: String, trim: true, match: [S3_BUCKET_PATTERN, 'config.bucket is not a valid S3 bucket name'] },
    region: { type: String, trim: true, match: [S3_REGION_PATTERN, 'config.region is not a region like eu-west-1'] },
    accessKeyId: { type: String, trim: true },
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
  // Edited by people: a stale save() is a ConflictError, whatever field changed.
  { ...schemaOptions, optimisticConcurrency: true },
);

// The rule links two paths (type and config): checked on documents and on updates.
connectionSchema.plugin(variantFields, {
  root: 'config',
  discriminator: 'type',
  fields: Object.keys(connectionConfigSchema.paths),
  rules: CONNECTION_CONFIG_FIELDS,
  label: (type: string) => `a ${type} connection`,
});


export type Connection = InferSchemaType<typeof connectionSchema>;
export type ConnectionDocument = ObtainSchemaGeneric<typeof connectionSchema, 'THydratedDocumentType'>;
export type ConnectionConfig = InferSchemaType<typeof connectionConfigSchema>;

export function createConnectionModel(conn: MongooseConnection) {
  return conn.model('Connection', connectionSchema);
}
export type ConnectionModel = ReturnType<typeof createConnectionModel>;
