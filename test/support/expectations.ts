import mongoose from 'mongoose';
import { expect } from 'vitest';
import { DuplicateKeyError } from '../../src/index.js';

/** The write fails with a ValidationError naming `path` (and its message matching `message`). */
export async function expectInvalid(write: Promise<unknown> | (() => Promise<unknown>), path: string, message?: RegExp) {
  const error: unknown = await (typeof write === 'function' ? write() : write).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ValidationError on ${path}`).toBeInstanceOf(mongoose.Error.ValidationError);
  const errors = (error as mongoose.Error.ValidationError).errors;
  expect(Object.keys(errors)).toContain(path);
  if (message) expect(errors[path]!.message).toMatch(message);
  return error as mongoose.Error.ValidationError;
}

/** The write fails with a DuplicateKeyError naming `fields`. */
export async function expectDuplicate(write: Promise<unknown>, fields: string[]) {
  const error: unknown = await write.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DuplicateKeyError);
  expect(Object.keys((error as DuplicateKeyError).fields).sort()).toEqual([...fields].sort());
  for (const field of fields) expect((error as DuplicateKeyError).message).toContain(field);
  return error as DuplicateKeyError;
}
