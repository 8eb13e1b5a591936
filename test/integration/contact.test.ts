import { describe, expect, it } from 'vitest';
import { needs, useTestDatabase } from '../support/db.js';
import { expectDuplicate, expectInvalid } from '../support/expectations.js';

const db = useTestDatabase('contact');

describe('Contact', () => {
  it('stores email (trimmed, lower-cased), phone (E.164), role, status, flags, tags, attributes, source, lastSeenAt', async () => {
    const { Contact } = db.models;
    const seen = new Date('2026-01-02T03:04:05Z');
    const c = await Contact.create({
      email: '  Jane.Doe@Example.com ',
      phone: '+1 (415) 555-0123',
      role: 'agent',
      status: 'active',
      emailVerified: true,
      tags: ['vip'],
      attributes: { plan: 'pro', seats: 5 },
      source: 'signup-form',
      lastSeenAt: seen,
    });
    expect(await Contact.findById(c._id).lean()).toMatchObject({
      email: 'jane.doe@example.com',
      phone: '+14155550123',
      role: 'agent',
      status: 'active',
      emailVerified: true,
      phoneVerified: false,
      tags: ['vip'],
      attributes: { plan: 'pro', seats: 5 },
      source: 'signup-form',
      lastSeenAt: seen,
    });
    expect(c._id).toMatch(/^ct_[0-9a-f]{32}$/);
  });

  it('defaults: role member, status invited, not verified', async () => {
    const c = await db.models.Contact.create({ phone: '+442071838750' });
    expect(await db.models.Contact.findById(c._id).lean()).toMatchObject({ role: 'member', status: 'invited', emailVerified: false, phoneVerified: false });
  });

  it('role, status, email and phone are checked; nothing is written on bad input', async () => {
    const { Contact } = db.models;
    await expectInvalid(Contact.create({ source: 'bad', role: 'owner' as 'admin' }), 'role');
    await expectInvalid(Contact.create({ source: 'bad', status: 'banned' as 'active' }), 'status');
    await expectInvalid(Contact.create({ source: 'bad', email: 'nope' }), 'email');
    await expectInvalid(Contact.create({ source: 'bad', phone: '0123' }), 'phone', /E\.164/);
    expect(await Contact.countDocuments({ source: 'bad' })).toBe(0);
  });

  it('many contacts may have no email, beside the unique email index', async (test) => {
    // Without the index (a server that cannot build it) this would pass whatever the index does.
    needs(test, 'partialIndexes', "Contact's unique email index is partial (only documents with an email)");
    const { Contact } = db.models;
    expect((await Contact.collection.indexes()).find((i) => i.key.email === 1)).toMatchObject({ unique: true });
    await Contact.create([{ source: 'no-email' }, { source: 'no-email' }, { source: 'no-email' }]);
    expect(await Contact.countDocuments({ source: 'no-email' })).toBe(3);
  });

  it('email is unique when present, through the unique partial index', async (test) => {
    needs(test, 'partialIndexes', "Contact's unique email index is partial (only documents with an email)");
    const { Contact } = db.models;
    await Contact.create({ email: 'dup@example.com' });
    await expectDuplicate(Contact.create({ email: 'DUP@example.com', source: 'second' }), ['email']);
    expect(await Contact.countDocuments({ source: 'second' })).toBe(0);
    const index = (await Contact.collection.indexes()).find((i) => i.key.email === 1);
    expect(index).toMatchObject({ unique: true, partialFilterExpression: { email: { $type: 'string' } } });
  });

  it('phone, role and status are indexed', async () => {
    const keys = (await db.models.Contact.collection.indexes()).map((i) => i.key);
    expect(keys).toEqual(expect.arrayContaining([{ phone: 1 }, { role: 1 }, { status: 1 }]));
  });
});
