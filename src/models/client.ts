import { type Connection, type InferRawDocType, type InferSchemaType, type ObtainSchemaGeneric, Schema } from 'mongoose';
import { ACTIVE_STATUSES } from '../contracts/enums.js';
import { ID_PATTERN } from '../contracts/rules.js';
import { ConflictError, validationErrorOf as validationError } from '../errors.js';
import { clientSecretMatches, hashClientSecret, isToken, newToken, TOKEN_PREFIXES } from '../secretHashing.js';
import { readById } from './batchedReads.js';
import { hydrateWithoutSecrets, setByPackage } from './secrets.js';
import { idField, nameField, schemaOptions, stringListField } from './fields.js';

const SET_SECRET = 'is required: create the client with Client.createWithSecret(fields)';
/** Only these write a client's secret fields (`setBy`: see secrets.ts). */
const SECRET_MAKERS = 'Client.createWithSecret and client.rotateSecret';
/** The longest grace period of a rotation: long enough to redeploy every producer, short enough to end. */
const MAX_GRACE_SECONDS = 30 * 24 * 3600;

// The fields a caller gives; the secret fields are made by the package.
const clientFields = {
  _id: idField('cl'),
  name: nameField,
  // Served query: the authorizer lists or checks clients by status.
  status: { type: String, enum: ACTIVE_STATUSES, default: 'active', required: true, index: true },
  allowedScopes: stringListField,
  allowedTopics: stringListField,
} as const;
/** What `Client.createWithSecret` takes: the client's fields, without the secret ones (the package makes those). */
export type ClientFields = Partial<InferRawDocType<typeof clientFields>> & { name: string };

/** A global source producer; pipelines link it through `Pipeline.sourceClients`. */
export const clientSchema = Schema.create(
  {
    ...clientFields,
    // HMAC-SHA-256 of the secret keyed by secretSalt (random machine secrets need no slow hash).
    secretHash: { type: String, required: [true, `secretHash ${SET_SECRET}`], select: false, setBy: SECRET_MAKERS },
    secretSalt: { type: String, required: [true, `secretSalt ${SET_SECRET}`], select: false, setBy: SECRET_MAKERS },
    // The secret before the last rotation, accepted until previousSecretExpiresAt (the grace period).
    previousSecretHash: { type: String, select: false, setBy: SECRET_MAKERS },
    previousSecretSalt: { type: String, select: false, setBy: SECRET_MAKERS },
    previousSecretExpiresAt: { type: Date, select: false, setBy: SECRET_MAKERS },
  },
  {
    ...schemaOptions,
    // Edited by people: a stale save() is a ConflictError, whatever field changed.
    optimisticConcurrency: true,
    methods: {
      /**
       * Replaces the client's secret with a new one and saves it; the previous secret keeps working for
       * `graceSeconds` (0: not at all), then never. Returns the new secret: it is stored only as a hash.
       */
      async rotateSecret({ graceSeconds }: { graceSeconds: number }): Promise<{ secret: string }> {
        if (typeof graceSeconds !== 'number' || !(graceSeconds >= 0 && graceSeconds <= MAX_GRACE_SECONDS)) {
          throw validationError([{ path: 'graceSeconds', message: `graceSeconds must be a number from 0 to ${MAX_GRACE_SECONDS}` }]);
        }
        // Read and written through the driver: secret paths never go through model queries.
        const stored = await this.collection.findOne<StoredSecret>({ _id: this._id as never }, { projection: { secretHash: 1, secretSalt: 1 } });
        if (!stored) throw new ConflictError('Client', this._id);
        const secret = newToken(TOKEN_PREFIXES.clientSecret);
        const { hash, salt } = hashClientSecret(secret);
        const now = new Date();
        const previous = { previousSecretHash: stored.secretHash, previousSecretSalt: stored.secretSalt, previousSecretExpiresAt: new Date(now.getTime() + graceSeconds * 1000) };
        const result = await this.collection.updateOne(
          // Two concurrent rotations: the second finds the hash changed and fails, so no secret is lost silently.
          { _id: this._id as never, secretHash: stored.secretHash },
          graceSeconds > 0
            ? { $set: { secretHash: hash, secretSalt: salt, updatedAt: now, ...previous } }
            : { $set: { secretHash: hash, secretSalt: salt, updatedAt: now }, $unset: { previousSecretHash: '', previousSecretSalt: '', previousSecretExpiresAt: '' } },
        );
        if (result.matchedCount === 0) throw new ConflictError('Client', this._id);
        return { secret };
      },
    },
    statics: {
      /**
       * Creates a client with a new secret: 256 bits from the system's CSPRNG, prefixed `espc_` and checksummed.
       * The secret is returned once and stored only as a keyed hash.
       */
      async createWithSecret(fields: ClientFields) {
        const secret = newToken(TOKEN_PREFIXES.clientSecret);
        const { hash, salt } = hashClientSecret(secret);
        const created = new this({ ...fields, ...NO_SECRETS });
        setByPackage(created, { secretHash: hash, secretSalt: salt });
        // Once saved, it holds no secret field (secrets.ts forgets them), like a document a query gives.
        await created.save();
        return { client: created, secret };
      },
      /**
       * The active client with this id whose secret (or previous secret, within its grace period) matches, or null.
       * Malformed input gives null without a query; one read by `_id`, then an HMAC (microseconds, not scrypt).
       */
      async authenticate(clientId: unknown, secret: unknown) {
        if (typeof clientId !== 'string' || !ID_PATTERN.test(clientId) || !isToken(secret, TOKEN_PREFIXES.clientSecret)) return null;
        // By `_id` alone, the server's fastest path (concurrent checks share reads); the status is checked here.
        const stored = (await readById(this.collection, clientId)) as (StoredSecret & Record<string, unknown>) | null;
        if (stored?.status !== 'active') return null;
        const ok =
          clientSecretMatches(secret, stored.secretHash, stored.secretSalt) ||
          (stored.previousSecretExpiresAt instanceof Date &&
            stored.previousSecretExpiresAt.getTime() > Date.now() &&
            clientSecretMatches(secret, stored.previousSecretHash, stored.previousSecretSalt));
        if (!ok) return null;
        const { secretHash, secretSalt, previousSecretHash, previousSecretSalt, previousSecretExpiresAt, ...client } = stored;
        return hydrateWithoutSecrets(this, client);
      },
    },
  },
);

interface StoredSecret {
  secretHash?: string;
  secretSalt?: string;
  previousSecretHash?: string;
  previousSecretSalt?: string;
  previousSecretExpiresAt?: Date;
}
const NO_SECRETS: Record<keyof StoredSecret, undefined> = {
  secretHash: undefined,
  secretSalt: undefined,
  previousSecretHash: undefined,
  previousSecretSalt: undefined,
  previousSecretExpiresAt: undefined,
};

export type Client = InferSchemaType<typeof clientSchema>;
export type ClientDocument = ObtainSchemaGeneric<typeof clientSchema, 'THydratedDocumentType'>;

/** The statics' results typed with the document's methods (inside the schema they can only see the raw type). */
export interface ClientStatics {
  createWithSecret(fields: ClientFields): Promise<{ client: ClientDocument; secret: string }>;
  authenticate(clientId: unknown, secret: unknown): Promise<ClientDocument | null>;
}

function registerClientModel(conn: Connection) {
  return conn.model('Client', clientSchema);
}
export function createClientModel(conn: Connection) {
  return registerClientModel(conn) as ClientStatics & ReturnType<typeof registerClientModel>;
}
export type ClientModel = ReturnType<typeof createClientModel>;
