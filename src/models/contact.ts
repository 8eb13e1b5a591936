import { type Connection, type ObtainSchemaGeneric, type InferSchemaType, Schema } from 'mongoose';
import { CONTACT_ROLES, CONTACT_STATUSES } from '../contracts/enums.js';
import { E164_PATTERN, isEmail, normalizePhone } from '../contracts/rules.js';
import { idField, schemaOptions, stringListField } from './fields.js';

export const contactSchema = Schema.create(
  {
    _id: idField('ct'),
    email: {
      type: String,
      trim: true,
      lowercase: true,
      validate: { validator: isEmail, message: 'email is not an email address' },
    },
    // Served query: look a contact up by the number an SMS or call came from.
    phone: {
      type: String,
      set: (v: unknown) => (typeof v === 'string' ? normalizePhone(v) : v),
      match: [E164_PATTERN, 'phone is not an E.164 number like +14155550123'],
      index: true,
    },
    role: { type: String, enum: CONTACT_ROLES, default: 'member', required: true, index: true },
    status: { type: String, enum: CONTACT_STATUSES, default: 'invited', required: true, index: true },
    emailVerified: { type: Boolean, default: false, required: true },
    phoneVerified: { type: Boolean, default: false, required: true },
    tags: stringListField,
    // Any JSON-like value; 'Mixed' is named as a string so that TypeScript infers `unknown`, not `any`.
    attributes: { type: 'Mixed', default: () => ({}) },
    source: { type: String, trim: true },
    lastSeenAt: { type: Date },
  },
  schemaOptions,
);

// The seed's rule: email unique when present. A plain unique index would let only one contact lack an email
// (mongod indexes a missing field as null), so the index covers documents whose email is a string.
contactSchema.index({ email: 1 }, { unique: true, partialFilterExpression: { email: { $type: 'string' } } });

export type Contact = InferSchemaType<typeof contactSchema>;
export type ContactDocument = ObtainSchemaGeneric<typeof contactSchema, 'THydratedDocumentType'>;

export function createContactModel(conn: Connection) {
  return conn.model('Contact', contactSchema);
}
export type ContactModel = ReturnType<typeof createContactModel>;
