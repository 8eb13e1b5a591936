import { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { NOTIFICATION_CHANNELS, NOTIFICATION_STATUSES, type NotificationChannel } from '../contracts/enums.js';
import { isEmail, SLACK_CHANNEL_PATTERN } from '../contracts/rules.js';
import { idField, schemaOptions } from './fields.js';
import { variantFields } from './variantFields.js';

/** Which `target` field each channel uses; the other channel's field is refused. */
export const NOTIFICATION_TARGET_FIELD = { email: 'email', slack: 'slackChannel' } as const satisfies Record<NotificationChannel, string>;

const targetSchema = Schema.create(
  {
    email: {
      type: String,
      trim: true,
      lowercase: true,
      validate: { validator: isEmail, message: 'target.email is not an email address' },
    },
    slackChannel: {
      type: String,
      trim: true,
      match: [SLACK_CHANNEL_PATTERN, 'target.slackChannel is not a Slack channel id (C…) or #name'],
    },
  },
  { _id: false, strict: 'throw' },
);

const errorSnapshotSchema = Schema.create(
  {
    message: { type: String, required: true, maxlength: 4000 },
    code: { type: String },
    at: { type: Date, default: () => new Date() },
  },
  { _id: false, strict: 'throw' },
);

export const notificationSchema = Schema.create(
  {
    _id: idField('ntf'),
    channel: { type: String, enum: NOTIFICATION_CHANNELS, required: true, index: true },
    type: { type: String, required: true, trim: true, index: true },
    // Served query: every notification caused by one event or request.
    correlationId: { type: String, required: true, trim: true, index: true },
    // The workspace the notification belongs to, when it belongs to one; it never moves (see README: queries
    // across tenants stay open to the notifier, forWorkspace scopes by it).
    tenantId: { type: String, trim: true, immutable: true },
    contactId: { type: String, ref: 'Contact' },
    target: { type: targetSchema, required: true },
    // Any JSON-like value; 'Mixed' is named as a string so that TypeScript infers `unknown`, not `any`.
    payload: { type: 'Mixed', default: () => ({}) },
    status: { type: String, enum: NOTIFICATION_STATUSES, default: 'queued', required: true, index: true },
    error: { type: errorSnapshotSchema },
    deliveredAt: { type: Date },
  },
  // `error` is a field of the seed; mongoose warns that it shadows a document event name, which is harmless here.
  { ...schemaOptions, suppressReservedKeysWarning: true },
);

// Served queries: the notifier takes the oldest queued notifications; a tenant's notification history.
notificationSchema.index({ status: 1, createdAt: 1 });
notificationSchema.index({ tenantId: 1, createdAt: -1 });

// The rule links two paths (channel and target): checked on documents and on updates.
notificationSchema.plugin(variantFields, {
  root: 'target',
  discriminator: 'channel',
  fields: Object.values(NOTIFICATION_TARGET_FIELD),
  rules: Object.fromEntries(Object.entries(NOTIFICATION_TARGET_FIELD).map(([channel, field]) => [channel, { required: [field], allowed: [field] }])),
  label: (channel: string) => `a ${channel} notification`,
});

notificationSchema.pre('validate', function () {
  if (this.status === 'failed' && !this.error) this.invalidate('error', 'error is required when status is failed');
  if (this.status === 'sent' && !this.deliveredAt) this.deliveredAt = new Date();
});

export type Notification = InferSchemaType<typeof notificationSchema>;
export type NotificationDocument = ObtainSchemaGeneric<typeof notificationSchema, 'THydratedDocumentType'>;

export function createNotificationModel(conn: Connection) {
  return conn.model('Notification', notificationSchema);
}
export type NotificationModel = ReturnType<typeof createNotificationModel>;
