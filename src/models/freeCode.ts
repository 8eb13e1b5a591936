import { randomInt } from 'node:crypto';
import type { HydratedDocument, Model, Schema } from 'mongoose';
import { codeFromName } from '../contracts/rules.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ATTEMPTS = 20;

function randomCode(): string {
  let code = '';
  while (code.length < 4) code += LETTERS[randomInt(LETTERS.length)];
  return code;
}

/**
 * A code for a document created without one: the code its name gives (`Acme` gives `acme`), or, when that is
 * taken or the name has fewer than four letters, a random one not yet used in `scope`. The unique index stays
 * the guarantee: two concurrent creates may still pick the same code, and the second gets a DuplicateKeyError.
 */
export async function freeCode(model: Model<unknown>, name: string, scope: Record<string, unknown> = {}): Promise<string> {
  const derived = codeFromName(name);
  const candidates = derived ? [derived] : [];
  while (candidates.length < ATTEMPTS) candidates.push(randomCode());
  for (const code of candidates) {
    if (!(await model.exists({ ...scope, code }))) return code;
  }
  throw new Error(`${model.modelName}: no free code found after ${ATTEMPTS} tries; give one explicitly`);
}

/**
 * Gives a new document created without a `code` its free code (see freeCode), unique among the documents that
 * share its `scope` fields (none: unique in the collection).
 */
export function codeWhenMissing(schema: Schema, scope: readonly string[] = []): void {
  schema.pre('validate', async function (this: HydratedDocument<{ name?: unknown; code?: unknown }>) {
    // Without its scope (a pipeline with no workspace) the document is invalid anyway: validation says why. A code
    // given but refused (over its limit) is not missing: its error stands.
    if (this.isNew && this.code == null && this.$isValid('code') && typeof this.name === 'string' && scope.every((field) => typeof this.get(field) === 'string')) {
      const filter = Object.fromEntries(scope.map((field) => [field, this.get(field)]));
      this.code = await freeCode(this.constructor as Model<unknown>, this.name.trim(), filter);
    }
  });
}
