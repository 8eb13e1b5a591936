// The "plain mongoose" baseline: for each package schema, a mongoose schema with the same fields, sub-documents,
// maps and defaults (so it stores the same document), but none of the package's rules: no validators, enums,
// required fields, setters, strict modes, hidden paths or hooks. Derived from the package's own definitions, so it
// follows every change of the schemas.
import mongoose, { type Connection, type Model, type Schema, type SchemaDefinition } from 'mongoose';
import { SCHEMAS } from '../src/makeModels.js';
import type { ModelName } from '../src/index.js';

export type PlainDocument = Record<string, unknown>;
export type PlainModel = Model<PlainDocument>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** A path definition reduced to its type, default and map value type. */
function plainPath(definition: unknown): unknown {
  if (definition instanceof mongoose.Schema) return plainSchema(definition);
  if (Array.isArray(definition)) return definition.map(plainPath);
  if (!isPlainObject(definition)) return definition; // String, Number, Map, 'Mixed'...
  const isOptions = 'type' in definition && !isPlainObject(definition.type);
  if (!isOptions) return Object.fromEntries(Object.entries(definition).map(([key, value]) => [key, plainPath(value)]));
  return {
    type: plainPath(definition.type),
    ...('default' in definition ? { default: definition.default } : {}),
    ...('of' in definition ? { of: plainPath(definition.of) } : {}),
  };
}

/**
 * Where the package departs from how plain mongoose would write a seed field, the plain way: the package keeps
 * layout positions as plain values checked with the graph rules, plain mongoose as a sub-document per position.
 */
const PLAIN_WAY: Partial<Record<ModelName, SchemaDefinition>> = {
  Pipeline: { nodePositions: { type: Map, of: new mongoose.Schema({ x: Number, y: Number }, { _id: false }), default: () => new Map() } },
};

function plainSchema(schema: Schema, name?: ModelName): Schema {
  const fields = { ...(plainPath(schema.obj) as SchemaDefinition), ...(name ? PLAIN_WAY[name] : {}) };
  const { _id, timestamps } = schema.options as { _id?: boolean; timestamps?: boolean };
  return new mongoose.Schema(fields, { _id: _id ?? true, timestamps: timestamps ?? false, suppressReservedKeysWarning: true });
}

const cache = new Map<ModelName, Schema>();

/** The plain schema of one package model. */
export function plainSchemaOf(name: ModelName): Schema {
  let schema = cache.get(name);
  if (!schema) {
    schema = plainSchema(SCHEMAS[name], name);
    cache.set(name, schema);
  }
  return schema;
}

/** A plain-mongoose model of `name` on `conn`, reading and writing `collection`. */
export function plainModel(conn: Connection, name: ModelName, collection: string): PlainModel {
  const modelName = `Plain${name}_${collection}`;
  return (conn.models[modelName] as PlainModel | undefined) ?? conn.model<PlainDocument>(modelName, plainSchemaOf(name), collection);
}

export const MODEL_NAMES = Object.keys(SCHEMAS) as ModelName[];
