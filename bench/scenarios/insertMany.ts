// 5. The notifier queues a burst: insertMany of 1,500 notifications.
import { newId } from '../../src/ids.js';
import type { BenchContext, Case, Scenario } from '../harness.js';
import { buildIndexes, notification } from '../fixtures.js';
import { plainModel } from '../plain.js';

export const insertManyScenario: Scenario = {
  id: 'insert-many',
  number: 5,
  title: 'insertMany of 1,500 notifications (half email, half Slack)',
  target: 'package ≤ 1.25x driver wall at p50',
  async setup(ctx: BenchContext): Promise<Case[]> {
    const { Notification } = ctx.models;
    const count = ctx.size(1500, 30);
    const inputs = Array.from({ length: count }, (_, k) => notification(k));
    // What the package stores for these inputs: the driver writes these very documents (with fresh ids and times).
    await Notification.insertMany(inputs);
    const template = await Notification.collection.find({}).toArray();
    const driverNotifications = ctx.db.collection('driver_notifications');
    await buildIndexes(driverNotifications, Notification.schema, ctx.server);
    const Plain = plainModel(ctx.conn, 'Notification', 'plain_notifications');
    await buildIndexes(Plain.collection, Notification.schema, ctx.server);
    return [
      {
        name: `${count} notifications per insertMany`,
        concurrency: 1,
        ops: ctx.size(3, 1),
        warmup: 1,
        contenders: [
          {
            name: 'driver insertMany (same documents)',
            role: 'driver',
            op: () => {
              const now = new Date();
              return driverNotifications.insertMany(template.map((doc) => ({ ...doc, _id: newId('ntf') as never, createdAt: now, updatedAt: now })));
            },
          },
          { name: 'plain mongoose insertMany', role: 'plain', op: () => Plain.insertMany(inputs) },
          { name: 'Notification.insertMany', role: 'package', op: () => Notification.insertMany(inputs) },
        ],
        checks: [{ metric: 'p50', against: 'driver', max: 1.25 }],
      },
    ];
  },
};
