import { describe, expect, it } from 'vitest';
import { userWithPassword, useTestDatabase } from '../support/db.js';
import { isDuplicate, needs, needsAtomicUpdates, reliabilityTable } from './table.js';

const db = useTestDatabase('concurrency');
const table = reliabilityTable('concurrency');

/** 32 concurrent creates of documents sharing one unique value: exactly one may win. */
async function race(part: string, create: (i: number) => Promise<unknown>, count: () => Promise<number>) {
  const settled = await Promise.allSettled(Array.from({ length: 32 }, (_, i) => create(i)));
  const stored = await count();
  const row = table.count(part, settled, isDuplicate, Math.abs(stored - 1));
  expect(row).toMatchObject({ tried: 32, succeeded: 1, expectedErrors: 31, unexpectedErrors: 0, lostOrHalfWritten: 0 });
}

describe('Concurrent creates of one unique value', () => {
  it('32 concurrent workspaces with one code: 1 created, 31 DuplicateKeyErrors', async (ctx) => {
    needsAtomicUpdates(ctx);
    const { Workspace } = db.models;
    await race('32 creates, one workspace code', (i) => Workspace.create({ name: `Racer ${i}`, code: 'race' }), () => Workspace.collection.countDocuments({ code: 'race' }));
  });

  it('32 concurrent users with one username: 1 created, 31 DuplicateKeyErrors', async (ctx) => {
    needsAtomicUpdates(ctx);
    const { User } = db.models;
    const user = (i: number) => userWithPassword(db.models, { workspaceId: `ws_${i}`, username: 'racer' }).save();
    await race('32 creates, one username', user, () => User.collection.countDocuments({ username: 'racer' }));
  });

  it('32 concurrent contacts with one email: 1 created, 31 DuplicateKeyErrors', async (ctx) => {
    needsAtomicUpdates(ctx);
    needs(ctx, 'partialIndexes', "Contact's unique email index is partial");
    const { Contact } = db.models;
    await race('32 creates, one contact email', (i) => Contact.create({ email: 'racer@example.com', source: `try ${i}` }), () => Contact.collection.countDocuments({ email: 'racer@example.com' }));
  });
});
