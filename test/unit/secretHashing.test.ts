import { describe, expect, it } from 'vitest';
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
});
