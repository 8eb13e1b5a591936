// The plain document types of the contracts entry are written by hand (it may not load mongoose); these
// assertions fail to compile the moment one drifts from the type mongoose infers from its schema.
import type { InferSchemaType } from 'mongoose';
import { describe, expectTypeOf, it } from 'vitest';
import type {
  PlainClient,
  PlainConnection,
  PlainContact,
  PlainNotification,
  PlainPipeline,
  PlainSession,
  PlainUser,
  PlainWorkspace,
} from '../../src/contracts/index.js';
import type { Client, Connection, Contact, Notification, Pipeline, Session, User, Workspace } from '../../src/index.js';
import type { connectionSchema } from '../../src/models/connection.js';

/** The stored shape as a plain object: maps as records, secrets left out. */
type MapsAsRecords<T> = { [K in keyof T]: T[K] extends Map<string, infer V> ? Record<string, V> : T[K] };
type Plain<T, Secret extends keyof T = never> = MapsAsRecords<Omit<T, Secret>>;

describe('contracts document types match the schemas', () => {
  it('every model', () => {
    expectTypeOf<PlainWorkspace>().toEqualTypeOf<Plain<Workspace>>();
    expectTypeOf<PlainPipeline>().toEqualTypeOf<Plain<Pipeline>>();
    expectTypeOf<PlainClient>().toEqualTypeOf<Plain<Client, 'secretHash' | 'secretSalt' | 'previousSecretHash' | 'previousSecretSalt' | 'previousSecretExpiresAt'>>();
    expectTypeOf<PlainUser>().toEqualTypeOf<Plain<User, 'passwordHash' | 'passwordSalt'>>();
    expectTypeOf<PlainSession>().toEqualTypeOf<Plain<Session>>();
    expectTypeOf<PlainNotification>().toEqualTypeOf<Plain<Notification>>();
    expectTypeOf<PlainContact>().toEqualTypeOf<Plain<Contact>>();
    type Config = InferSchemaType<typeof connectionSchema>['config'];
    expectTypeOf<PlainConnection>().toEqualTypeOf<Plain<Omit<Connection, 'config'> & { config: Omit<Config, 'secretAccessKey' | 'headers'> }>>();
  });
});
