import type { Connection as MongooseConnection } from 'mongoose';
import { describe, expectTypeOf, it } from 'vitest';
import {
  forWorkspace,
  isLive,
  makeModels,
  reencryptSecrets,
  type Client,
  type Contact,
  type ContactRole,
  type Models,
  type Notification,
  type Pipeline,
  type Session,
  type StreamType,
  type Workspace,
  type WorkspaceDocument,
} from '../../src/index.js';

declare const conn: MongooseConnection;
const models = makeModels(conn);

describe('consumer-facing types', () => {
  it('makeModels returns the Models type with exactly the eight models', () => {
    expectTypeOf(models).toEqualTypeOf<Models>();
    expectTypeOf<keyof Models>().toEqualTypeOf<
      'Workspace' | 'Pipeline' | 'Client' | 'Connection' | 'User' | 'Session' | 'Notification' | 'Contact'
    >();
    // @ts-expect-error no such model
    void models.Tenant;
  });

  it('ids are strings, dates are Date, enums are literal unions', () => {
    expectTypeOf<Workspace['_id']>().toEqualTypeOf<string>();
    expectTypeOf<Workspace['status']>().toEqualTypeOf<'active' | 'inactive'>();
    expectTypeOf<Workspace['createdAt']>().toEqualTypeOf<Date>();
    expectTypeOf<Pipeline['streams'][number]['type']>().toEqualTypeOf<StreamType>();
    expectTypeOf<StreamType>().toEqualTypeOf<'source' | 'sink' | 'dlq' | 'replay'>();
    expectTypeOf<Session['principalType']>().toEqualTypeOf<'client' | 'user'>();
    expectTypeOf<Session['status']>().toEqualTypeOf<'active' | 'revoked'>();
    expectTypeOf<Session['expiresAt']>().toEqualTypeOf<Date>();
    expectTypeOf<Notification['channel']>().toEqualTypeOf<'slack' | 'email'>();
    expectTypeOf<Notification['status']>().toEqualTypeOf<'queued' | 'sent' | 'failed'>();
    expectTypeOf<Contact['role']>().toEqualTypeOf<ContactRole>();
    expectTypeOf<Contact['status']>().toEqualTypeOf<'active' | 'invited' | 'inactive' | 'deleted'>();
    expectTypeOf<Client['allowedTopics']>().toEqualTypeOf<string[]>();
  });

  it('arbitrary JSON fields are unknown, never any', () => {
    expectTypeOf<Session['context']>().toBeUnknown();
    expectTypeOf<Notification['payload']>().toBeUnknown();
    expectTypeOf<Contact['attributes']>().toBeUnknown();
  });

  it('documents from create and queries carry the same types', async () => {
    const created = await models.Workspace.create({ _id: 'ws_1', name: 'Acme' });
    expectTypeOf(created).toEqualTypeOf<WorkspaceDocument>();
    expectTypeOf(created._id).toEqualTypeOf<string>();
    const session = await models.Session.create({ workspaceId: 'ws_1', principalId: 'cl_1', principalType: 'client', expiresAt: new Date() });
    expectTypeOf(session._id).toEqualTypeOf<string>();
    expectTypeOf(session.isLive).toEqualTypeOf<(now?: Date) => boolean>();
    const lean = await models.Pipeline.findOne({ workspaceId: 'ws_1' }).lean();
    expectTypeOf(lean!._id).toEqualTypeOf<string>();
    expectTypeOf(lean!.status).toEqualTypeOf<'active' | 'inactive'>();
  });

  it('methods and statics are typed', async () => {
    const { client, secret } = await models.Client.createWithSecret({ name: 'Shop', allowedScopes: ['events:write'] });
    expectTypeOf(secret).toEqualTypeOf<string>();
    expectTypeOf(client.rotateSecret).parameter(0).toEqualTypeOf<{ graceSeconds: number }>();
    // @ts-expect-error the package makes the secret fields
    await models.Client.createWithSecret({ name: 'Shop', secretHash: 'x' });
    const { session, token } = await models.Session.issue({ workspaceId: 'ws_1', principalType: 'client', principalId: 'cl_1', ttlSeconds: 60 });
    expectTypeOf(token).toEqualTypeOf<string>();
    expectTypeOf(session.isLive).toEqualTypeOf<(now?: Date) => boolean>();
    const live = await models.Session.verify(token);
    expectTypeOf(live).toEqualTypeOf<Session | null>();
    expectTypeOf(isLive(live!)).toEqualTypeOf<boolean>();
    const connection = await models.Connection.findById('cn_1').orFail();
    expectTypeOf(await connection.revealSecrets()).toEqualTypeOf<{ secretAccessKey?: string; headers?: Record<string, string> }>();
    expectTypeOf(reencryptSecrets).returns.toEqualTypeOf<Promise<{ connections: number; values: number; failed: Array<{ connectionId: string; field: string; reason: string }> }>>();
    const authenticated = await models.Client.authenticate('cl_1', 'secret');
    expectTypeOf(authenticated).not.toBeAny();
    expectTypeOf(authenticated!._id).toEqualTypeOf<string>();
  });

  it('unknown fields and bad enum values are compile errors', async () => {
    // @ts-expect-error unknown field
    await models.Workspace.create({ name: 'x', nmae: 'y' });
    // @ts-expect-error bad enum value
    await models.Workspace.create({ name: 'x', status: 'paused' });
    // @ts-expect-error bad stream type
    await models.Pipeline.create({ workspaceId: 'ws_1', name: 'p', streams: [{ topic: 't', type: 'queue' }] });
    // @ts-expect-error bad principal type
    await models.Session.create({ workspaceId: 'ws_1', principalId: 'x', principalType: 'robot', expiresAt: new Date() });
  });

  it('forWorkspace gives the scoped models the same argument and return types as the models', () => {
    const acme = forWorkspace(models, 'ws_1');
    expectTypeOf<keyof typeof acme>().toEqualTypeOf<'Pipeline' | 'User' | 'Session' | 'Notification'>();
    expectTypeOf(acme.Pipeline.findOne({ code: 'acme' }).lean()).toEqualTypeOf(models.Pipeline.findOne({ code: 'acme' }).lean());
    expectTypeOf(acme.User.find({ status: 'active' })).toEqualTypeOf(models.User.find({ status: 'active' }));
    expectTypeOf(acme.Session.countDocuments).toEqualTypeOf(models.Session.countDocuments);
    expectTypeOf(acme.Notification.create).toEqualTypeOf(models.Notification.create);
    // @ts-expect-error only the listed operations: no replaceOne, no bulkWrite
    void acme.Pipeline.bulkWrite;
  });
});
