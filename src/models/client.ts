import mongoose, { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { ACTIVE_STATUSES } from '../contracts/enums.js';
import { hashSecret, verifySecret } from '../secretHashing.js';
import { idField, nameField, schemaOptions, stringListField } from './fields.js';

const SET_SECRET = 'is required: call client.setSecret(secret) before saving';

/** A global source producer; pipelines link it through `Pipeline.sourceClients`. */
export const clientSchema = Schema.create(
  {
    _id: idField('cl'),
    name: nameField,
    // Served query: the authorizer lists or checks clients by status.
    status: { type: String, enum: ACTIVE_STATUSES, default: 'active', required: true, index: true },
    secretHash: { type: String, required: [true, `secretHash ${SET_SECRET}`], select: false },
    secretSalt: { type: String, required: [true, `secretSalt ${SET_SECRET}`], select: false },
    allowedScopes: stringListField,
    allowedTopics: stringListField,
  },
  {
    ...schemaOptions,
    // Edited by people: a stale save() is a ConflictError, whatever field changed.
    optimisticConcurrency: true,
    methods: {
      /** Hashes `secret` (scrypt, random salt) into secretHash/secretSalt; save the client afterwards. */
      async setSecret(secret: string): Promise<void> {
        const { hash, salt } = await hashSecret(secret);
        this.set({ secretHash: hash, secretSalt: salt });
      },
    },
    statics: {
      /**
       * The active client with this id whose secret matches, or null (unknown id, inactive client and wrong secret
       * all give null, in about the same time).
       */
      async authenticate(clientId: string, secret: string) {
        // The models refuse to select a secret: the hash is read through the driver.
        const client = await this.findOne({ _id: String(clientId), status: 'active' });
        const stored = client && (await (this.collection as unknown as mongoose.mongo.Collection<{ _id: string; secretHash?: string; secretSalt?: string }>).findOne({ _id: client._id }, { projection: { secretHash: 1, secretSalt: 1 } }));
        const ok = await verifySecret(secret, stored?.secretHash, stored?.secretSalt);
        return client && ok ? client : null;
      },
    },
  },
);


export type Client = InferSchemaType<typeof clientSchema>;
export type ClientDocument = ObtainSchemaGeneric<typeof clientSchema, 'THydratedDocumentType'>;

export function createClientModel(conn: Connection) {
  return conn.model('Client', clientSchema);
}
export type ClientModel = ReturnType<typeof createClientModel>;
