// Field definitions that several schemas share, so each rule is written once.
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
