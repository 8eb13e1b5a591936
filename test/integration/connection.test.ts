import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('connection');

const http = { url: 'https://hooks.example.com/in', method: 'POST' as const, headers: { Authorization: 'Bearer t0ken' } };
const s3 = { bucket: 'events-archive', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' };

describe('Connection', () => {
  it('an HTTP connection stores url, method and headers', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Webhook', type: 'HTTP', config: http });
    const stored = await Connection.collection.findOne({ _id: created._id as never });
    expect(stored).toMatchObject({ name: 'Webhook', type: 'HTTP', status: 'active', config: http });
    expect(created._id).toMatch(/^cn_[0-9a-f]{32}$/);
  });

  it('an S3 connection stores bucket, region and keys', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Archive', type: 'S3', config: s3 });
    const stored = await Connection.collection.findOne({ _id: created._id as never });
    expect(stored!.config).toEqual(s3);
  });

  it('the S3 secret key and HTTP headers are hidden from queries, lean() and JSON by default', async () => {
    const { Connection } = db.models;
    const a = await Connection.create({ name: 'Hidden S3', type: 'S3', config: s3 });
    const b = await Connection.create({ name: 'Hidden HTTP', type: 'HTTP', config: http });
    expect(JSON.stringify(a)).not.toContain(s3.secretAccessKey);
    expect(JSON.stringify(b)).not.toContain('t0ken');
    const lean = await Connection.find({ _id: mongoose.trusted({ $in: [a._id, b._id] }) }).lean();
    expect(JSON.stringify(lean)).not.toContain(s3.secretAccessKey);
    expect(JSON.stringify(lean)).not.toContain('t0ken');
    expect(lean.find((c) => c._id === a._id)!.config).toEqual({ bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId });
  });

  it('a connection loaded without its hidden fields can still be changed and saved', async () => {
    const { Connection } = db.models;
    const created = await Connection.create({ name: 'Rename me', type: 'S3', config: s3 });
    const loaded = await Connection.findById(created._id);
    loaded!.name = 'Renamed';
    await loaded!.save();
    const stored = await Connection.collection.findOne({ _id: created._id as never });
    expect(stored).toMatchObject({ name: 'Renamed', config: s3 });
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
    await expectInvalid(Connection.create({ name: 'Bad', type: 'S3' }), 'config', /required/);
    expect(await Connection.countDocuments({ name: 'Bad' })).toBe(0);
  });

  it('status is indexed', async () => {
    expect((await db.models.Connection.collection.indexes()).map((i) => i.key)).toContainEqual({ status: 1 });
  });
});
