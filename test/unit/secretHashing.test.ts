import { describe, expect, it } from 'vitest';
import { SECRET_LIMIT } from '../../src/contracts/limits.js';
import { hashSecret, verifySecret } from '../../src/secretHashing.js';

describe('secret hashing', () => {
  it('a hash verifies its own secret only, and two hashes of one secret differ (random salt)', async () => {
    const a = await hashSecret('correct horse');
    const b = await hashSecret('correct horse');
    expect(a.hash).not.toBe(b.hash);
    expect(a.salt).not.toBe(b.salt);
    expect(await verifySecret('correct horse', a.hash, a.salt)).toBe(true);
    expect(await verifySecret('correct horsE', a.hash, a.salt)).toBe(false);
    expect(await verifySecret('correct horse', a.hash, b.salt)).toBe(false);
  });

  it('a missing hash or a non-string secret verifies as false, without throwing', async () => {
    const a = await hashSecret('correct horse');
    expect(await verifySecret('correct horse', undefined, undefined)).toBe(false);
    expect(await verifySecret({ $ne: '' }, a.hash, a.salt)).toBe(false);
  });

  it('a secret shorter than 8 characters is refused', async () => {
    await expect(hashSecret('short')).rejects.toThrow(/at least 8/);
  });

  it('a secret longer than the limit is refused before hashing, and verifies as false (one short derivation, whatever its size)', async () => {
    const long = 'a'.repeat(SECRET_LIMIT.chars + 1);
    await expect(hashSecret(long)).rejects.toThrow(`at most ${SECRET_LIMIT.chars} characters`);
    await expect(hashSecret('a'.repeat(SECRET_LIMIT.chars))).resolves.toHaveProperty('hash');
    const a = await hashSecret('correct horse');
    expect(await verifySecret('x'.repeat(64 * 1024 * 1024), a.hash, a.salt)).toBe(false);
  });
});
