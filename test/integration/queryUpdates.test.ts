// Query updates validate what they write, whatever the application's mongoose settings; the stored documents are
// read back through the driver.
import { beforeAll, describe, expect, it } from 'vitest';
import mongoose from 'mongoose';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('queryupdates');
const s3 = { bucket: 'archive-1', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' };
const user = { _id: 'usr_q', workspaceId: 'ws_q' };

const stored = async (collection: string, _id: string) => (await db.conn.db!.collection(collection).findOne({ _id: _id as never }))!;

beforeAll(async () => {
  const u = new db.models.User({ ...user, username: 'quinn', roles: ['viewer'] });
  await u.setPassword('query-password');
  await u.save();
  await db.models.Connection.create({ _id: 'cn_s3', name: 'Archive', type: 'S3', config: s3 });
  await db.models.Notification.create({ _id: 'ntf_mail', channel: 'email', type: 'alert', correlationId: 'c-1', target: { email: 'ops@example.com' } });
});

describe('Query updates', () => {
  it("run validators: status 'bogus' and roles [''] are refused in updateOne, updateMany, findOneAndUpdate and bulkWrite", async () => {
    const { User } = db.models;
    await expectInvalid(() => User.updateOne(user, { $set: { status: 'bogus' as 'active' } }).exec(), 'status');
    await expectInvalid(() => User.updateMany(user, { $set: { roles: [''] } }).exec(), 'roles.0');
    await expectInvalid(() => User.findOneAndUpdate(user, { $push: { roles: '' } }).exec(), 'roles');
    await expectInvalid(() => User.bulkWrite([{ updateOne: { filter: user, update: { $set: { status: 'bogus' as 'active' } } } }]), 'status');
    expect(await stored('users', 'usr_q')).toMatchObject({ status: 'active', roles: ['viewer'] });
  });

  it('cannot remove a required field, by $unset or by setting it to null', async () => {
    const { User } = db.models;
    await expectInvalid(() => User.updateOne(user, { $unset: { username: 1 } }).exec(), 'username', /required/);
    await expectInvalid(() => User.updateOne(user, { $set: { passwordHash: null } } as never).exec(), 'passwordHash');
    await expectInvalid(() => User.bulkWrite([{ updateOne: { filter: user, update: { $unset: { username: 1 } } } }]), 'username');
    expect(await stored('users', 'usr_q')).toMatchObject({ username: 'quinn' });
    expect((await stored('users', 'usr_q')).passwordHash).toBeTypeOf('string');
  });

  it("apply Connection's per-type config rules to the document as it would be after the update", async () => {
    const { Connection } = db.models;
    const own = { _id: 'cn_s3' };
    // As stored: the secret key is a ciphertext (issue 9), compared as it is.
    const { config } = await stored('connections', 'cn_s3');
    await expectInvalid(() => Connection.updateOne(own, { $set: { 'config.url': 'http://example.com/' } }).exec(), 'config.url', /does not belong to a S3/);
    await expectInvalid(() => Connection.updateOne(own, { $unset: { 'config.secretAccessKey': 1 } }).exec(), 'config.secretAccessKey', /required for a S3/);
    await expectInvalid(() => Connection.updateOne(own, { $set: { config: { url: 'https://example.com/', method: 'POST' } } }).exec(), 'config.bucket', /required for a S3/);
    await expectInvalid(() => Connection.bulkWrite([{ updateOne: { filter: own, update: { $set: { 'config.url': 'http://example.com/' } } } }]), 'config.url');
    expect((await stored('connections', 'cn_s3')).config).toEqual(config);
    // A change within the type's rules goes through.
    await Connection.updateOne(own, { $set: { 'config.region': 'eu-central-1' } });
    expect((await stored('connections', 'cn_s3')).config).toEqual({ ...config, region: 'eu-central-1' });
  });

  it("apply Notification's per-channel target rules the same way", async () => {
    const { Notification } = db.models;
    await expectInvalid(() => Notification.updateOne({ _id: 'ntf_mail' }, { $set: { 'target.slackChannel': '#ops' } }).exec(), 'target.slackChannel', /does not belong/);
    await expectInvalid(() => Notification.updateOne({ _id: 'ntf_mail' }, { $unset: { 'target.email': 1 } }).exec(), 'target.email', /required/);
    await expectInvalid(() => Notification.updateOne({ _id: 'ntf_mail' }, { $set: { channel: 'slack' } }).exec(), 'target', /whole target/);
    expect((await stored('notifications', 'ntf_mail')).target).toEqual({ email: 'ops@example.com' });
    await Notification.updateOne({ _id: 'ntf_mail' }, { $set: { channel: 'slack', target: { slackChannel: '#ops' } } });
    expect(await stored('notifications', 'ntf_mail')).toMatchObject({ channel: 'slack', target: { slackChannel: '#ops' } });
  });

  it('operators that validators cannot check ($rename, $max on an enum) are refused; prototype keys never reach the prototype or the server', async () => {
    const { User } = db.models;
    await expectInvalid(() => User.updateOne(user, { $rename: { username: 'status' } }).exec(), 'username', /\$rename/);
    await expectInvalid(() => User.updateOne(user, { $max: { status: 'zzz' } } as never).exec(), 'status', /\$max/);
    // mongoose drops a `__proto__` key while it reads the update; any that reaches the package's rules is refused.
    await User.updateOne(user, JSON.parse('{ "$set": { "__proto__": { "polluted": true } } }')).exec().catch((e: unknown) => expect(e).toBeInstanceOf(mongoose.Error.ValidationError));
    await expectInvalid(() => User.updateOne(user, { $set: { 'roles.constructor': 'x' } } as never).exec(), 'roles.constructor');
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(await stored('users', 'usr_q')).toMatchObject({ username: 'quinn', status: 'active' });
  });
});
