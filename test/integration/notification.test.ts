import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/db.js';
import { expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('notification');

describe('Notification', () => {
  it('an email notification stores its target, payload and status queued by default', async () => {
    const { Notification } = db.models;
    const n = await Notification.create({
      channel: 'email',
      type: 'pipeline.failed',
      correlationId: 'req-1',
      tenantId: 'ws_1',
      contactId: 'ct_1',
      target: { email: ' Ops@Example.COM ' },
      payload: { pipeline: 'pl_1', errors: 3 },
    });
    expect(await Notification.findById(n._id).lean()).toMatchObject({
      channel: 'email',
      status: 'queued',
      target: { email: 'ops@example.com' },
      payload: { pipeline: 'pl_1', errors: 3 },
    });
    expect(n._id).toMatch(/^ntf_[0-9a-f]{32}$/);
  });

  it('a slack notification needs a slack channel, and an email target on it is refused', async () => {
    const { Notification } = db.models;
    const ok = await Notification.create({ channel: 'slack', type: 't', correlationId: 'req-2', target: { slackChannel: '#alerts' } });
    expect((await Notification.findById(ok._id).lean())!.target).toEqual({ slackChannel: '#alerts' });
    await expectInvalid(Notification.create({ channel: 'slack', type: 't', correlationId: 'bad-1', target: { email: 'a@b.io' } }), 'target.email', /does not belong/);
    await expectInvalid(Notification.create({ channel: 'slack', type: 't', correlationId: 'bad-1', target: {} }), 'target.slackChannel', /required/);
    await expectInvalid(Notification.create({ channel: 'email', type: 't', correlationId: 'bad-1', target: { email: 'not-an-email' } }), 'target.email');
    await expectInvalid(Notification.create({ channel: 'sms' as 'email', type: 't', correlationId: 'bad-1', target: { email: 'a@b.io' } }), 'channel');
    await expectInvalid(Notification.create({ channel: 'email', type: 't', correlationId: 'bad-1' }), 'target', /required/);
    expect(await Notification.countDocuments({ correlationId: 'bad-1' })).toBe(0);
  });

  it('a channel named like a member of Object.prototype is an invalid channel, not a TypeError, on create and update', async () => {
    const { Notification } = db.models;
    const kept = await Notification.create({ channel: 'email', type: 't', correlationId: 'proto-1', target: { email: 'a@b.io' } });
    for (const channel of ['toString', 'valueOf', 'constructor', '__proto__', 'hasOwnProperty']) {
      await expectInvalid(Notification.create({ channel: channel as 'email', type: 't', correlationId: 'proto-bad', target: { email: 'a@b.io' } }), 'channel');
      await expectInvalid(Notification.updateOne({ _id: kept._id }, { $set: { channel: channel as 'email', target: { email: 'a@b.io' } } }), 'channel');
    }
    expect(await Notification.countDocuments({ correlationId: 'proto-bad' })).toBe(0);
    expect(await Notification.findById(kept._id).lean()).toMatchObject({ channel: 'email', target: { email: 'a@b.io' } });
  });

  it('status is queued, sent or failed; failed needs an error snapshot; sent gets deliveredAt', async () => {
    const { Notification } = db.models;
    const base = { channel: 'email' as const, type: 't', target: { email: 'a@b.io' } };
    await expectInvalid(Notification.create({ ...base, correlationId: 'bad-2', status: 'lost' as 'sent' }), 'status');
    await expectInvalid(Notification.create({ ...base, correlationId: 'bad-2', status: 'failed' }), 'error', /required when status is failed/);
    expect(await Notification.countDocuments({ correlationId: 'bad-2' })).toBe(0);
    const failed = await Notification.create({ ...base, correlationId: 'c3', status: 'failed', error: { message: 'SMTP 550', code: '550' } });
    expect((await Notification.findById(failed._id).lean())!.error).toMatchObject({ message: 'SMTP 550', code: '550' });
    const sent = await Notification.create({ ...base, correlationId: 'c4', status: 'sent' });
    expect((await Notification.findById(sent._id).lean())!.deliveredAt).toBeInstanceOf(Date);
  });

  it('channel, type, correlationId and status are indexed', async () => {
    const keys = (await db.models.Notification.collection.indexes()).map((i) => i.key);
    expect(keys).toEqual(expect.arrayContaining([{ channel: 1 }, { type: 1 }, { correlationId: 1 }, { status: 1 }]));
  });
});
