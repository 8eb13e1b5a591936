import { describe, expect, it } from 'vitest';
import { INPUT_LIMITS } from '../../src/contracts/limits.js';
import { describeError, UnsafeQueryError } from '../../src/index.js';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('connection');

const http = { url: 'https://hooks.example.com/in', method: 'POST' as const, headers: { Authorization: 'Bearer t0ken' } };
const s3 = { bucket: 'events-archive', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' };

describe('Connection', () => {
  it('an HTTP connection stores url, method and headers; revealSecrets gives the headers back', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Webhook', type: 'HTTP', config: http });
    const stored = await Connection.findById(created._id).lean();
    expect(stored).toMatchObject({ name: 'Webhook', type: 'HTTP', status: 'active', config: { url: http.url, method: http.method } });
    expect(created._id).toMatch(/^cn_[0-9a-f]{32}$/);
    expect(await (await Connection.findById(created._id))!.revealSecrets()).toEqual({ headers: http.headers });
  });

  it('an S3 connection stores bucket, region and keys; revealSecrets gives the secret key back', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Archive', type: 'S3', config: s3 });
    const stored = await Connection.findById(created._id).lean();
    expect(stored!.config).toEqual({ bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId });
    expect(await created.revealSecrets()).toEqual({ secretAccessKey: s3.secretAccessKey });
  });

  it('the S3 secret key and every header value are stored as AES-256-GCM ciphertext naming its key; header names stay readable', async () => {
    const { Connection } = db.models;
    const a = await Connection.create({ name: 'Sealed S3', type: 'S3', config: s3 });
    const b = await Connection.create({ name: 'Sealed HTTP', type: 'HTTP', config: { ...http, headers: { ...http.headers, 'X-Api-Key': 'k3y-value' } } });
    const raw = db.conn.db!.collection('connections');
    const rawA = await raw.findOne({ _id: a._id as never });
    const rawB = await raw.findOne({ _id: b._id as never });
    expect(rawA!.config.secretAccessKey).toMatch(/^aes256gcm:v1:test2:[A-Za-z0-9_-]+$/);
    expect(Object.keys(rawB!.config.headers)).toEqual(['Authorization', 'X-Api-Key']);
    for (const value of Object.values(rawB!.config.headers)) expect(value).toMatch(/^aes256gcm:v1:test2:/);
    expect(JSON.stringify([rawA, rawB])).not.toMatch(/wJalrXUtnFEMI|t0ken|k3y-value/);
  });

  it("select('config') and { config: 1 } give the config's other fields, without the credentials", async () => {
    const { Connection } = db.models;
    const a = await Connection.create({ name: 'Projected S3', type: 'S3', config: s3 });
    const b = await Connection.create({ name: 'Projected HTTP', type: 'HTTP', config: http });
    expect((await Connection.findById(a._id).select('config').lean())!.config).toEqual({ bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId });
    expect((await Connection.findById(b._id, { config: 1 }).lean())!.config).toEqual({ url: http.url, method: http.method });
    expect((await Connection.findById(b._id).select('name config'))!.toObject()).toMatchObject({ name: 'Projected HTTP', config: { url: http.url, method: http.method } });
  });

  it('distinct of the credentials or of config is refused, and an aggregate never sees the credentials', async () => {
    const { Connection } = db.models;
    const a = await Connection.create({ name: 'Aggregated S3', type: 'S3', config: s3 });
    const b = await Connection.create({ name: 'Aggregated HTTP', type: 'HTTP', config: http });
    for (const path of ['config', 'config.secretAccessKey', 'config.headers', 'config.headers.Authorization']) {
      await expect(Connection.distinct(path, { _id: a._id }).exec()).rejects.toThrow(UnsafeQueryError);
    }
    const found = await Connection.aggregate<{ _id: string; config: Record<string, unknown> }>([{ $match: { name: /^Aggregated / } }, { $sort: { name: 1 } }]);
    expect(found.map((c) => c.config)).toEqual([{ url: http.url, method: http.method }, { bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId }]);
    const copied = await Connection.aggregate([{ $match: { _id: b._id } }, { $project: { copy: '$config' } }]);
    expect(JSON.stringify(copied)).not.toMatch(/aes256gcm|t0ken/);
  });

  it('a connection loaded without its hidden fields can still be changed and saved', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Rename me', type: 'S3', config: s3 });
    const loaded = await Connection.findById(created._id);
    loaded!.name = 'Renamed';
    await loaded!.save();
    expect((await Connection.findById(created._id).lean())!.name).toBe('Renamed');
    expect(await loaded!.revealSecrets()).toEqual({ secretAccessKey: s3.secretAccessKey });
  });

  it('HTTP config on an S3 connection is refused, naming the field, and nothing is written', async () => {
    const { Connection } = db.models;
    const error = await expectInvalid(Connection.create({ name: 'Mixed', type: 'S3', config: { ...s3, url: http.url } }), 'config.url', /does not belong to a S3/);
    expect(error.message).toMatch(/config\.url/);
    await expectInvalid(Connection.create({ name: 'Mixed', type: 'S3', config: http }), 'config.bucket', /required for a S3/);
    await expectInvalid(Connection.create({ name: 'Mixed', type: 'HTTP', config: { url: http.url } }), 'config.method', /required for a HTTP/);
    await expectInvalid(Connection.create({ name: 'Mixed', type: 'HTTP', config: { ...http, bucket: 'b-1' } }), 'config.bucket');
    expect(await Connection.countDocuments({ name: 'Mixed' })).toBe(0);
  });

  it('each config field is checked: URL, method, bucket name, region', async () => {
    const { Connection } = db.models;
    await expectInvalid(Connection.create({ name: 'Bad', type: 'HTTP', config: { ...http, url: 'not a url' } }), 'config.url');
    await expectInvalid(Connection.create({ name: 'Bad', type: 'HTTP', config: { ...http, method: 'GET' as 'POST' } }), 'config.method');
    await expectInvalid(Connection.create({ name: 'Bad', type: 'S3', config: { ...s3, bucket: 'Bad_Bucket' } }), 'config.bucket');
    await expectInvalid(Connection.create({ name: 'Bad', type: 'S3', config: { ...s3, region: 'Europe' } }), 'config.region');
    await expectInvalid(Connection.create({ name: 'Bad', type: 'FTP' as 'S3', config: s3 }), 'type');
    await expectInvalid(Connection.create({ name: 'Bad', type: 'toString' as 'S3', config: s3 }), 'type');
    await expectInvalid(Connection.create({ name: 'Bad', type: 'S3' }), 'config', /required/);
    expect(await Connection.countDocuments({ name: 'Bad' })).toBe(0);
  });

  it('header names are RFC 9110 tokens and values hold no CR/LF, on create and on updates; the value is never quoted', async () => {
    const { Connection } = db.models;
    const bad = [{ 'Bad Name': 'v' }, { '': 'v' }, { 'X-Ok': 'injected\r\nX-Evil: 1' }, { 'X-Ok': 'line\nbreak' }];
    for (const headers of bad) {
      const error = await Connection.create({ name: 'Bad header', type: 'HTTP', config: { ...http, headers } }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message)).not.toMatch(/injected|line|X-Evil/);
    }
    const good = await Connection.create({ name: 'Good header', type: 'HTTP', config: http });
    await expectInvalid(Connection.updateOne({ _id: good._id }, { $set: { 'config.headers.X-Ok': 'a\r\nb' } }), 'config.headers.X-Ok', /CR, LF/);
    await expectInvalid(Connection.insertMany([{ name: 'Bad header', type: 'HTTP', config: { ...http, headers: { 'X Y': 'v' } } }]), 'config.headers.X Y');
    // Odd updates are 400s naming the path, never a TypeError (500); "." and a leading "$" are refused on every path.
    const before = await db.conn.db!.collection('connections').findOne({ _id: good._id as never });
    for (const [update, path] of [
      [{ $set: { 'config.headers': 'str' } }, 'config.headers'],
      [{ $set: { 'config.headers': ['a'] } }, 'config.headers'],
      [{ $set: { 'config.headers.X.Y': 'v' } }, 'config.headers.X.Y'],
      [{ $set: { 'config.headers.$x': 'v' } }, 'config.headers.$x'],
    ] as const) {
      const error = await Connection.updateOne({ _id: good._id }, update).then(() => undefined, (e: unknown) => e);
      expect(describeError(error), JSON.stringify(update)).toMatchObject({ status: 400 });
      expect(Object.keys(describeError(error).fields)).toContain(path);
    }
    await expectInvalid(Connection.create({ name: 'Bad header', type: 'HTTP', config: { ...http, headers: { $x: 'v' } } }), 'config.headers');
    expect(await db.conn.db!.collection('connections').findOne({ _id: good._id as never })).toEqual(before);
    expect(await Connection.countDocuments({ name: 'Bad header' })).toBe(0);
    expect(await good.revealSecrets()).toEqual({ headers: http.headers });
  });

  it('a sink URL may not carry credentials nor point at link-local or cloud metadata addresses', async () => {
    const { Connection } = db.models;
    const refused = [
      'http://user:pass@hooks.example.com/in',
      'https://token@hooks.example.com/in',
      'http://169.254.169.254/latest/meta-data/',
      'http://2852039166/',
      'http://[fe80::1]/',
      'http://[fd00:ec2::254]/',
      'http://[::ffff:169.254.169.254]/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://METADATA.google.internal./',
    ];
    for (const url of refused) await expectInvalid(Connection.create({ name: 'Bad url', type: 'HTTP', config: { ...http, url } }), 'config.url');
    expect(await Connection.countDocuments({ name: 'Bad url' })).toBe(0);
    await Connection.create({ name: 'Fine url', type: 'HTTP', config: { ...http, url: 'https://169.255.0.1:8443/in' } });
  });

  it('credentials change only through $set and $unset: $rename, $push and pipeline-style updates are refused, and nothing changes', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Guarded', type: 'S3', config: s3 });
    const raw = db.conn.db!.collection('connections');
    const before = await raw.findOne({ _id: created._id as never });
    await expectInvalid(Connection.updateOne({ _id: created._id }, { $rename: { 'config.secretAccessKey': 'config.accessKeyId' } }), 'config.secretAccessKey');
    // Every $rename is refused by the update validation (issue 8) before the secrets rule sees it.
    await expectInvalid(Connection.updateOne({ _id: created._id }, { $rename: { name: 'config.secretAccessKey' } }), 'name', /\$rename/);
    await expectInvalid(Connection.updateOne({ _id: created._id }, { $push: { 'config.secretAccessKey': 'x' } }), 'config.secretAccessKey');
    await expect(Connection.updateOne({ _id: created._id }, [{ $set: { name: '$config.secretAccessKey' } }], { updatePipeline: true })).rejects.toThrow(UnsafeQueryError);
    await expectInvalid(Connection.bulkWrite([{ updateOne: { filter: { name: 'Guarded' }, update: { $set: { 'config.secretAccessKey': 'x' } } } }]), 'config');
    expect(await raw.findOne({ _id: created._id as never })).toEqual(before);
    await Connection.updateOne({ _id: created._id }, { $set: { 'config.secretAccessKey': 'rotated-key' } });
    expect(await created.revealSecrets()).toEqual({ secretAccessKey: 'rotated-key' });
  });

  it('credentials are limited by their plaintext on every write path, not by their ciphertext', async () => {
    const { Connection } = db.models;
    const longest = 'k'.repeat(INPUT_LIMITS.Connection['config.secretAccessKey'].chars);
    const longestHeader = 'h'.repeat(INPUT_LIMITS.Connection['config.headers.$*'].chars);
    const s3conn = await Connection.create({ name: 'Longest key', type: 'S3', config: { ...s3, secretAccessKey: longest } });
    await Connection.updateOne({ _id: s3conn._id }, { $set: { 'config.secretAccessKey': longest } });
    await Connection.updateOne({ _id: s3conn._id }, { $set: { config: { ...s3, secretAccessKey: longest } } });
    await Connection.bulkWrite([{ updateOne: { filter: { _id: s3conn._id }, update: { $set: { 'config.secretAccessKey': longest } } } }]);
    expect(await s3conn.revealSecrets()).toEqual({ secretAccessKey: longest });
    const httpConn = await Connection.create({ name: 'Longest header', type: 'HTTP', config: { ...http, headers: { 'X-Key': longestHeader } } });
    await Connection.updateOne({ _id: httpConn._id }, { $set: { 'config.headers.X-Key': longestHeader } });
    expect(await httpConn.revealSecrets()).toEqual({ headers: { 'X-Key': longestHeader } });
    const raw = db.conn.db!.collection('connections');
    const before = await raw.findOne({ _id: s3conn._id as never });
    await expectInvalid(Connection.updateOne({ _id: s3conn._id }, { $set: { 'config.secretAccessKey': `${longest}k` } }), 'config.secretAccessKey', /too large/);
    await expectInvalid(Connection.bulkWrite([{ updateOne: { filter: { _id: s3conn._id }, update: { $set: { 'config.secretAccessKey': `${longest}k` } } } }]), 'config.secretAccessKey', /too large/);
    await expectInvalid(Connection.create({ name: 'Too long key', type: 'S3', config: { ...s3, secretAccessKey: `${longest}k` } }), 'config.secretAccessKey', /too large/);
    expect(await raw.findOne({ _id: s3conn._id as never })).toEqual(before);
    expect(await Connection.countDocuments({ name: 'Too long key' })).toBe(0);
  });

  it('status is indexed', async () => {
    expect((await db.models.Connection.collection.indexes()).map((i) => i.key)).toContainEqual({ status: 1 });
  });
});
