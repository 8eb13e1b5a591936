// Field definitions that several schemas share, so each rule is written once.
import type { Document } from 'mongoose';
import { ID_PATTERN } from '../contracts/rules.js';
import { newId } from '../ids.js';

/** A string `_id` in the package's id scheme, generated when the caller gives none. */
export function idField(prefix: string) {
  return {
    type: String,
    default: () => newId(prefix),
    validate: { validator: (v: string) => ID_PATTERN.test(v), message: '_id must be 1-128 letters, digits, "_", "-", "." or ":"' },
  };
}

/** A required, trimmed, human-readable name (its length is bounded before trimming: contracts/limits.ts). */
export const nameField = { type: String, required: true, trim: true, minlength: 1 } as const;

/** The tenant a document belongs to; every query of a tenant-scoped model filters on it. */
export const workspaceIdField = {
  type: String,
  ref: 'Workspace',
  required: true,
  index: true,
  immutable: true,
  validate: { validator: (v: string) => ID_PATTERN.test(v), message: 'workspaceId must be a workspace id' },
} as const;

/** A list of short strings, trimmed, blanks refused. */
export const stringListField = {
  type: [{ type: String, trim: true, minlength: 1, maxlength: 500 }],
  default: [] as string[],
} as const;

/** Options every schema of the package shares. */
export const schemaOptions = {
  timestamps: true,
  // An unknown field is an error, never silently dropped; an unknown field in a filter is an error too, never
  // silently removed (which would widen the query to every tenant's documents).
  strict: 'throw',
  strictQuery: 'throw',
} as const;

/**
 * Keeps a type-specific sub-document (Connection `config`, Notification `target`) to its type's fields: each
 * required field present, no field of another type. `label` names the type in messages, e.g. "a S3 connection".
 */
export function checkVariantFields(
  doc: Document<unknown>,
  root: string,
  label: string,
  fields: readonly string[],
  rules: { readonly required: readonly string[]; readonly allowed: readonly string[] },
): void {
  for (const field of rules.required) {
    // A hidden field that was not loaded is not missing: validate only what this document holds.
    if (!doc.isNew && !doc.isSelected(`${root}.${field}`)) continue;
    const value: unknown = doc.get(`${root}.${field}`);
    if (value == null || value === '') doc.invalidate(`${root}.${field}`, `${root}.${field} is required for ${label}`);
  }
  for (const field of fields) {
    if (doc.get(`${root}.${field}`) != null && !rules.allowed.includes(field)) {
      doc.invalidate(`${root}.${field}`, `${root}.${field} does not belong to ${label}`);
    }
  }
}
